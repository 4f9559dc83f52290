// Layer formats: each implementation writes deletions, opaque dirs and its own bookkeeping
// in its own on-disk format. A codec writes a model layer stack in that format (encode) and
// reads a raw snapshot of one of its layers back in the model's abstract terms (decode), so
// that layers of different implementations can be compared:
//   - every name, with its kind ('whiteout' for a deletion marker, whatever its format),
//     permission bits, owner, content, symlink target and the xattrs a user set;
//   - an opaque dir carries the pseudo-xattr "overlay.opaque" = "y";
//   - the implementation's private bookkeeping (origin, impure, redirect, nlink, uuid, its
//     own marker files) is left out, as are link counts, inode numbers and devices.

import type { LayerSpec, SnapEntry, Snapshot, StackSpec } from '../model/types.js';

export type UpperCodec = (raw: Snapshot) => Snapshot;

export interface LayerCodec {
  readonly name: string;
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

function userXattrs(e: SnapEntry, isPrivate: (name: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.xattrs)) if (!isPrivate(k)) out[k] = v;
  return out;
}

/** Kernel overlayfs (S3): chardev 0/0 or P.whiteout files are whiteouts, P.opaque=y dirs opaque. */
export function kernelCodec(prefix: string): LayerCodec {
  return { name: 'kernel', encode: (s) => s, decode: kernelDecode(prefix) };
}

function kernelDecode(prefix: string): UpperCodec {
  return (raw) => {
    const out: Snapshot = new Map();
    for (const [path, e] of raw) {
      const xattrs = userXattrs(e, (k) => k.startsWith(prefix) && !k.startsWith(`${prefix}overlay.`));
      if (e.kind === 'dir' && e.xattrs[`${prefix}opaque`] === 'y') xattrs[OPAQUE] = 'y';
      const whiteout = e.kind === 'file' && e.data === '' && `${prefix}whiteout` in e.xattrs;
      out.set(path, abstractEntry(whiteout ? { ...e, kind: 'whiteout' } : e, whiteout ? {} : xattrs));
    }
    return out;
  };
}

/**
 * fuse-overlayfs: the kernel's format (chardev 0/0 whiteouts, trusted.overlay.opaque), plus
 * ".wh.NAME" files for whiteouts it cannot make as devices, ".wh..wh..opq" (and a ".wh..opq"
 * device) inside opaque dirs, and user.fuseoverlayfs.* bookkeeping xattrs.
 */
export const fuseOverlayfsCodec: LayerCodec = { name: 'fuse-overlayfs', encode: (s) => s, decode: (raw) => fuseOverlayfsDecode(raw) };

function fuseOverlayfsDecode(raw: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  const isPrivate = (k: string) => k.startsWith('user.fuseoverlayfs.') || (k.startsWith('trusted.overlay.') && !k.startsWith('trusted.overlay.overlay.'));
  for (const [path, e] of raw) {
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (base === '.wh..wh..opq' || base === '.wh..opq') {
      const parent = out.get(dir);
      if (parent) parent.xattrs[OPAQUE] = 'y';
      continue;
    }
    if (base.startsWith('.wh.')) {
      const name = dir === '/' ? `/${base.slice(4)}` : `${dir}/${base.slice(4)}`;
      out.set(name, abstractEntry({ ...e, kind: 'whiteout' }, {}));
      continue;
    }
    if (e.kind === 'file' && e.data === '' && 'trusted.overlay.whiteout' in e.xattrs) {
      // The kernel's xattr whiteout (S3.5, 6.7+) in a layer given to it: the same format on
      // disk, whether fuse-overlayfs honours it or not (that shows in the merged view).
      out.set(path, abstractEntry({ ...e, kind: 'whiteout' }, {}));
      continue;
    }
    const xattrs = userXattrs(e, isPrivate);
    if (e.kind === 'dir' && (e.xattrs['trusted.overlay.opaque'] === 'y' || e.xattrs['user.fuseoverlayfs.opaque'] === 'y')) xattrs[OPAQUE] = 'y';
    out.set(path, abstractEntry(e, xattrs));
  }
  return out;
}

const UNIONFS_META = '/.unionfs-fuse';
const HIDDEN = '_HIDDEN~';

/**
 * unionfs-fuse (cow mode): a deletion is a file named NAME_HIDDEN~ under .unionfs-fuse/ at
 * the same relative path, in the branch that hides NAME from the branches below it. It has
 * no opaque dirs as such: a dir deleted and made again carries a marker and the new dir in
 * one branch, which hides the lower dirs' contents just as an opaque dir does (checked by
 * experiment on unionfs-fuse 1.0). Markers it leaves for the old contents of a deleted dir
 * (.unionfs-fuse/d/x_HIDDEN~ beside d_HIDDEN~) hide nothing more and are dropped, unless the
 * name is a dir in the layer again (then it is opaque, as nested opaque dirs are written).
 */
export const unionfsFuseCodec: LayerCodec = { name: 'unionfs-fuse', encode: unionfsEncode, decode: unionfsDecode };

function markerPath(path: string): string {
  return `${UNIONFS_META}${path}${HIDDEN}`;
}

/**
 * The kernel's format in unionfs-fuse's terms: a whiteout (a device, or a file marked with
 * the kernel's xattr, S3.5) becomes a marker, an opaque dir a dir and a marker; the kernel's
 * own bookkeeping xattrs (trusted.overlay.*) mean nothing to unionfs-fuse and are left out.
 */
function unionfsEncodeLayer(layer: LayerSpec): LayerSpec {
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
    const xattrWhiteout = e.type === 'file' && !e.data && e.xattrs?.[`${KERNEL}whiteout`] !== undefined;
    if (e.type === 'whiteout' || xattrWhiteout) {
      out[markerPath(path)] = { type: 'file' };
    } else if (e.type === 'dir') {
      const { opaque, xattrs, ...plain } = e;
      out[path] = { ...plain, xattrs: own(xattrs) };
      if (opaque || xattrs?.[`${KERNEL}opaque`] === 'y') out[markerPath(path)] = { type: 'file' };
    } else if (e.type === 'file') {
      out[path] = { ...e, xattrs: own(e.xattrs) };
    } else out[path] = e;
  }
  return out;
}

function unionfsEncode(stack: StackSpec): StackSpec {
  return { ...stack, lowers: stack.lowers.map(unionfsEncodeLayer), upper: unionfsEncodeLayer(stack.upper) };
}

function unionfsDecode(raw: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  const inMeta = (p: string) => p === UNIONFS_META || p.startsWith(UNIONFS_META + '/');
  for (const [path, e] of raw) if (!inMeta(path)) out.set(path, abstractEntry(e, userXattrs(e, () => false)));
  const hidden = new Set<string>();
  for (const path of raw.keys()) if (inMeta(path) && path.endsWith(HIDDEN)) hidden.add(path.slice(UNIONFS_META.length, -HIDDEN.length));
  const underHidden = (name: string) => {
    for (let p = name.slice(0, name.lastIndexOf('/')); p; p = p.slice(0, p.lastIndexOf('/'))) if (hidden.has(p)) return true;
    return false;
  };
  for (const name of [...hidden].sort()) {
    const real = out.get(name);
    if (real?.kind === 'dir') real.xattrs[OPAQUE] = 'y'; // deleted, then made again
    else if (!real && !underHidden(name)) out.set(name, abstractEntry({ ...raw.get(markerPath(name))!, kind: 'whiteout' }, {}));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
