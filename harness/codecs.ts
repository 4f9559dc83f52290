// Layer formats: each implementation writes deletions, opaque dirs and its own bookkeeping
// in its own on-disk format. A codec writes a model layer stack in that format (encode) and
// reads a raw snapshot of one of its layers back in the model's abstract terms (decode), so
// that layers of different implementations can be compared:
//   - every name, with its kind ('whiteout' for a deletion marker, whatever its format),
//     permission bits, owner, content, symlink target and the xattrs a user set;
//   - an opaque dir carries the pseudo-xattr "overlay.opaque" = "y";
//   - the implementation's private bookkeeping (origin, impure, redirect, nlink, uuid, its
//     own marker files) is left out where it is what the format writes, as are link counts,
//     inode numbers and devices.
// Nothing is masked: a marker file or private xattr that the format does not account for
// (an unknown name, a marker of the wrong kind or in the wrong place, one that contradicts
// its neighbours) stays in the decoded view as it is on disk, under its own name, so that
// the comparison reports it.

import type { LayerSpec, SnapEntry, Snapshot, StackSpec } from '../model/types.js';

export type UpperCodec = (raw: Snapshot) => Snapshot;

export interface LayerCodec {
  readonly name: string;
  /**
   * The layers it writes are in the kernel's format (perhaps with extras of its own), so the
   * kernel can be given its upper (properties/kernelReading.ts). Absent: they are not.
   */
  readonly kernelFormat?: boolean;
  /**
   * false: a chardev 0/0 is an ordinary device in this format (deletions are recorded
   * otherwise), so mknod of one is no whiteout to refuse (S3.3) and the generator makes none.
   */
  readonly whiteoutDevice?: false;
  /**
   * true: where the kernel stops a dir's merge at a non-dir below it (S2.3), this format needs
   * a mark of its own beside the dir, which reads as an opaque dir (see implicitStops).
   */
  readonly explicitStops?: true;
  /** The stack as this implementation expects to find it on disk (kernel format in, its format out). */
  encode(stack: StackSpec): StackSpec;
  decode: UpperCodec;
}

export const OPAQUE = 'overlay.opaque';

function abstractEntry(e: SnapEntry, xattrs: Record<string, string>): SnapEntry {
  const out: SnapEntry = { kind: e.kind, mode: e.kind === 'whiteout' ? 0 : e.mode, uid: e.uid, gid: e.gid, nlink: 0, ino: 'abstract', xattrs };
  if (e.kind === 'file') out.data = e.data;
  if (e.kind === 'symlink') out.target = e.target;
  if (e.kind === 'error') out.errno = e.errno;
  return out;
}

/** The xattrs that remain once those the format accounts for are taken out. */
function remaining(e: SnapEntry, accounted: (name: string, value: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.xattrs)) if (!accounted(k, v)) out[k] = v;
  return out;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function childOf(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** An empty regular file with no xattrs: what open(O_CREAT) makes, the marker files below. */
function isEmptyFile(e: SnapEntry | undefined): boolean {
  return e?.kind === 'file' && e.data === '' && Object.keys(e.xattrs).length === 0;
}

/**
 * The kernel's own xattrs by name after the prefix P (OVL_XATTR_* in fs/overlayfs/overlayfs.h;
 * "whiteouts" is 6.7's dir marker, replaced by opaque=x, S3.5).
 */
const KERNEL_XATTRS = new Set(['opaque', 'redirect', 'origin', 'impure', 'nlink', 'upper', 'uuid', 'metacopy', 'protattr', 'whiteout', 'whiteouts']);

/** The kernel's xattr whiteout: an empty regular file with P.whiteout, any value (S3.4). */
function isXattrWhiteout(e: SnapEntry, prefix: string): boolean {
  return e.kind === 'file' && e.data === '' && `${prefix}whiteout` in e.xattrs;
}

/**
 * Whether P.NAME on e is bookkeeping the kernel writes or reads there. Not a P.* xattr:
 * a user's (or one escaped for a nested overlay as P.overlay.*, S3.8). P.whiteout only makes
 * an empty file a whiteout, P.opaque only marks a dir ("y" opaque, S3.6; "x" holding xattr
 * whiteouts, S3.5): anywhere else they mean nothing to the kernel, as do unknown names.
 */
function kernelAccounts(e: SnapEntry, prefix: string, k: string, v: string): boolean {
  if (!k.startsWith(prefix) || k.startsWith(`${prefix}overlay.`)) return false;
  const name = k.slice(prefix.length);
  if (name === 'whiteout') return isXattrWhiteout(e, prefix);
  if (name === 'opaque') return e.kind === 'dir' && (v === 'y' || v === 'x');
  return KERNEL_XATTRS.has(name);
}

/**
 * One entry by the kernel's rules (S3): a whiteout is a chardev 0/0 or an xattr whiteout; an
 * opaque dir has P.opaque=y. `accounted` names the xattrs of an extended format on top.
 */
function kernelEntry(e: SnapEntry, prefix: string, accounted: (name: string, value: string) => boolean = () => false): SnapEntry {
  const xattrs = remaining(e, (k, v) => kernelAccounts(e, prefix, k, v) || accounted(k, v));
  if (e.kind === 'dir' && e.xattrs[`${prefix}opaque`] === 'y') xattrs[OPAQUE] = 'y';
  return abstractEntry(isXattrWhiteout(e, prefix) ? { ...e, kind: 'whiteout' } : e, xattrs);
}

/**
 * A decoded layer without the whiteouts below an opaque dir of the same layer: the dir already
 * hides everything below it, so they hide nothing more (unionfs-fuse does not keep them: a
 * deleted dir's markers go with it). Applied to both sides of a comparison in abstract terms
 * where the implementation's format cannot hold them (properties/session.ts);
 * the merged view, compared as the mount shows it, still sees whatever they change there.
 */
export function withoutRedundantWhiteouts(snap: Snapshot): Snapshot {
  const opaque = [...snap].filter(([, e]) => e.kind === 'dir' && e.xattrs[OPAQUE] === 'y').map(([p]) => p);
  const below = (path: string) => opaque.some((d) => path.startsWith(d === '/' ? '/' : d + '/') && path !== d);
  return new Map([...snap].filter(([path, e]) => e.kind !== 'whiteout' || !below(path)));
}

/** What a layer holds at a path, as far as a dir's merge is concerned (S2.2, S2.3, S3). */
type StopKind = 'dir' | 'opaque' | 'whiteout' | 'other';

/**
 * S2.3: a dir's merge goes down through the layers that hold a dir at its path and stops at
 * the first that holds a non-dir there. The kernel's format says so by the non-dir alone; a
 * format that merges every branch holding the dir (unionfs-fuse) needs a mark beside the last
 * dir. Per layer (top first), the paths of such dirs.
 */
export function implicitStops(layers: readonly ReadonlyMap<string, StopKind>[]): Set<string>[] {
  // Every layer's dirs, whether a layer above hides them now or not: a rotation (or a removal
  // above) may show them later, and the mark is the layer's own.
  return layers.map((layer, i) => {
    const stops = new Set<string>();
    for (const [path, kind] of layer) {
      if (kind !== 'dir') continue;
      const next = layers.slice(i + 1).find((l) => l.has(path))?.get(path);
      if (next === 'other') stops.add(path);
    }
    return stops;
  });
}

/** A whiteout in the kernel's format as a layer spec says it: a device, or an empty file with P.whiteout (S3.5). */
function isSpecWhiteout(e: LayerSpec[string]): boolean {
  return e.type === 'whiteout' || (e.type === 'file' && !e.data && e.xattrs?.['trusted.overlay.whiteout'] !== undefined);
}

function specKinds(layer: LayerSpec): Map<string, StopKind> {
  const kinds = new Map<string, StopKind>();
  for (const path of Object.keys(layer)) {
    for (let p = parentOf(path); p !== '/'; p = parentOf(p)) if (!(p in layer)) kinds.set(p, 'dir'); // implied by a child
  }
  for (const [path, e] of Object.entries(layer)) {
    kinds.set(path, isSpecWhiteout(e) ? 'whiteout'
      : e.type === 'dir' ? (e.opaque || e.xattrs?.['trusted.overlay.opaque'] === 'y' ? 'opaque' : 'dir') : 'other');
  }
  return kinds;
}

function snapshotKinds(snap: Snapshot): Map<string, StopKind> {
  return new Map([...snap].filter(([p]) => p !== '/').map(([p, e]) => [p, e.kind === 'whiteout' ? 'whiteout' : e.kind === 'dir' ? (e.xattrs[OPAQUE] === 'y' ? 'opaque' : 'dir') : 'other']));
}

/**
 * Decoded layer views (top first), with the dirs where the kernel stops a merge at a non-dir
 * below shown opaque: what a format with explicit stops holds (LayerCodec.explicitStops), so
 * that both sides of a comparison say the same in abstract terms (properties/session.ts).
 */
export function withImplicitStopsOpaque(views: readonly Snapshot[]): Snapshot[] {
  const stops = implicitStops(views.map(snapshotKinds));
  return views.map((snap, i) => {
    if (stops[i].size === 0) return snap;
    const out = new Map(snap);
    for (const p of stops[i]) out.set(p, { ...snap.get(p)!, xattrs: { ...snap.get(p)!.xattrs, [OPAQUE]: 'y' } });
    return out;
  });
}

/** Kernel overlayfs (S3): chardev 0/0 or P.whiteout files are whiteouts, P.opaque=y dirs opaque. */
export function kernelCodec(prefix: string): LayerCodec {
  return { name: 'kernel', kernelFormat: true, encode: (s) => s, decode: kernelDecode(prefix) };
}

function kernelDecode(prefix: string): UpperCodec {
  return (raw) => {
    const out: Snapshot = new Map();
    for (const [path, e] of raw) out.set(path, kernelEntry(e, prefix));
    return out;
  };
}

// fuse-overlayfs (the vendor's 1.16 source, main.c; 1.10 as packaged, by experiment).
const FO_ORIGIN = 'user.fuseoverlayfs.origin';
const FO_OPAQUE = 'user.fuseoverlayfs.opaque';
const WH = '.wh.';
const OPQ_MARKER = '.wh..wh..opq';
const OPQ_DEVICE = '.wh..opq';

/**
 * fuse-overlayfs: the kernel's format (chardev 0/0 whiteouts, trusted.overlay.opaque), plus
 *   - ".wh.NAME", an empty file, for a whiteout it cannot make as a device (create_whiteout,
 *     main.c:830-836); it hides NAME in its own layer too (load_dir, main.c:1800-1812), so a
 *     NAME beside it is not accounted for: both stay;
 *   - ".wh..wh..opq", an empty file, in every dir it makes opaque (set_fd_opaque, main.c:734,
 *     beside the xattr); it makes the dir opaque where it has no opaque xattr at all, and means
 *     nothing where the xattr says otherwise (is_directory_opaque, main.c:739-767);
 *   - 1.10 also makes a ".wh..opq" chardev 0/0 in each dir it makes opaque (seen with strace:
 *     mknodat after the dir is renamed into place; 1.16 does not);
 *   - user.fuseoverlayfs.opaque=y on a dir where trusted.overlay.opaque is refused (main.c:730);
 *   - user.fuseoverlayfs.origin on a file it copied up: the lower path (main.c:704-717, 3310).
 * Not decoded: user.fuseoverlayfs.override_stat and the other stat overrides (xattr_permissions=,
 * utils.h:35-37) change what mode and owner mean, and ovlcheck mounts without them: one found
 * stays in the view, as does any other user.fuseoverlayfs.* xattr.
 */
export const fuseOverlayfsCodec: LayerCodec = { name: 'fuse-overlayfs', kernelFormat: true, encode: (s) => s, decode: (raw) => fuseOverlayfsDecode(raw) };

/** Whether fuse-overlayfs reads the dir at path as opaque (is_directory_opaque, main.c:739-767). */
function fuseOpaque(raw: Snapshot, dir: string): boolean {
  const d = raw.get(dir);
  const x = d?.xattrs['trusted.overlay.opaque'] ?? d?.xattrs['user.overlay.opaque'] ?? d?.xattrs[FO_OPAQUE];
  return x === undefined ? raw.has(childOf(dir, OPQ_MARKER)) : x === 'y';
}

function fuseOverlayfsDecode(raw: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  for (const [path, e] of raw) {
    const dir = parentOf(path);
    const base = baseOf(path);
    if (base === OPQ_MARKER && isEmptyFile(e) && fuseOpaque(raw, dir)) {
      const parent = out.get(dir);
      if (parent) parent.xattrs[OPAQUE] = 'y';
      continue;
    }
    if (base === OPQ_DEVICE && e.kind === 'whiteout' && fuseOpaque(raw, dir)) continue;
    const name = base.slice(WH.length);
    const reserved = base === OPQ_MARKER || base === OPQ_DEVICE; // the opaque markers, where they are not accounted for
    if (base.startsWith(WH) && name && !reserved && isEmptyFile(e) && !raw.has(childOf(dir, name))) {
      out.set(childOf(dir, name), abstractEntry({ ...e, kind: 'whiteout' }, {}));
      continue;
    }
    const own = (k: string, v: string) => (k === FO_ORIGIN && e.kind === 'file') || (k === FO_OPAQUE && v === 'y' && e.kind === 'dir');
    const entry = kernelEntry(e, 'trusted.overlay.', own);
    if (e.kind === 'dir' && e.xattrs[FO_OPAQUE] === 'y') entry.xattrs[OPAQUE] = 'y';
    out.set(path, entry);
  }
  return out;
}

const HIDDEN = '_HIDDEN~';

/**
 * unionfs-fuse (cow mode; 1.0 keeps its metadata in .unionfs-fuse/, 3.x in .unionfs/): a
 * deletion is a marker named NAME_HIDDEN~ under the metadata dir at the same relative path, in
 * the branch that hides NAME (and everything below it) from the branches below it: an empty
 * file for a file, an empty dir for a dir (hide_file, hide_dir: general.c:136-176 in the
 * vendor's 3.7). It has no opaque dirs as such: a dir deleted and made again carries a marker
 * and the new dir in one branch (mkdir leaves the marker, fuse_ops.c:352-368), which hides the
 * lower dirs' contents just as an opaque dir does (checked by experiment on unionfs-fuse 1.0).
 * Markers it leaves for the old contents of a deleted dir (.unionfs-fuse/d/x_HIDDEN~ beside
 * d_HIDDEN~) hide nothing more and are dropped, unless the name is a dir in the layer again
 * (then it is opaque, as nested opaque dirs are written), and so are the dirs under
 * .unionfs-fuse/ that held markers. Not accounted for, and kept as they are on disk: a marker
 * beside a non-dir of its name (every call that makes a non-dir removes it: fuse_ops.c:138,
 * 300, 404, 430, 604, 744), a marker that is not an empty file or dir, anything else under
 * .unionfs-fuse/. A chardev 0/0 is a device to unionfs-fuse, not a deletion.
 */
export function unionfsCodec(meta: '/.unionfs-fuse' | '/.unionfs'): LayerCodec {
  return {
    name: meta === '/.unionfs' ? 'unionfs-fuse 3' : 'unionfs-fuse', whiteoutDevice: false, explicitStops: true,
    encode: (stack) => unionfsEncode(meta, stack), decode: (raw) => unionfsDecode(meta, raw),
  };
}

/** unionfs-fuse 1.0's format (METANAME ".unionfs-fuse"). */
export const unionfsFuseCodec = unionfsCodec('/.unionfs-fuse');
/** unionfs-fuse 3.x's format (METANAME ".unionfs", src/unionfs.h:13 in the vendor's 3.7). */
export const unionfsFuse3Codec = unionfsCodec('/.unionfs');

function markerPath(meta: string, path: string): string {
  return `${meta}${path}${HIDDEN}`;
}

/**
 * The kernel's format in unionfs-fuse's terms: a whiteout (a device, or a file marked with
 * the kernel's xattr, S3.5) becomes a marker, an opaque dir a dir and a marker; the kernel's
 * own bookkeeping xattrs (trusted.overlay.*) mean nothing to unionfs-fuse and are left out.
 */
function unionfsEncodeLayer(meta: string, layer: LayerSpec): LayerSpec {
  const out: LayerSpec = {};
  const KERNEL = 'trusted.overlay.';
  // The kernel's bookkeeping, not a user's xattr escaped as trusted.overlay.overlay.* (S6.1).
  const own = (x: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(x ?? {}).filter(([k]) => !k.startsWith(KERNEL) || k.startsWith(`${KERNEL}overlay.`)));
  // A name's parents exist in its layer even when only implied (a whiteout's parent dir):
  // declare them, since a whiteout itself moves out of the tree into .unionfs-fuse/.
  for (const path of Object.keys(layer)) {
    for (let p = path.slice(0, path.lastIndexOf('/')); p; p = p.slice(0, p.lastIndexOf('/'))) {
      if (!(p in layer)) out[p] = { type: 'dir' };
    }
  }
  for (const [path, e] of Object.entries(layer)) {
    if (isSpecWhiteout(e)) {
      out[markerPath(meta, path)] = { type: 'file' };
    } else if (e.type === 'dir') {
      const { opaque, xattrs, ...plain } = e;
      out[path] = { ...plain, xattrs: own(xattrs) };
      if (opaque || xattrs?.[`${KERNEL}opaque`] === 'y') out[markerPath(meta, path)] = { type: 'file' };
    } else if (e.type === 'file') {
      out[path] = { ...e, xattrs: own(e.xattrs) };
    } else out[path] = e;
  }
  return out;
}

/**
 * Each layer as unionfs-fuse holds it, and a marker beside each dir where the kernel stops its
 * merge at a non-dir below (S2.3): unionfs-fuse merges every branch that holds the dir (it
 * looks a path up branch by branch, src/findbranch.c) unless a marker hides the ones below.
 */
function unionfsEncode(meta: string, stack: StackSpec): StackSpec {
  const layers = [stack.upper, ...stack.lowers];
  const stops = implicitStops(layers.map(specKinds));
  const encoded = layers.map((l, i) => {
    const out = unionfsEncodeLayer(meta, l);
    for (const p of stops[i]) out[markerPath(meta, p)] = { type: 'file' };
    return out;
  });
  return { ...stack, upper: encoded[0], lowers: encoded.slice(1) };
}

/** A marker as unionfs-fuse makes them: an empty file or an empty dir, no xattrs. */
function isMarker(raw: Snapshot, path: string, e: SnapEntry): boolean {
  if (baseOf(path) === HIDDEN || Object.keys(e.xattrs).length > 0) return false; // "_HIDDEN~" alone names nothing (whiteout_tag)
  if (e.kind === 'dir') return ![...raw.keys()].some((p) => p.startsWith(`${path}/`));
  return isEmptyFile(e);
}

function unionfsDecode(meta: string, raw: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  const inMeta = (p: string) => p === meta || p.startsWith(meta + '/');
  const asIs = (e: SnapEntry) => abstractEntry(e.kind === 'whiteout' ? { ...e, kind: 'chardev' } : e, { ...e.xattrs });
  for (const [path, e] of raw) if (!inMeta(path)) out.set(path, asIs(e));
  const hidden = new Set<string>();
  for (const [path, e] of raw) {
    if (!inMeta(path)) continue;
    if (path.endsWith(HIDDEN) && isMarker(raw, path, e)) hidden.add(path.slice(meta.length, -HIDDEN.length));
    else if (e.kind !== 'dir' || path.endsWith(HIDDEN)) out.set(path, asIs(e)); // a dir that held markers is explained
  }
  const underHidden = (name: string) => {
    for (let p = parentOf(name); p !== '/'; p = parentOf(p)) if (hidden.has(p)) return true;
    return false;
  };
  for (const name of [...hidden].sort()) {
    const real = out.get(name);
    if (real?.kind === 'dir') real.xattrs[OPAQUE] = 'y'; // deleted, then made again
    else if (real) out.set(markerPath(meta, name), asIs(raw.get(markerPath(meta, name))!)); // made again, yet still hidden below
    else if (!underHidden(name)) out.set(name, abstractEntry({ ...raw.get(markerPath(meta, name))!, kind: 'whiteout' }, {}));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
