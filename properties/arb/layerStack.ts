// Random layer stacks: 1..N lower layers whose names collide across layers, nested dirs,
// whiteouts and opaque dirs inside lower layers, hard links, symlinks, fifos; the upper
// starts empty half of the time, and otherwise holds a few entries of its own (as an upper
// written offline, or by an earlier mount).

import fc from 'fast-check';
import type { EntrySpec, LayerSpec, StackSpec } from '../../model/index.js';
import { dirModeArb, ownerArb } from './callers.js';
import { ACL_ACCESS, ACL_DEFAULT, accessAcl, fullAcl } from '../../model/acl.js';

/** A small pool, so that the same names meet in several layers. */
export const NAMES = ['a', 'b', 'c', 'd', 'e'] as const;

const pathArb = fc
  .array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 })
  .map((cs) => '/' + cs.join('/'));

const dataArb = fc.string({ unit: fc.constantFrom('x', 'y', 'z', '1', '\n'), maxLength: 6 });
const modeArb = fc.constantFrom(0o644, 0o600, 0o755);
/** Ordinary xattrs go in user.*, or in trusted.* where the layers' filesystem has no user.* (tmpfs before 6.6). */
const xattrsArb = (ns: string) => fc.option(fc.dictionary(fc.constantFrom(`${ns}.a`, `${ns}.b`), fc.constantFrom('1', '2'), { maxKeys: 1 }), { nil: undefined, freq: 4 });

type Raw = { path: string; kind: string; mode: number; data: string; other: string; xattrs?: Record<string, string>; owner: number; dirMode: number; mtime?: number };

const rawEntry = (ns: string, nested = false, trusted = true): fc.Arbitrary<Raw> => fc.record({
  path: pathArb,
  kind: fc.oneof(
    { weight: 20, arbitrary: fc.constantFrom('file', 'file', 'file', 'dir', 'dir', 'opaque', 'whiteout', 'whiteout', 'symlink', 'link', 'fifo') },
    // 6.7+ formats (S3.4, S3.5, S10.2). Not metacopy files without metacopy=on (S7.3): two of
    // them met while listing fail the whole readdir with EPERM on 6.18, which the model does
    // not hold yet (one is dropped from the listing); known-answer cases cover S7.3.
    ...(trusted ? [{ weight: 1, arbitrary: fc.constantFrom('xwhiteout', 'xdir', 'escaped') }] : []),
    // The escaped forms an inner overlay passes up to an outer one (S3.8, S18.1).
    ...(nested && trusted ? [{ weight: 4, arbitrary: fc.constantFrom('xwhiteout2', 'xdir2', 'opaque2') }] : []),
  ),
  mode: modeArb,
  data: dataArb,
  other: pathArb,
  xattrs: xattrsArb(ns),
  owner: ownerArb, // S11: entries of other users, and dirs whose modes make the checks matter
  dirMode: dirModeArb,
  mtime: fc.option(fc.constantFrom(1_000_000_000, 1_100_000_000), { nil: undefined, freq: 2 }), // S6.3: kept by copy-up
});

/** The owner of an entry, as its uid and the same gid; root is left implicit. */
function owned(r: Raw): { uid?: number; gid?: number; mtime?: number } {
  return { ...(r.owner ? { uid: r.owner, gid: r.owner } : {}), ...(r.mtime !== undefined ? { mtime: r.mtime } : {}) };
}

/** Make a list of random entries into a layer that can exist on disk. */
export function toLayer(raw: Raw[]): LayerSpec {
  const layer: LayerSpec = {};
  const isDirAt = (p: string) => layer[p]?.type === 'dir';
  for (const r of raw) {
    if (layer[r.path]) continue;
    // every ancestor must be a dir in this layer (or free to become one)
    const comps = r.path.split('/').slice(1);
    let ok = true;
    for (let i = 1; i < comps.length; i++) {
      const anc = '/' + comps.slice(0, i).join('/');
      if (layer[anc] && !isDirAt(anc)) ok = false;
    }
    if (!ok) continue;
    if (Object.keys(layer).some((p) => p.startsWith(r.path + '/'))) {
      if (r.kind !== 'dir' && r.kind !== 'opaque') continue; // already a parent: must stay a dir
    }
    const entry = toEntry(r, layer);
    if (entry) layer[r.path] = entry;
  }
  return layer;
}

function toEntry(r: Raw, layer: LayerSpec): EntrySpec | null {
  switch (r.kind) {
    case 'file': return { type: 'file', mode: r.mode, data: r.data, ...owned(r), ...(r.xattrs ? { xattrs: r.xattrs } : {}) };
    case 'dir': return { type: 'dir', mode: r.dirMode, ...owned(r), ...(r.xattrs ? { xattrs: r.xattrs } : {}) };
    case 'opaque': return { type: 'dir', mode: 0o755, opaque: true };
    case 'whiteout': return { type: 'whiteout' };
    case 'fifo': return { type: 'fifo', mode: r.mode, ...owned(r) };
    case 'xwhiteout': return { type: 'file', data: '', xattrs: { 'trusted.overlay.whiteout': 'y' } };
    case 'xdir': return { type: 'dir', mode: 0o755, xattrs: { 'trusted.overlay.opaque': 'x' } };
    case 'xwhiteout2': return { type: 'file', data: '', xattrs: { 'trusted.overlay.overlay.whiteout': 'y' } };
    case 'xdir2': return { type: 'dir', mode: 0o755, xattrs: { 'trusted.overlay.overlay.opaque': 'x' } };
    case 'opaque2': return { type: 'dir', mode: 0o755, xattrs: { 'trusted.overlay.overlay.opaque': 'y' } };
    case 'escaped': return { type: 'file', data: r.data, xattrs: { 'trusted.overlay.overlay.opaque': 'y' } };
    case 'symlink': return { type: 'symlink', target: relativeTarget(r.path, r.other), ...owned(r) };
    case 'link': {
      const files = Object.keys(layer).filter((p) => layer[p].type === 'file');
      return files.length ? { type: 'link', to: files[r.data.length % files.length] } : null;
    }
  }
  return null;
}

/** A relative target without "..": from the symlink's dir down to the name of `other`. */
export function relativeTarget(path: string, other: string): string {
  const depth = path.split('/').length - 2; // components in the parent dir
  const tail = other.split('/').slice(1);
  return tail.slice(Math.min(depth, tail.length - 1)).join('/');
}

/**
 * A dir with 2-4 children spread over one to three layers (the same dir in each, with
 * children of its own there): a merged dir (S2.2) that steps can list, empty, rename and copy
 * up. Half the time every child is a file, so that unlinks alone can empty it (S4.8).
 */
interface Cluster {
  dir: string;
  /** Layers holding the dir: lower indexes (modulo the stack's), -1 for the upper. */
  layers: number[];
  children: { name: string; layer: number; kind: string; data: string }[];
  onlyFiles: boolean;
}

// The parts of a cluster do not shrink one by one (that made shrinking long): fast-check
// drops whole clusters and children, and minimize.ts then drops single entries.
const clusterArb = (maxLowers: number, upper: boolean): fc.Arbitrary<Cluster> => fc.record({
  dir: fc.noShrink(fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 2 }).map((cs) => '/' + cs.join('/'))),
  layers: fc.noShrink(fc.uniqueArray(
    upper ? fc.oneof({ weight: 4, arbitrary: fc.nat(maxLowers - 1) }, { weight: 1, arbitrary: fc.constant(-1) }) : fc.nat(maxLowers - 1),
    { minLength: 1, maxLength: 3 },
  )),
  children: fc.uniqueArray(
    fc.noShrink(fc.record({ name: fc.constantFrom(...NAMES), layer: fc.nat(2), kind: fc.constantFrom('file', 'file', 'dir', 'symlink', 'fifo', 'whiteout'), data: fc.constantFrom('', 'x', 'yz') })),
    { minLength: 2, maxLength: 4, selector: (c) => c.name },
  ),
  onlyFiles: fc.noShrink(fc.boolean()),
});

/** A cluster's entries for each layer (index lowers.length: the upper), put before the random ones. */
function clusterEntries(c: Cluster, nLowers: number): Map<number, Raw[]> {
  const at = (l: number) => (l < 0 ? nLowers : l % nLowers);
  const layers = [...new Set(c.layers.map(at))];
  const out = new Map<number, Raw[]>(layers.map((l) => [l, [{ path: c.dir, kind: 'dir', mode: 0o755, data: '', other: c.dir, owner: 0, dirMode: 0o755 }]]));
  for (const ch of c.children) {
    const path = `${c.dir}/${ch.name}`;
    out.get(layers[ch.layer % layers.length])!.push({ path, kind: c.onlyFiles ? 'file' : ch.kind, mode: 0o644, data: ch.data, other: path, owner: 0, dirMode: 0o755 });
  }
  return out;
}

export function layerStack(opts: {
  maxLowers: number;
  maxEntriesPerLayer: number;
  /** At least this many lowers (a mount without upper needs 2, S1.13); default 1. */
  minLowers?: number;
  /** false: the upper stays empty (for mounts without one). */
  upper?: boolean;
  /** false: the layers' filesystem has no user.* xattrs, so ordinary xattrs are trusted.* (S20.1). */
  userXattrs?: boolean;
  /** false: no clusters (merged dirs with several children), as before issue 10. */
  clusters?: boolean;
  /** The lowers become an inner overlay (S18.1): escaped whiteouts and opaque dirs too. */
  nested?: boolean;
  /** false: no entries with trusted.* xattrs, which only CAP_SYS_ADMIN in the initial user namespace sets (rootless mode). */
  trustedXattrs?: boolean;
  /** true: some entries get a known mtime (the driver's views report st_mtime; harness/compare.ts). */
  mtimes?: boolean;
}): fc.Arbitrary<StackSpec> {
  return anyStack(opts).map((stack) => (opts.mtimes ? stack : withoutMtimes(stack)));
}

/**
 * A POSIX ACL for a file or dir (S10.5), for the callers' uids and groups (arb/callers.ts):
 * a named user and a named group (0: none), GROUP_OBJ, the mask (which becomes the mode's
 * group bits), and for a dir sometimes a default ACL that grants the named user everything.
 */
const aclArb = fc.record({
  user: fc.constantFrom(0, 1000, 1001), userPerm: fc.constantFrom(7, 6, 4, 0),
  group: fc.constantFrom(0, 1000), groupPerm: fc.constantFrom(7, 6, 5, 0),
  groupObj: fc.constantFrom(0, 4, 5), mask: fc.constantFrom(7, 6, 5, 4), withDefault: fc.boolean(),
});
type Acl = typeof aclArb extends fc.Arbitrary<infer T> ? T : never;

/**
 * ACLs for a stack's files and dirs: an entry takes the plan's slot that its layer and path
 * hash to (undefined: none), so that shrinking the stack leaves the other entries' ACLs as
 * they were. Drawn apart from the stack, after everything else a case draws (conformance.ts),
 * so that every seed generates the same stacks and steps as without ACLs. It does not shrink:
 * minimize.ts drops the xattrs a failure does not need.
 */
export const aclPlanArb: fc.Arbitrary<(Acl | undefined)[]> = fc.noShrink(fc.array(fc.option(aclArb, { nil: undefined, freq: 5 }), { minLength: 64, maxLength: 64 }));

/** The stack with the plan's ACLs on its lower and upper files and dirs. */
export function withAcls(stack: StackSpec, plan: readonly (Acl | undefined)[]): StackSpec {
  if (!plan.length) return stack;
  const layer = (l: LayerSpec, name: string): LayerSpec => Object.fromEntries(Object.entries(l).map(([p, e]): [string, EntrySpec] => {
    const acl = canHoldAcl(e) ? plan[fnv1a(`${name}:${p}`) % plan.length] : undefined;
    return [p, acl ? aclOn(e as Extract<EntrySpec, { type: 'file' | 'dir' }>, acl) : e];
  }));
  return { ...stack, lowers: stack.lowers.map((l, i) => layer(l, `lower${i}`)), upper: layer(stack.upper, 'upper') };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Ordinary files and dirs: not overlay's own entries (opaque dirs, xattr whiteouts, metacopy files). */
function canHoldAcl(e: EntrySpec): boolean {
  if (e.type !== 'file' && e.type !== 'dir') return false;
  if (e.type === 'dir' && e.opaque) return false;
  return !Object.keys(e.xattrs ?? {}).some((n) => n.startsWith('trusted.overlay.') || n.startsWith('user.overlay.'));
}

/** The entry with the ACL: the mask is the mode's group bits, as setxattr leaves them. */
function aclOn(e: Extract<EntrySpec, { type: 'file' | 'dir' }>, a: Acl): EntrySpec {
  const mode = ((e.mode ?? (e.type === 'dir' ? 0o755 : 0o644)) & ~0o070) | (a.mask << 3);
  const users: [number, number][] = a.user ? [[a.user, a.userPerm]] : [];
  const groups: [number, number][] = a.group ? [[a.group, a.groupPerm]] : [];
  const xattrs: Record<string, string> = { ...e.xattrs, [ACL_ACCESS]: accessAcl(mode, a.groupObj, users, groups) };
  if (e.type === 'dir' && a.withDefault) xattrs[ACL_DEFAULT] = fullAcl(7, 5, 7, 5, a.user ? [[a.user, 7]] : [], groups);
  return { ...e, mode, xattrs };
}

function withoutMtimes(stack: StackSpec): StackSpec {
  const strip = (layer: LayerSpec): LayerSpec =>
    Object.fromEntries(Object.entries(layer).map(([p, e]) => [p, 'mtime' in e ? (({ mtime: _t, ...rest }) => rest)(e) as EntrySpec : e]));
  return { ...stack, lowers: stack.lowers.map(strip), upper: strip(stack.upper) };
}

function anyStack(opts: Parameters<typeof layerStack>[0]): fc.Arbitrary<StackSpec> {
  const entry = rawEntry(opts.userXattrs === false ? 'trusted' : 'user', opts.nested, opts.trustedXattrs !== false);
  const raws = fc.array(entry, { maxLength: opts.maxEntriesPerLayer, size: 'max' });
  const upperEntries = opts.upper === false ? fc.constant([] as Raw[]) : fc.oneof(fc.constant([] as Raw[]), fc.array(entry, { maxLength: Math.ceil(opts.maxEntriesPerLayer / 2) }));
  const minLength = Math.min(opts.minLowers ?? 1, opts.maxLowers);
  const nLowers = { minLength, maxLength: Math.max(minLength, opts.maxLowers) };
  if (opts.clusters === false) return fc.record({ lowers: fc.array(raws.map(toLayer), nLowers), upper: upperEntries.map(toLayer) });
  const clusters = fc.array(clusterArb(opts.maxLowers, opts.upper !== false), { maxLength: 2, size: 'max' });
  return fc.record({ lowers: fc.array(raws, nLowers), upper: upperEntries, clusters }).map(({ lowers, upper, clusters }) => {
    const layers = [...lowers, upper];
    const first = layers.map(() => [] as Raw[]);
    for (const c of clusters) for (const [l, rs] of clusterEntries(c, lowers.length)) first[l].push(...rs);
    const specs = layers.map((rs, i) => toLayer([...first[i], ...rs]));
    return { lowers: specs.slice(0, -1), upper: specs[specs.length - 1] };
  });
}

/**
 * A stack with a data-only layer (S7.4): blobs under /blobs, and metacopy files in the lower
 * layers whose absolute redirect points at one of them, as composefs-style images have.
 */
export function dataOnlyStack(opts: Parameters<typeof layerStack>[0]): fc.Arbitrary<StackSpec> {
  return fc
    .record({
      base: layerStack(opts),
      blobs: fc.array(dataArb, { minLength: 1, maxLength: 4 }),
      metas: fc.array(fc.record({ layer: fc.nat(3), path: pathArb, blob: fc.nat(3) }), { maxLength: 4 }),
    })
    .map(({ base, blobs, metas }) => {
      const data: LayerSpec = Object.fromEntries(blobs.map((b, i): [string, EntrySpec] => [`/blobs/x${i}`, { type: 'file', data: b }]));
      // Not modelled yet: with data-only layers, whether an opaque=x dir flags its layer depends
      // on what the dentry cache held when it was first looked up (namei.c d.last with
      // numdatalayer), so these stacks leave opaque=x dirs out; and metacopy files without a
      // redirect, whose missing data shows only at open (S7.4).
      const lowers = base.lowers.map(withoutUnmodelled);
      for (const m of metas) {
        const layer = lowers[m.layer % lowers.length];
        const blob = m.blob % blobs.length;
        if (!canPlace(layer, m.path)) continue;
        layer[m.path] = {
          type: 'file', data: '\0'.repeat(blobs[blob].length),
          xattrs: { 'trusted.overlay.metacopy': '', 'trusted.overlay.redirect': `/blobs/x${blob}` },
        };
      }
      return { ...base, lowers, data: [data] };
    });
}

function withoutUnmodelled(layer: LayerSpec): LayerSpec {
  const out: LayerSpec = {};
  for (const [p, e] of Object.entries(layer)) {
    if (e.type === 'dir' && e.xattrs?.['trusted.overlay.opaque'] === 'x') out[p] = { type: 'dir', mode: e.mode };
    else if (e.type === 'file' && e.xattrs && 'trusted.overlay.metacopy' in e.xattrs) out[p] = { type: 'file', mode: e.mode };
    else out[p] = e;
  }
  return out;
}

/** A new file fits at path: nothing there, nothing below it, no non-dir above it. */
function canPlace(layer: LayerSpec, path: string): boolean {
  if (layer[path] || Object.keys(layer).some((p) => p.startsWith(path + '/'))) return false;
  const comps = path.split('/').slice(1);
  for (let i = 1; i < comps.length; i++) {
    const anc = layer['/' + comps.slice(0, i).join('/')];
    if (anc && anc.type !== 'dir') return false;
  }
  return true;
}
