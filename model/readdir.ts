// Directory listings (readdir.c).

import { isDir, isMergedDir, isPositive, lookupChild, realInode, type OvlDentry } from './lookup.js';
import type { OvlState } from './state.js';

/**
 * The names readdir returns. A merged dir lists the union over its layers, de-duplicated,
 * without whiteouts and what they hide (S9.2). A dir that is not merged is read straight
 * from its one real dir (S9.1), so a whiteout inside it is listed although its lookup
 * fails (S22.9).
 */
export function readDir(s: OvlState, dir: OvlDentry): string[] {
  if (!isDir(dir)) return [];
  if (!isMergedDir(dir)) return [...realInode(dir).children!.keys()].sort();
  return positiveNames(s, dir);
}

/** Names whose lookup succeeds. */
export function positiveNames(s: OvlState, dir: OvlDentry): string[] {
  const names = new Set<string>();
  if (dir.upper) for (const n of dir.upper.children!.keys()) names.add(n);
  for (const l of dir.lowers) if (l.inode.children) for (const n of l.inode.children.keys()) names.add(n);
  return [...names].filter((n) => isPositive(lookupChild(s, dir, n))).sort();
}

/** ovl_check_empty_dir: whiteouts do not count, in any layer (S4.8). */
export function checkEmptyDir(s: OvlState, dir: OvlDentry): boolean {
  return positiveNames(s, dir).length === 0;
}
