// The inodes index (index=on, S6.6, S12): util.c ovl_need_index, ovl_nlink_start/end and
// ovl_cleanup_index, inode.c ovl_get_nlink and ovl_set_nlink_upper. Copy-up of an indexed
// file goes through the index (copyUp.ts); lookup finds it there (lookup.ts).

import { cover } from './coverage.js';
import { linkCounts, type Inode, type LayerFs } from './layerFs.js';
import { hasOrigin, type LowerRef, type OvlDentry } from './lookup.js';
import { privateXattr } from './profile.js';
import { hasFeature } from './versions.js';
import { activeIndex, type OvlState } from './state.js';

const lowerCounts = new WeakMap<LayerFs, Map<Inode, number>>(); // lowers never change

/** The real link count of a lower object in its own layer. */
export function lowerNlink(s: OvlState, ref: LowerRef): number {
  const layer = s.lowers[ref.layer];
  let c = lowerCounts.get(layer);
  if (!c) lowerCounts.set(layer, (c = linkCounts(layer)));
  return c.get(ref.inode) ?? 1;
}

/**
 * ovl_need_index: with index=on, copy-up of a lower hard link goes through the index; with
 * nfs_export=on, copy-up of anything with a lower does (S6.6, S12.3).
 */
export function needIndex(s: OvlState, d: OvlDentry): boolean {
  if (!activeIndex(s) || d.lowers.length === 0) return false;
  if (s.profile.nfs_export) return true;
  return d.lowers[0].inode.type !== 'dir' && lowerNlink(s, d.lowers[0]) > 1;
}

/** Whether the dentry's upper is what the index holds for its origin (the inode is OVL_INDEX). */
export function isIndexed(s: OvlState, d: OvlDentry): boolean {
  return d.upper !== null && d.lowers.length > 0 && activeIndex(s)?.get(d.lowers[0].inode.id) === d.upper;
}

/**
 * ovl_type_origin, from inode.c ovl_hash_bylower (OVL_CONST_INO): an upper object that keeps
 * a lower's identity, for a dir its merge, for a non-dir its origin; with nfs_export=on only
 * if it is indexed (found by run --option-sets: a pre-existing upper dir renamed into a new
 * parent does not mark it impure, S5.11).
 */
export function typeOrigin(s: OvlState, d: OvlDentry): boolean {
  if (!d.upper) return false;
  const lower = d.upper.type === 'dir' ? d.lowers.length > 0 || hasOrigin(s, d.upper) : d.lowers.length > 0;
  if (!lower) return false;
  // ovl_hash_bylower: not a non-dir whose hard-linked lower's link was broken by copy-up
  // (an upper not in the index in use; found by run --runs 1000, index then a remount with index=off).
  if (d.upper.type !== 'dir' && !isIndexed(s, d) && lowerNlink(s, d.lowers[0]) > 1) return false;
  return !s.profile.nfs_export || isIndexed(s, d);
}

/** The index entry a non-dir dentry's upper is, if any. */
export function indexedUpper(s: OvlState, d: OvlDentry): Inode | undefined {
  return isIndexed(s, d) && d.upper!.type !== 'dir' ? d.upper! : undefined;
}

/**
 * The nlink an indexed file reports (S6.6, S8.6): what the overlay inode holds in memory, or
 * at the first lookup after a mount ovl_get_nlink: the upper's real nlink (index link
 * included) plus the P.nlink offset, or the upper's real nlink alone when the origin is not
 * hard-linked (nfs_export=on copies those through the index too).
 */
export function overlayNlink(s: OvlState, d: OvlDentry, upperCounts: Map<Inode, number> = linkCounts(s.upper)): number {
  const up = indexedUpper(s, d)!;
  cover('S6.6'); // the union count
  const mem = s.memNlink.get(up.id);
  if (mem !== undefined) return mem;
  const real = upperCounts.get(up) ?? 0;
  // A lower with one link: the upper's real nlink, unless this kernel reads P.nlink of every indexed file.
  if (lowerNlink(s, d.lowers[0]) === 1 && !hasFeature(s.kernel, 'indexedNlinkXattr')) return real;
  const m = /^([UL])([+-]\d+)$/.exec(up.xattrs[privateXattr(s.profile, 'nlink')] ?? '');
  if (!m) return real;
  cover('S12.3'); // P.nlink
  const nlink = (m[1] === 'U' ? real : lowerNlink(s, d.lowers[0])) + Number(m[2]);
  return nlink > 0 ? nlink : real;
}

/** ovl_set_nlink_upper: P.nlink = "U" and the overlay nlink minus the upper's real nlink. */
export function setNlinkUpper(s: OvlState, up: Inode, nlink: number): void {
  const diff = nlink - (linkCounts(s.upper).get(up) ?? 0);
  up.xattrs[privateXattr(s.profile, 'nlink')] = `U${diff >= 0 ? '+' : ''}${diff}`;
  s.memNlink.set(up.id, nlink);
}

/**
 * ovl_nlink_end after an operation that added (+1) or removed (-1) a name of an indexed
 * file (call ovl_nlink_start's setNlinkUpper before it): the overlay nlink follows, and the
 * index entry goes with the last name (ovl_cleanup_index; with nfs_export a whiteout takes
 * its place in the workdir, which is not compared).
 */
export function nlinkEnd(s: OvlState, origin: string, up: Inode, nlink: number): void {
  s.memNlink.set(up.id, nlink);
  if (nlink === 0) s.upper.index!.delete(origin);
  if (nlink === 0) cover('S12.3'); // the index entry goes with the last name
}
