// Directory streams held open across steps (readdir.c ovl_dir_open, ovl_iterate,
// ovl_dir_llseek, ovl_dir_reset): what a read returns, and how a stream follows its dir.
//
// A stream reads its dir the way it was when the stream started (its first read after the
// open or a seek to 0): a merged dir from a cache built then (S9.2, S9.7), a dir that was
// not merged straight from its one real dir (S9.1), and one opened while pure lower keeps
// reading the lower dir until a seek to 0 finds it merged (S9.7). Each open reads its own
// snapshot (S9.8), though opens of one dir share one cache while the dir's version holds
// (ovl_cache_get), which shows in d_ino and in the entries their lookups marked stale
// (model/dirCache.ts). The model follows the kernel's order (S9.3) to know how far a read
// looked, but predicts which entries a read may return, not in which order (DirReadSpec);
// `.` and `..` are entries too (S9.10).

import { cover } from './coverage.js';
import { dirVersion, heldCache, readable, readCache, replaceCache, type Cached, type DirCache } from './dirCache.js';
import { typeOrigin } from './indexdir.js';
import { findInLayer, parentPath, type Inode } from './layerFs.js';
import { isDir, isMergedDir, isPositive, lookupChild, lookupPath, realInode, walkPath, type OvlDentry } from './lookup.js';
import { fsOfId, stDevIno, unifiedIno } from './inodeNumbers.js';
import { kernelOrder, mergedCache } from './readdir.js';
import { fail, ok, type OvlState, type Step } from './state.js';
import { walkEffects } from './super.js';
import type { DirReadSpec, DirSlot, Dirent, DirStreamOp, DType, Op } from './types.js';

/** One open stream. Immutable: a step that changes it puts a new one in its slot. */
export interface DirStream {
  /** Where its dir is now (a rename moves it); null once the dir is removed: reads fail ENOENT. */
  path: string | null;
  /** Read from the merged cache, or straight from one real dir (od->is_real, S9.1). */
  merged: boolean;
  /** The real dir read (od->realfile): the upper's, or a lower's (which never changes). */
  real: { upper: boolean; id: string } | null;
  /** Merged: the cache, built or shared at the start (S9.7). Null before the start. */
  cache: DirCache | null;
  /**
   * Real: the entries the dir held at the start and at every step since: a name whose entry
   * changed carries null type and ino (not compared).
   */
  seen: Map<string, Dirent> | null;
  /** The real dir changed since the start: which names a read returns is not defined (POSIX readdir). */
  changed: boolean;
  /**
   * Where each read since the start left the cursor, in the cache's entries (merged): a seek
   * to an earlier read's offset goes back to there (S9.6). Empty: not started.
   */
  marks: readonly number[];
}

const DTYPES: Record<Inode['type'], DType> = { dir: 'DT_DIR', file: 'DT_REG', symlink: 'DT_LNK', fifo: 'DT_FIFO', whiteout: 'DT_CHR' };

export function isDirStreamOp(op: Op): op is DirStreamOp {
  return op.op === 'opendir' || op.op === 'readdir' || op.op === 'seekdir' || op.op === 'closedir';
}

function withSlot(s: OvlState, slot: DirSlot, st: DirStream | null): OvlState {
  const streams = [...(s.streams ?? [])];
  while (streams.length <= slot) streams.push(null);
  streams[slot] = st;
  return { ...s, streams };
}

function streamAt(s: OvlState, slot: DirSlot): DirStream | null {
  return s.streams?.[slot] ?? null;
}

export function applyDirStreamOp(s: OvlState, op: DirStreamOp): Step {
  switch (op.op) {
    case 'opendir': return opendir(s, op.path, op.dir);
    case 'readdir': return readdir(s, op.dir, op.n);
    case 'seekdir': return seekdir(s, op.dir, op.to);
    case 'closedir': return streamAt(s, op.dir) ? ok(withSlot(s, op.dir, null), 'VFS') : fail(s, 'EBADF', 'VFS');
  }
}

/** open(O_RDONLY|O_DIRECTORY): follows symlinks; a non-dir is ENOTDIR. */
function opendir(s: OvlState, path: string, slot: DirSlot): Step {
  const closed = withSlot(s, slot, null); // the slot's old stream is closed first, whatever follows
  const w = walkPath(s, path, true);
  if (!w.ok) return fail(closed, w.errno, 'VFS');
  if (w.child.error) return fail(closed, w.child.error, 'S2.8');
  if (!isPositive(w.child)) return fail(closed, 'ENOENT', 'VFS');
  if (!isDir(w.child)) return fail(closed, 'ENOTDIR', 'VFS');
  const d = w.child;
  const merged = isMergedDir(d); // S9.1: ovl_dir_open decides od->is_real now
  const real = d.upper ? { upper: true, id: d.upper.id } : { upper: false, id: d.lowers[0].inode.id };
  return ok(withSlot(closed, slot, { path: d.path, merged, real, cache: null, seen: null, changed: false, marks: [] }), 'S9.1');
}

function readdir(s: OvlState, slot: DirSlot, n: number): Step {
  let st = streamAt(s, slot);
  if (!st) return fail(s, 'EBADF', 'VFS');
  const d = st.path === null ? null : lookupPath(s, st.path);
  if (!d || !isDir(d)) return fail(s, 'ENOENT', 'VFS'); // iterate_dir: IS_DEADDIR
  if (st.marks.length === 0 || (st.merged && !st.cache)) st = start(s, st, d);
  if (!st.merged) {
    const dirRead: DirReadSpec = { pool: [...st.seen!.values()], exact: !st.changed, n };
    return { ...ok(withSlot(s, slot, { ...st, marks: [...st.marks, 0] }), 'S9.1'), dirRead };
  }
  // The lookups a read makes see their own effects, as the walk's do (walkEffects).
  let after: OvlState | undefined;
  const effects = () => (after ??= walkEffects(s));
  const r = readCache(effects, d, st.cache!, st.marks.at(-1) ?? 0, n);
  const read = { ...st, cache: r.cache, marks: r.errno ? st.marks : [...st.marks, r.at] };
  const s2 = replaceCache(withSlot(s, slot, read), st.cache!, r.cache);
  if (r.errno) return fail(s2, r.errno, 'S22.2');
  const dirRead: DirReadSpec = { pool: readable(effects, d, r.cache), exact: true, n: r.emitted.length };
  return { ...ok(s2, 'S9.7'), dirRead };
}

/**
 * The first read after the open or a seek to 0 (ovl_dir_reset, then ovl_cache_get): a real
 * stream turns merged if its dir became merged since (S9.7: is_real only ever becomes false).
 */
function start(s: OvlState, st: DirStream, d: OvlDentry): DirStream {
  const merged = st.merged || isMergedDir(d);
  if (!merged) return { ...st, merged, cache: null, seen: realEntries(s, st, d), changed: false };
  // ovl_dir_reset keeps the cache while the dir's version is the same; ovl_cache_get shares
  // the one another open holds at this version; else a new one (S9.2, S9.8).
  const version = dirVersion(s, d.path);
  if (st.cache && st.cache.version === version) return { ...st, merged, seen: null, changed: false };
  const held = heldCache(s, d.path);
  if (held) cover('S9.8'); // one cache per dir version, shared by its opens
  return { ...st, merged, cache: held ?? buildCache(s, d, version), seen: null, changed: false };
}

/**
 * ovl_dir_read_merged: every layer's names in the kernel's order (S9.3), `.` and `..` first,
 * whiteouts out, d_type from the topmost (S9.2, S9.4). An entry whose d_ino needs a lookup
 * (S9.5) is looked up when a cursor reaches it (model/dirCache.ts).
 */
function buildCache(s: OvlState, d: OvlDentry, version: number): DirCache {
  cover('S9.4'); // d_type from the topmost entry
  cover('S9.5'); // d_ino, where st_ino is unified
  cover('S9.10'); // . and .. are entries
  const w = walkEffects(s);
  const wd = lookupPath(w, d.path) ?? d;
  const same = unifiedIno(s);
  const dotIno = same && typeOrigin(w, wd) ? stDevIno(w, wd).ino : inoName(s, realInode(d)); // ovl_cache_update: the dir itself
  const dot = { type: 'DT_DIR' as const, pending: false, recheck: false, stale: false };
  const dots: Cached[] = [
    { name: '.', ino: dotIno, ...dot },
    { name: '..', ino: mergedParentIno(w, wd, same), ...dot },
  ];
  const entries = kernelOrder(mergedCache(s, d), d).map((e): Cached => ({
    name: e.name,
    type: DTYPES[e.inode.ghostType ?? e.inode.type],
    ino: inoName(s, e.inode),
    pending: e.lookup,
    recheck: e.recheck,
    stale: false,
  }));
  return { version, entries: [...dots, ...entries] };
}

/** A real inode number as the model names it: "<fs>/<identity>" (model/inodeNumbers.ts). */
function inoName(s: OvlState, ino: Inode): string {
  return `${fsOfId(s, ino.id)}/${ino.id}`;
}

function parentOf(s: OvlState, d: OvlDentry): OvlDentry | null {
  return d.path === '/' ? null : lookupPath(s, d.path.slice(0, d.path.lastIndexOf('/')) || '/');
}

/**
 * `..` of a merged dir (ovl_cache_update, S9.5): on one fs or with xino, the parent's st_ino
 * if it is an upper with an origin (the root never is: ovl_get_root sets no OVL_CONST_INO),
 * else the `..` the topmost layer's dir holds.
 */
function mergedParentIno(s: OvlState, d: OvlDentry, same: boolean): string | null {
  const p = parentOf(s, d);
  if (same && p && p.path !== '/' && typeOrigin(s, p)) return stDevIno(s, p).ino;
  return realParentIno(s, d, d.upper ? 'U' : d.lowers[0].layer);
}

/**
 * The `..` a real dir holds: its parent dir in the same layer, named by its identity; null
 * where that is outside the layer (the layer's root) or not where the merged parent is (a
 * redirected lower dir): not compared.
 */
function realParentIno(s: OvlState, d: OvlDentry, layer: 'U' | number): string | null {
  if (d.path === '/') return null;
  // A nested lower is an overlay itself: its `..` is the inner overlay's own d_ino (S18.1), which the model does not name.
  if (s.profile.nested && layer !== 'U') return null;
  const fsys = layer === 'U' ? s.upper : s.lowers[layer];
  if (!fsys) return null;
  const self = layer === 'U' ? d.upper : d.lowers.find((l) => l.layer === layer)?.inode;
  if (!self || findInLayer(fsys, d.path) !== self) return null;
  const parent = findInLayer(fsys, parentPath(d.path));
  return parent ? inoName(s, parent) : null;
}

/** The real dir's entries now (S9.1), whiteouts and names that fail lookup included (S22.9). */
function realEntries(s: OvlState, st: DirStream, d: OvlDentry): Map<string, Dirent> {
  const dir = st.real!.upper ? d.upper : d.lowers.find((l) => l.inode.id === st.real!.id)?.inode ?? null;
  const out = new Map<string, Dirent>();
  if (!dir || dir.id !== st.real!.id) return out; // not the dir it opened: not modelled further (left out)
  const same = unifiedIno(s);
  out.set('.', { name: '.', type: 'DT_DIR', ino: inoName(s, dir) });
  // ovl_iterate_real: a merged parent's st_ino (S9.5); else the real `..`.
  const p = parentOf(s, d);
  const parentIno = same && p && isMergedDir(p) ? stDevIno(s, p).ino : realParentIno(s, d, st.real!.upper ? 'U' : layerOf(d, st.real!.id));
  out.set('..', { name: '..', type: 'DT_DIR', ino: parentIno });
  for (const [name, child] of dir.children!) {
    let ino: string | null = child.type === 'whiteout' ? null : inoName(s, child); // S3.2: whiteout identity not compared
    if (same && child.type !== 'whiteout') {
      const c = lookupChild(s, d, name);
      if (isPositive(c) && typeOrigin(s, c)) ino = stDevIno(s, c).ino; // the impure dir's translated entries (S9.9)
    }
    out.set(name, { name, type: DTYPES[child.ghostType ?? child.type], ino });
  }
  return out;
}

function layerOf(d: OvlDentry, id: string): number {
  return d.lowers.find((l) => l.inode.id === id)?.layer ?? -1;
}

function seekdir(s: OvlState, slot: DirSlot, to: number): Step {
  const st = streamAt(s, slot);
  if (!st) return fail(s, 'EBADF', 'VFS');
  // S9.6: to the start rebuilds at the next read (S9.7); to an earlier read's offset goes on from there.
  const marks = st.marks.slice(0, to === 0 ? 0 : to);
  return ok(withSlot(s, slot, { ...st, marks }), marks.length === 0 ? 'S9.7' : 'S9.6');
}

/**
 * After any other step: streams follow their dir through renames, lose it to rmdir or to a
 * rename over it, and a real upper dir's stream notes what its dir held (S9.1).
 */
export function followStreams(before: OvlState, op: Op, step: Step): Step {
  const streams = step.state.streams;
  if (!streams?.some((x) => x) || step.outcome !== 'ok' || isDirStreamOp(op)) return step;
  const next = streams.map((st) => (st ? follow(step.state, op, st) : st));
  return { ...step, state: { ...step.state, streams: next, dirVersions: bumpVersions(before, step.state, op, step.state.dirVersions) } };
}

/**
 * ovl_dir_modified: a name created, removed or renamed through the overlay changes its
 * parent's version (in memory, from 0 at each mount), and a dir's version moves with it.
 * Counted only while a stream is open: a cache lives no longer than the streams holding it.
 * Every listing reads a held cache (model/dirCache.ts), so a step that makes or removes a
 * name and is missed here shows as a name missing from the merged view.
 */
function bumpVersions(before: OvlState, after: OvlState, op: Op, versions: ReadonlyMap<string, number> = new Map()): ReadonlyMap<string, number> {
  const v = new Map(versions);
  let next = Math.max(0, ...v.values()) + 1;
  const bump = (path: string) => v.set(parentPath(path), next++);
  const drop = (root: string) => {
    for (const k of [...v.keys()]) if (k === root || k.startsWith(root + '/')) v.delete(k);
  };
  switch (op.op) {
    case 'open': case 'fdopen': {
      // Created: where the name it made is (open follows a dangling symlink to make its target).
      if (!op.flags.includes('O_CREAT')) break;
      const was = walkPath(before, op.path, true); // a dangling symlink's name is there: its target is not
      if (was.ok && isPositive(was.child)) break;
      const w = walkPath(after, op.path, true);
      if (w.ok && isPositive(w.child)) bump(w.child.path);
      break;
    }
    case 'mkdir': case 'mknod': case 'symlink': case 'unlink': bump(op.path); break;
    case 'fdlink': bump(op.path); break; // linkat(AT_EMPTY_PATH): ovl_link, or an O_TMPFILE named
    case 'rmdir': bump(op.path); drop(op.path); break;
    case 'link': bump(op.dst); break;
    case 'rename': {
      const exchange = op.flags?.includes('RENAME_EXCHANGE') ?? false;
      const moved = (from: string, to: string) => [...v].filter(([k]) => k === from || k.startsWith(from + '/')).map(([k, n]): [string, number] => [to + k.slice(from.length), n]);
      const src = moved(op.src, op.dst);
      const dst = exchange ? moved(op.dst, op.src) : [];
      drop(op.src);
      drop(op.dst);
      for (const [k, n] of [...src, ...dst]) v.set(k, n);
      bump(op.src);
      bump(op.dst);
      break;
    }
    default: break;
  }
  return v;
}

function follow(s: OvlState, op: Op, st: DirStream): DirStream {
  let path = st.path;
  if (path !== null) {
    const under = (root: string) => path === root || path!.startsWith(root + '/');
    if (op.op === 'rmdir' && path === op.path) path = null;
    else if (op.op === 'rename') {
      const exchange = op.flags?.includes('RENAME_EXCHANGE');
      if (under(op.src)) path = op.dst + path.slice(op.src.length);
      else if (under(op.dst)) path = exchange ? op.src + path.slice(op.dst.length) : null; // replaced: removed
    }
  }
  if (path === null || st.merged || st.marks.length === 0 || !st.real?.upper) return { ...st, path };
  // A real upper dir read while it changes: remember every entry it held since the start.
  const d = lookupPath(s, path);
  if (!d || !isDir(d)) return { ...st, path };
  const now = realEntries(s, st, d);
  const seen = new Map(st.seen!);
  let changed = st.changed || now.size !== seen.size;
  for (const [name, e] of now) {
    const was = seen.get(name);
    if (!was) {
      seen.set(name, e);
      changed = true;
    } else if (was.type !== e.type || was.ino !== e.ino) {
      seen.set(name, { name, type: was.type === e.type ? e.type : null, ino: was.ino === e.ino ? e.ino : null });
      if (was.type !== e.type) changed = true;
    }
  }
  for (const name of seen.keys()) if (!now.has(name)) changed = true;
  return { ...st, path, seen, changed };
}
