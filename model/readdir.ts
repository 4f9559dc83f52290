// Directory listings (readdir.c).

import { cover } from './coverage.js';
import { heldCache, listCache } from './dirCache.js';
import type { Inode } from './layerFs.js';
import { isDir, isMergedDir, isPositive, lookupChild, realInode, type OvlDentry } from './lookup.js';
import { fsLayout, unifiedIno } from './inodeNumbers.js';
import { privateXattr } from './profile.js';
import type { OvlState } from './state.js';

/**
 * The names readdir returns. A dir that is not merged is read straight from its one real dir
 * (S9.1), so whiteouts and names whose lookup fails are listed (S22.9). A merged dir lists the
 * union of its layers without whiteouts (S9.2); while listing, ovl_iterate looks some entries
 * up, and drops those whose lookup fails (S22.2): to compute d_ino, every entry when xino
 * remaps inode numbers (S8.3) and, on one fs, every upper entry of an impure dir (S9.9);
 * and the regular files of a lower layer flagged for xattr whiteouts
 * in a dir that has an opaque=x lower (S3.5, S22.3).
 */
export function readDir(s: OvlState, dir: OvlDentry, xwLayers: ReadonlySet<number> = s.xwLayers): string[] {
  return listDir(s, dir, xwLayers).names;
}

/**
 * A listing as getdents(2) calls with a large buffer see it: the names, or the errno the
 * listing fails with. A merged dir's entry whose lookup fails with an error (not a negative
 * lookup) is dropped from the listing and ends that getdents call, which returns what it
 * filled so far; the next call skips that entry, and fails with the errno if the first entry it
 * looks up fails too (readdir.c ovl_iterate and ovl_cache_update, fs/readdir.c: a call that
 * filled entries returns them, not the error). So one failing entry is dropped (S22.2), two
 * in a row in the kernel's order (S9.3) fail the listing (found by experiment, 6.18, after a
 * remount without metacopy of a dir holding two metacopy names).
 */
export function listDir(s: OvlState, dir: OvlDentry, xwLayers: ReadonlySet<number> = s.xwLayers): { names: string[]; errno?: string } {
  if (!isDir(dir)) return { names: [] };
  cover(isMergedDir(dir) ? 'S9.2' : 'S9.1');
  if (!isMergedDir(dir)) {
    const names = [...realInode(dir).children!.keys()].sort();
    // An impure upper dir read by ovl_iterate_real (one fs, or xino) looks every entry up
    // before it returns any (ovl_dir_read_impure): a lookup that fails fails the listing
    // (found by run, data-only with remounts: a metacopy name after a remount without
    // metacopy). Otherwise the real dir is read as is (S9.1, S22.9).
    if (dir.upper && privateXattr(s.profile, 'impure') in dir.upper.xattrs && unifiedIno(s)) {
      for (const n of names) {
        const e = lookupChild(s, dir, n).error;
        if (e !== undefined && e !== 'ENOENT') return { names: [], errno: e };
      }
    }
    return { names };
  }
  // An open stream holds the dir's cache at this version: the listing reads it, with its marks (model/dirCache.ts).
  const held = heldCache(s, dir.path);
  if (held) {
    const { names, errno } = listCache(() => s, dir, held);
    return errno === undefined ? { names } : { names, errno };
  }
  const dIno = computesDIno(s, dir);
  // Each entry: listed, dropped (a negative lookup: stale), or failing with an errno.
  const entries = mergedEntries(dir, xwLayers).map((e) => {
    if (!(dIno(e.upper) || e.checkXwhiteout)) return { e, listed: true };
    const d = lookupChild(s, dir, e.name);
    if (isPositive(d)) return { e, listed: true };
    cover('S22.2');
    return { e, listed: false, errno: d.error !== undefined && d.error !== 'ENOENT' ? d.error : undefined };
  });
  const names = entries.filter((x) => x.listed).map((x) => x.e.name); // mergedEntries sorts by name
  // "." and ".." fill the first call, so one failing entry is only dropped; the order matters from two on.
  if (entries.filter((x) => x.errno).length < 2) return { names };
  const status = new Map(entries.map((x) => [x.e, x]));
  let filled = 2; // "." and ".." come first on tmpfs, the lowest layer's fs (S9.3, S9.10)
  for (const e of kernelOrder(entries.map((x) => x.e), dir)) {
    const x = status.get(e)!;
    if (x.errno) {
      if (filled === 0) return { names, errno: x.errno };
      filled = 0; // this getdents call ends here
    } else if (x.listed) filled++;
  }
  return { names };
}

/**
 * The order a merged dir lists in (S9.3): the lowest layer's names in its native order, then
 * the names only higher layers have, from the upper down, each layer in its native order.
 * tmpfs lists the newest name first: the reverse of the order a layer's children were made.
 */
export function kernelOrder<E extends { name: string }>(entries: E[], dir: OvlDentry): E[] {
  cover('S9.3');
  const layers = [...(dir.upper ? [dir.upper] : []), ...dir.lowers.map((l) => l.inode)];
  const rank = new Map<string, number>();
  const native = (ino: Inode) => [...ino.children!.keys()].reverse();
  let n = 0;
  for (const name of native(layers[layers.length - 1])) rank.set(name, n++);
  for (const ino of layers.slice(0, -1)) for (const name of native(ino)) if (!rank.has(name)) rank.set(name, n++);
  return [...entries].sort((a, b) => rank.get(a.name)! - rank.get(b.name)!);
}

/**
 * ovl_calc_d_ino: whether a merged dir's entry (from the upper or not) is looked up for its
 * d_ino: where st_ino is unified, every entry with xino, the upper entries of an impure dir on
 * one fs.
 */
function computesDIno(s: OvlState, dir: OvlDentry): (upper: boolean) => boolean {
  const impure = dir.upper !== null && privateXattr(s.profile, 'impure') in dir.upper.xattrs;
  const { sameFs, xinoBits } = fsLayout(s);
  return (upper) => xinoBits > 0 || (sameFs && upper && impure);
}

/** An entry of the cache ovl_iterate builds for a merged dir (S9.2). */
export interface CacheEntry {
  name: string;
  /** The topmost layer's entry: its type is d_type (S9.4), its real inode number d_ino unless looked up. */
  inode: Inode;
  /** Looked up when the cursor reaches it (ovl_cache_update): dropped then if that fails (S22.2), d_ino from it (S9.5). */
  lookup: boolean;
  /** Looked up again each time it is read (p->check_xwhiteout, S22.3). */
  recheck: boolean;
}

/** ovl_cache_get: a merged dir's entries, whiteouts left out, with what readDir decides per entry. */
export function mergedCache(s: OvlState, dir: OvlDentry): CacheEntry[] {
  const dIno = computesDIno(s, dir);
  return mergedEntries(dir, s.xwLayers).map((e) => ({ name: e.name, inode: e.inode, lookup: dIno(e.upper) || e.checkXwhiteout, recheck: e.checkXwhiteout }));
}

interface MergedEntry {
  name: string;
  /** The topmost entry is in the upper layer. */
  upper: boolean;
  inode: Inode;
  /** A regular file in a flagged layer: looked up while listing (p->check_xwhiteout). */
  checkXwhiteout: boolean;
}

/**
 * ovl_dir_read_merged: the union of the names in the dir's layers, topmost first, without
 * the names whose topmost entry is a (char device) whiteout. `xwLayers` null: the emptiness
 * check, which never looks at xattrs.
 */
function mergedEntries(dir: OvlDentry, xwLayers: ReadonlySet<number> | null): MergedEntry[] {
  const hasXwhiteouts = xwLayers !== null && dir.lowers.some((l) => l.xwhiteouts);
  if (hasXwhiteouts) cover('S22.3');
  const layers: { ino: Inode; upper: boolean; xw: boolean }[] = [];
  if (dir.upper) layers.push({ ino: dir.upper, upper: true, xw: false });
  for (const l of dir.lowers) layers.push({ ino: l.inode, upper: false, xw: hasXwhiteouts && xwLayers!.has(l.layer) });
  const seen = new Map<string, MergedEntry | null>();
  for (const { ino, upper, xw } of layers) {
    for (const [name, child] of ino.children!) {
      if (seen.has(name)) continue;
      seen.set(name, child.type === 'whiteout' && child.ghost === undefined ? null : { name, upper, inode: child, checkXwhiteout: xw && child.type === 'file' });
    }
  }
  return [...seen.values()].filter((e): e is MergedEntry => e !== null).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * Every name a listing of the dir followed by a stat of each listed name looks up: a merged
 * dir's entries (those dropped from the listing were looked up while listing), or the real
 * dir's names.
 */
export function walkedNames(s: OvlState, dir: OvlDentry): string[] {
  if (!isDir(dir)) return [];
  if (!isMergedDir(dir)) return [...realInode(dir).children!.keys()].sort();
  return mergedEntries(dir, s.xwLayers).map((e) => e.name);
}

/** Listed names whose lookup succeeds. */
export function positiveNames(s: OvlState, dir: OvlDentry): string[] {
  return readDir(s, dir).filter((n) => isPositive(lookupChild(s, dir, n)));
}

/** ovl_check_empty_dir: whiteouts do not count, in any layer (S4.8); xattr whiteouts do. */
export function checkEmptyDir(_s: OvlState, dir: OvlDentry): boolean {
  return mergedEntries(dir, null).length === 0;
}
