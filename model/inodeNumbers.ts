// Inode numbers and devices (inode.c ovl_getattr, ovl_map_dev_ino, ovl_map_ino; super.c
// ovl_get_fsid): which st_ino and st_dev an object shows through the overlay (S8).
//
// The model names inode numbers by identity, qualified by the filesystem whose numbers
// they are ("U/L0:5": object L0:5, numbered by the upper's fs), and devices by class
// ("ovl@2": the overlay's st_dev during the third mount). The comparison maps both onto real
// numbers (harness/compare.ts).

import { cover } from './coverage.js';
import { isIndexed, lowerNlink } from './indexdir.js';
import { hasOrigin, realInode, type OvlDentry } from './lookup.js';
import type { OvlState } from './state.js';

/**
 * The filesystem an object lives on: 'U', the upper's (every layer, unless the profile
 * splits them), or 'L', the one the original lower and data-only layers sit on. Layers that
 * were uppers (rotated, "U", "U1", ...) stay on the upper's.
 */
export function fsOfId(s: OvlState, id: string): 'U' | 'L' {
  return s.profile.split && /^[LD]\d/.test(id) ? 'L' : 'U';
}

/**
 * super.c: the number of distinct filesystems (fsid 0 is always the upper's), whether all
 * layers share one (samefs), and how many high st_ino bits xino uses for the fsid:
 * ilog2(numfs - 1) + 2 (S8.3), none with xino=off or on one fs.
 */
export function fsLayout(s: OvlState): { sameFs: boolean; xinoBits: number } {
  // asked for every entry: cached per profile and lower stack, which a mount does not change
  let byLowers = layouts.get(s.profile);
  if (!byLowers) layouts.set(s.profile, (byLowers = new WeakMap()));
  let l = byLowers.get(s.lowers);
  if (!l) byLowers.set(s.lowers, (l = computeLayout(s)));
  return l;
}

/**
 * Whether st_ino is unified, on one fs or with xino: listings then compute d_ino (readdir.c
 * ovl_calc_d_ino, S9.5), and an impure upper dir is read by ovl_iterate_real (S9.9).
 */
export function unifiedIno(s: OvlState): boolean {
  const { sameFs, xinoBits } = fsLayout(s);
  return sameFs || xinoBits > 0;
}

const layouts = new WeakMap<object, WeakMap<readonly unknown[], { sameFs: boolean; xinoBits: number }>>();

function computeLayout(s: OvlState): { sameFs: boolean; xinoBits: number } {
  const lowerFs = s.profile.split && [...s.lowers, ...s.dataLayers].some((l) => /^[LD]\d/.test(l.name));
  const numfs = lowerFs ? 2 : 1;
  if (numfs === 1) return { sameFs: true, xinoBits: 0 };
  return { sameFs: false, xinoBits: s.profile.xino === 'off' ? 0 : Math.floor(Math.log2(numfs - 1)) + 2 };
}

/**
 * Whose inode number an object shows (S8.1, S8.4): a copied-up object with a trusted origin
 * keeps the lower's; the root and objects without origin show their own. (ovl_getattr: the
 * origin's st_ino is used for an indexed object, else, unless nfs_export=on verifies lowers,
 * for a dir or a file whose lower is not hard-linked.)
 */
export function stIno(s: OvlState, d: OvlDentry): string {
  if (!d.upper) return d.lowers[0].inode.id;
  if (d.path === '/') cover('S8.9a');
  if (d.path === '/') return d.upper.id; // S8.9a: even when index=on gives it an origin (S12.1)
  if (d.lowers.length === 0) {
    // A metacopy file without origin: its overlay inode is hashed by the lower found by name,
    // unless hard-linked (inode.c ovl_hash_bylower), which then lends its st_ino.
    const byName = d.firstLower && s.lowerById.get(d.firstLower.id);
    return byName && lowerNlink(s, byName) === 1 ? byName.inode.id : d.upper.id;
  }
  const lower = d.lowers[0].inode.id;
  if (isIndexed(s, d)) return lower;
  if (s.profile.nfs_export) cover('S12.3');
  if (s.profile.nfs_export) return d.upper.id; // S12.3: only an indexed origin is trusted
  if (d.upper.type !== 'dir' && lowerNlink(s, d.lowers[0]) > 1) cover('S8.4');
  if (d.upper.type !== 'dir') return lowerNlink(s, d.lowers[0]) === 1 ? lower : d.upper.id; // S8.4
  return hasOrigin(s, d.upper) ? lower : d.upper.id;
}

/** st_ino and st_dev of a merged object, as the model names them (ovl_map_dev_ino). */
export function stDevIno(s: OvlState, d: OvlDentry): { ino: string; dev: string; inoHigh: number } {
  const mount = s.mountGen;
  const { sameFs, xinoBits } = fsLayout(s);
  const isDir = realInode(d).type === 'dir';
  if (!sameFs && xinoBits === 0 && isDir) {
    // S8.2: a dir gets a number the overlay hands out in order at each mount (ovl_next_ino),
    // one per overlay inode, which lives as long as the mount.
    cover(d.path === '/' ? 'S8.9a' : 'S8.2');
    return { ino: `ovl/~${overlayInodeKey(s, d)}@${mount}`, dev: `ovl@${mount}`, inoHigh: 0 };
  }
  const id = stIno(s, d);
  const fs = fsOfId(s, id);
  cover(sameFs ? 'S8.1' : xinoBits > 0 ? 'S8.3' : 'S8.2');
  if (sameFs) return { ino: `${fs}/${id}`, dev: `ovl@${mount}`, inoHigh: 0 }; // S8.1
  // S8.3: xino puts the fsid in the high bits (tmpfs numbers stay below 2^32); S8.2:
  // without xino, non-dirs show a pseudo device per underlying fs.
  if (xinoBits > 0) return { ino: `${fs}/${id}`, dev: `ovl@${mount}`, inoHigh: fsid(fs) * 2 ** (64 - xinoBits + 1 - 32) };
  return { ino: `${fs}/${id}`, dev: `pseudo:${fs}@${mount}`, inoHigh: 0 };
}

function fsid(fs: 'U' | 'L'): number {
  return fs === 'U' ? 0 : 1;
}

/**
 * Which overlay inode a dir is (inode.c ovl_get_inode hashes it by its lower dir, or by its
 * upper when it has none, or with nfs_export=on when it is not indexed; the root is its own).
 */
function overlayInodeKey(s: OvlState, d: OvlDentry): string {
  if (d.path === '/') return 'root';
  if (d.upper && (d.lowers.length === 0 || (s.profile.nfs_export && !isIndexed(s, d)))) return d.upper.id;
  return d.lowers[0].inode.id;
}
