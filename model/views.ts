// What the model predicts each view shows: the merged mount (getattr in inode.c,
// listings from readdir.c) and each raw layer directory.

import { linkCounts, walkLayer, type Inode, type LayerFs } from './layerFs.js';
import { hasOrigin, isDir, isMergedDir, isPositive, lookupChild, lookupPath, realInode, rootDentry, type OvlDentry } from './lookup.js';
import { atLeast, privatePrefix } from './profile.js';
import { indexedUpper, isIndexed, lowerNlink, overlayNlink } from './indexdir.js';
import { readDir } from './readdir.js';
import type { OvlState } from './state.js';
import type { SnapEntry, Snapshot } from './types.js';

const lowerCounts = new WeakMap<LayerFs, Map<Inode, number>>(); // lowers never change

function countsOf(layer: LayerFs, mutable: boolean): Map<Inode, number> {
  if (mutable) return linkCounts(layer);
  let c = lowerCounts.get(layer);
  if (!c) lowerCounts.set(layer, (c = linkCounts(layer)));
  return c;
}

/**
 * The merged view: every visible name with what stat, readlink, read and listxattr return.
 * `listing` is the state each directory is listed in, when that differs (see Session.settle).
 */
export function mergedView(s: OvlState, listing: OvlState = s): Snapshot {
  // Layer flags grow as the walk (depth first, names sorted) looks dirs up (S22.3).
  const xwLayers = new Set(listing.xwLayers);
  const upperCounts = countsOf(s.upper, true);
  const snap: Snapshot = new Map();
  const visit = (d: OvlDentry) => {
    if (!isPositive(d)) {
      // listed by readdir but lookup fails (S22.9)
      snap.set(d.path, { kind: 'error', errno: d.error ?? 'ENOENT', mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, xattrs: {} });
      return;
    }
    const real = realInode(d);
    const counts = d.upper ? upperCounts : countsOf(s.lowers[d.lowers[0].layer], false);
    const xattrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(real.xattrs)) {
      const shown = mergedXattrName(s, k);
      if (shown !== null) xattrs[shown] = v;
    }
    snap.set(d.path, {
      kind: real.type,
      mode: real.mode,
      uid: 0,
      gid: 0,
      nlink: isMergedDir(d) ? 1 : indexedUpper(s, d) ? overlayNlink(s, d, upperCounts) : counts.get(real)!, // S8.5, S8.6, S6.6
      ino: stIno(s, d),
      ...(real.type === 'file' ? { data: (d.dataLower ?? real).data } : {}), // S7.1: data from below
      ...(real.type === 'symlink' ? { target: real.target } : {}),
      xattrs,
    });
    if (!isDir(d)) return;
    for (const l of d.lowers) if (l.xwhiteouts) xwLayers.add(l.layer);
    const listed = listing === s ? d : lookupPath(listing, d.path)!;
    for (const name of readDir(listing, listed, xwLayers)) visit(lookupChild(s, d, name));
  };
  visit(rootDentry(s));
  return snap;
}

/**
 * The name an xattr of a real object shows under in the merged view, or null if hidden:
 * private P.* names are hidden (S10.1); from 6.7 an escaped P.overlay.X shows as P.X (S10.2).
 */
export function mergedXattrName(s: OvlState, name: string): string | null {
  const P = privatePrefix(s.profile);
  if (!name.startsWith(P)) return name;
  if (atLeast(s.kernel, 6, 7) && name.startsWith(`${P}overlay.`)) return P + name.slice(P.length + 'overlay.'.length);
  return null;
}

/**
 * S8.1 (samefs): a copied-up object with an origin keeps the lower st_ino; the root and
 * objects without origin show their real inode. Names are inode identities, not numbers.
 * (inode.c ovl_getattr: the origin's st_ino is used for an indexed object, else, unless
 * nfs_export=on verifies lowers, for a dir or a file whose lower is not hard-linked.)
 */
export function stIno(s: OvlState, d: OvlDentry): string {
  if (!d.upper) return d.lowers[0].inode.id;
  if (d.path === '/') return d.upper.id; // S8.9a: even when index=on gives it an origin (S12.1)
  if (d.lowers.length === 0) return d.upper.id;
  const lower = d.lowers[0].inode.id;
  if (isIndexed(s, d)) return lower;
  if (s.profile.nfs_export) return d.upper.id; // S12.3: only an indexed origin is trusted
  if (d.upper.type !== 'dir') return lowerNlink(s, d.lowers[0]) === 1 ? lower : d.upper.id; // S8.4
  return hasOrigin(s, d.upper) ? lower : d.upper.id;
}

/** A raw layer directory as the harness sees it on disk, private xattrs included. */
export function layerView(layer: LayerFs, mutable: boolean): Snapshot {
  const counts = countsOf(layer, mutable);
  const snap: Snapshot = new Map();
  walkLayer(layer, (path, ino) => {
    const e: SnapEntry = {
      kind: ino.type,
      mode: ino.mode,
      uid: 0,
      gid: 0,
      nlink: counts.get(ino) ?? 1,
      ino: ino.id,
      xattrs: { ...ino.xattrs },
    };
    if (ino.type === 'file') e.data = ino.data;
    if (ino.type === 'symlink') e.target = ino.target;
    snap.set(path, e);
  });
  return snap;
}

export function upperView(s: OvlState): Snapshot {
  return layerView(s.upper, true);
}

/** Lower i, then the data-only layers (i >= number of lowers). */
export function lowerView(s: OvlState, i: number): Snapshot {
  return layerView(i < s.lowers.length ? s.lowers[i] : s.dataLayers[i - s.lowers.length], false);
}
