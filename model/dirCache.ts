// The cache a merged dir is read from (readdir.c ovl_cache_get, ovl_iterate, ovl_cache_update).
//
// One cache per dir version, shared by every open of the dir while one holds it (S9.8): the
// snapshot walk's own listing reads a stream's cache too. Its entries are in the kernel's
// order (S9.3), `.` and `..` first. An entry whose d_ino needs a lookup is looked up when a
// cursor reaches it, once; one checked for xattr whiteouts at every pass (S22.3). A lookup
// that fails or finds nothing marks the entry stale (p->is_whiteout) for every holder: it is
// skipped from then on (S22.2). A failing lookup also ends the getdents call: the call returns
// what it filled, or the errno if it filled nothing. getdents looks up the entry after the
// last one it returns before it finds the buffer full (ovl_iterate updates, then emits).

import { cover } from './coverage.js';
import { typeOrigin } from './indexdir.js';
import { isDir, isPositive, lookupChild, lookupPath, rootDentry, type OvlDentry } from './lookup.js';
import { stDevIno, unifiedIno } from './inodeNumbers.js';
import { listDir } from './readdir.js'; // which reads held caches itself: the two modules need each other
import type { OvlState } from './state.js';
import type { DType } from './types.js';

export interface Cached {
  name: string;
  type: DType;
  /** d_ino, as the model names inode numbers (null: not compared); a pending entry's until its lookup. */
  ino: string | null;
  /** Looked up when a cursor first reaches it (p->ino == 0: d_ino comes from the lookup, S9.5). */
  pending: boolean;
  /** Looked up again each time a cursor reaches it (p->check_xwhiteout, S22.3). */
  recheck: boolean;
  /** Marked stale (p->is_whiteout): its lookup failed or found nothing (S22.2). */
  stale: boolean;
}

export interface DirCache {
  /** The dir's version (ovl_dir_version_inc) the cache was built at. */
  version: number;
  entries: readonly Cached[];
}

/** What holds a cache: an open stream (model/dirStream.ts). */
interface Holder {
  path: string | null;
  merged: boolean;
  cache: DirCache | null;
}

export function dirVersion(s: OvlState, path: string): number {
  return s.dirVersions?.get(path) ?? 0;
}

/** The cache an open stream holds for the dir at its current version, which every new open shares (ovl_cache_get). */
export function heldCache(s: OvlState, path: string): DirCache | null {
  if (!s.streams) return null;
  const version = dirVersion(s, path);
  for (const st of s.streams as readonly (Holder | null)[]) {
    if (st?.merged && st.cache && st.path === path && st.cache.version === version) return st.cache;
  }
  return null;
}

/** Every stream holding `old` holds `now` instead: the marks are the shared cache's. */
export function replaceCache(s: OvlState, old: DirCache, now: DirCache): OvlState {
  if (old === now || !s.streams) return s;
  return { ...s, streams: s.streams.map((st) => (st && st.cache === old ? { ...st, cache: now } : st)) };
}

type Lookup = { ok: true; ino: string | null } | { ok: false; errno?: string };

/** ovl_cache_update: the entry's lookup in `after` (the state with the lookup's own effects), and its d_ino. */
function lookUp(after: OvlState, d: OvlDentry, e: Cached): Lookup {
  const wd = lookupPath(after, d.path) ?? d;
  const c = lookupChild(after, wd, e.name);
  if (!isPositive(c)) return { ok: false, errno: c.error !== undefined && c.error !== 'ENOENT' ? c.error : undefined };
  return { ok: true, ino: unifiedIno(after) && typeOrigin(after, c) ? stDevIno(after, c).ino : e.ino };
}

interface Call {
  emitted: Cached[];
  /** Where the cursor stops: on the entry found with the buffer full, or on the failing one. */
  at: number;
  errno?: string;
}

/** One getdents call from `at` with room for `room` entries; marks `entries` (a copy) as it goes. */
function getdents(after: () => OvlState, d: OvlDentry, entries: Cached[], at: number, room: number): Call {
  const out: Cached[] = [];
  for (; at < entries.length; at++) {
    let e = entries[at];
    if (!e.stale && (e.pending || e.recheck)) {
      const r = lookUp(after(), d, e);
      e = entries[at] = r.ok ? { ...e, pending: false, ino: r.ino } : { ...e, pending: false, stale: true };
      if (!r.ok) cover('S22.2');
      if (!r.ok && r.errno) return out.length ? { emitted: out, at } : { emitted: out, at, errno: r.errno };
    }
    if (e.stale) continue;
    if (out.length === room) break; // dir_emit finds the buffer full: the cursor stays here
    out.push(e);
  }
  return { emitted: out, at };
}

/**
 * A stream's read of up to n entries from `at`, one getdents call per entry (harness/dirStreams.ts):
 * fewer if a call fails after the first, the errno if the first one fails.
 */
export function readCache(after: () => OvlState, d: OvlDentry, cache: DirCache, at: number, n: number): Call & { cache: DirCache } {
  const entries = [...cache.entries];
  const emitted: Cached[] = [];
  let errno: string | undefined;
  while (emitted.length < n) {
    const r = getdents(after, d, entries, at, 1);
    if (r.errno) {
      if (!emitted.length) errno = r.errno;
      break;
    }
    if (!r.emitted.length) break;
    emitted.push(...r.emitted);
    at = r.at;
  }
  return { emitted, at, ...(errno ? { errno } : {}), cache: changed(cache, entries) };
}

/** A listing through the cache from its start, getdents with a large buffer until the end or an errno. */
export function listCache(after: () => OvlState, d: OvlDentry, cache: DirCache): { names: string[]; errno?: string; cache: DirCache } {
  cover('S9.8'); // a new open shares the cache another open holds
  const entries = [...cache.entries];
  const names: string[] = [];
  for (let at = 0; ;) {
    const r = getdents(after, d, entries, at, Infinity);
    if (r.errno) return { names, errno: r.errno, cache: changed(cache, entries) };
    if (!r.emitted.length) break;
    for (const e of r.emitted) if (e.name !== '.' && e.name !== '..') names.push(e.name);
    at = r.at;
  }
  return { names: names.sort(), cache: changed(cache, entries) };
}

/** The entries a read may return in any order (DirReadSpec): those not stale, a pending one only if its lookup would succeed. */
export function readable(after: () => OvlState, d: OvlDentry, cache: DirCache): { name: string; type: DType; ino: string | null }[] {
  const out = [];
  for (const e of cache.entries) {
    if (e.stale) continue;
    let ino = e.ino;
    if (e.pending || e.recheck) {
      const r = lookUp(after(), d, e);
      if (!r.ok) continue;
      if (e.pending) ino = r.ino;
    }
    out.push({ name: e.name, type: e.type, ino });
  }
  return out;
}

function changed(cache: DirCache, entries: Cached[]): DirCache {
  return entries.every((e, i) => e === cache.entries[i]) ? cache : { ...cache, entries };
}

/**
 * The snapshot walk after a step lists every dir it reaches; where a stream holds the dir's
 * cache at its version, that listing reads the same cache and leaves its marks there.
 * `listing`: the state the walk lists; `after`: the state it leaves.
 */
export function walkThroughHeldCaches(listing: OvlState, after: OvlState): OvlState {
  let out = after;
  const done = new Set<DirCache>();
  for (const st of (listing.streams ?? []) as readonly (Holder | null)[]) {
    if (!st?.merged || !st.cache || st.path === null || done.has(st.cache)) continue;
    const cache = heldCache(listing, st.path);
    if (cache !== st.cache) continue; // an older version's: the stream's own
    done.add(cache);
    const d = reachedByWalk(listing, st.path);
    if (!d) continue;
    out = replaceCache(out, cache, listCache(() => after, d, cache).cache);
  }
  return out;
}

/** The dir at path if the walk reaches it: every dir above lists it and its lookup finds a dir. */
function reachedByWalk(s: OvlState, path: string): OvlDentry | null {
  let d = rootDentry(s);
  for (const name of path.split('/').filter(Boolean)) {
    const l = listDir(s, d);
    if (l.errno !== undefined || !l.names.includes(name)) return null;
    d = lookupChild(s, d, name);
    if (!isPositive(d) || !isDir(d)) return null;
  }
  return d;
}
