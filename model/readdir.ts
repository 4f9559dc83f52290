// Directory listings (readdir.c).

import type { Inode } from './layerFs.js';
import { isDir, isMergedDir, isPositive, isXattrWhiteout, lookupChild, realInode, type OvlDentry } from './lookup.js';
import { privatePrefix } from './profile.js';
import type { OvlState } from './state.js';

/**
 * The names readdir returns. A merged dir lists what readMerged gives (S9.2, S9.9). A dir that is
 * not merged is read straight from its one real dir (S9.1), so whiteouts inside it are
 * listed although their lookup fails (S22.9).
 */
export function readDir(s: OvlState, dir: OvlDentry, xwLayers: ReadonlySet<number> = s.xwLayers): string[] {
  if (!isDir(dir)) return [];
  if (!isMergedDir(dir)) return [...realInode(dir).children!.keys()].sort();
  const names = readMerged(s, dir, xwLayers);
  // In an impure merged dir every upper entry is looked up to compute its d_ino, and one
  // whose lookup fails is dropped as stale (ovl_calc_d_ino, ovl_cache_update).
  const upper = dir.upper;
  if (!upper || !(`${privatePrefix(s.profile)}impure` in upper.xattrs)) return names;
  return names.filter((n) => !upper.children!.has(n) || isPositive(lookupChild(s, dir, n)));
}

/**
 * ovl_dir_read_merged: the union of the names in the dir's layers, topmost first, without
 * the names whose topmost entry is a whiteout. An xattr whiteout only counts as one when
 * listing (ovl_iterate), in a dir that has an opaque=x lower, and in a layer where a lookup
 * has met an opaque=x dir since the mount (S3.5, S22.3); elsewhere it is listed and its
 * lookup fails (S22.9). `xwLayers` null: the emptiness check, which never looks at xattrs.
 */
export function readMerged(s: OvlState, dir: OvlDentry, xwLayers: ReadonlySet<number> | null): string[] {
  const hasXwhiteouts = xwLayers !== null && dir.lowers.some((l) => l.xwhiteouts);
  const layers: { ino: Inode; xw: boolean }[] = [];
  if (dir.upper) layers.push({ ino: dir.upper, xw: false });
  for (const l of dir.lowers) layers.push({ ino: l.inode, xw: hasXwhiteouts && xwLayers!.has(l.layer) });
  const hidden = new Map<string, boolean>();
  for (const { ino, xw } of layers) {
    for (const [name, child] of ino.children!) {
      if (hidden.has(name)) continue;
      hidden.set(name, child.type === 'whiteout' || (xw && isXattrWhiteout(s, child)));
    }
  }
  return [...hidden].filter(([, h]) => !h).map(([n]) => n).sort();
}

/** Listed names whose lookup succeeds. */
export function positiveNames(s: OvlState, dir: OvlDentry): string[] {
  return readDir(s, dir).filter((n) => isPositive(lookupChild(s, dir, n)));
}

/** ovl_check_empty_dir: whiteouts do not count, in any layer (S4.8); xattr whiteouts do. */
export function checkEmptyDir(s: OvlState, dir: OvlDentry): boolean {
  return readMerged(s, dir, null).length === 0;
}
