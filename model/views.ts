// What the model predicts each view shows: the merged mount (getattr in inode.c,
// listings from readdir.c) and each raw layer directory.

import { cover } from './coverage.js';
import { linkCounts, walkLayer, type Inode, type LayerFs } from './layerFs.js';
import { isDir, isMergedDir, isPositive, lookupChild, lookupPath, realInode, rootDentry, type OvlDentry } from './lookup.js';
import { privatePrefix } from './profile.js';
import { hasFeature } from './versions.js';
import { indexedUpper, overlayNlink } from './indexdir.js';
import { fsOfId, stDevIno } from './inodeNumbers.js';
import { listDir } from './readdir.js';
import { blocksOf } from './sparse.js';
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
      cover('S22.9');
      snap.set(d.path, { kind: 'error', errno: d.error ?? 'ENOENT', mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, xattrs: {} });
      return;
    }
    snap.set(d.path, objectEntry(s, d, upperCounts));
    if (!isDir(d)) return;
    for (const l of d.lowers) if (l.xwhiteouts) xwLayers.add(l.layer);
    const listed = listing === s ? d : lookupPath(listing, d.path)!;
    const { names, errno } = listDir(listing, listed, xwLayers);
    // A listing that fails: the dir shows as that error, as the walk records it (harness/snapshot.ts).
    if (errno !== undefined) {
      snap.set(d.path, { kind: 'error', errno, mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, xattrs: {} });
      return;
    }
    for (const name of names) visit(lookupChild(s, d, name));
  };
  visit(rootDentry(s));
  return snap;
}

/** What stat, readlink, read and listxattr return for one positive merged object (an fd's too). */
export function objectEntry(s: OvlState, d: OvlDentry, upperCounts = countsOf(s.upper, true)): SnapEntry {
  const real = realInode(d);
  cover(real.type === 'dir' ? 'S8.5' : 'S8.6');
  if (isMergedDir(d) && Object.keys(real.xattrs).length > 0) cover('S10.4'); // the topmost dir's
  const counts = d.upper ? upperCounts : countsOf(s.lowers[d.lowers[0].layer], false);
  const xattrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(real.xattrs)) {
    const shown = mergedXattrName(s, k);
    if (shown !== null) xattrs[shown] = v;
  }
  if (real.type === 'file' && d.dataLower) cover('S8.7'); // st_blocks from the data below
  return {
    kind: real.type,
    mode: real.mode,
    uid: real.uid,
    gid: real.gid,
    ...(real.mtime !== undefined ? { mtime: real.mtime } : {}),
    nlink: isMergedDir(d) ? 1 : indexedUpper(s, d) ? overlayNlink(s, d, upperCounts) : counts.get(real)!, // S8.5, S8.6, S6.6
    ...stDevIno(s, d),
    ...(real.type === 'file' ? { data: (d.dataLower ?? real).data, blocks: blocksOf(d.dataLower ?? real) } : {}), // S7.1, S8.7: data and st_blocks from below
    ...(real.type === 'symlink' ? { target: real.target } : {}),
    xattrs,
  };
}

/**
 * The name an xattr of a real object shows under in the merged view, or null if hidden:
 * private P.* names are hidden (S10.1); from 6.7 an escaped P.overlay.X shows as P.X (S10.2).
 */
export function mergedXattrName(s: OvlState, name: string): string | null {
  const P = privatePrefix(s.profile);
  if (!name.startsWith(P)) return name;
  if (hasFeature(s.kernel, 'escapedXattrs') && name.startsWith(`${P}overlay.`)) {
    cover('S10.2');
    if (name === `${P}overlay.whiteout` || name === `${P}overlay.opaque`) cover('S3.8'); // for an outer overlay
    return P + name.slice(P.length + 'overlay.'.length);
  }
  cover('S10.1');
  return null;
}

/** A raw layer directory as the harness sees it on disk, private xattrs included. */
export function layerView(s: OvlState, layer: LayerFs, mutable: boolean): Snapshot {
  const counts = countsOf(layer, mutable);
  const snap: Snapshot = new Map();
  walkLayer(layer, (path, ino) => {
    if (ino.ghost !== undefined) {
      snap.set(path, { kind: 'error', errno: ino.ghost, mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, xattrs: {} });
      return;
    }
    const e: SnapEntry = {
      kind: ino.type,
      mode: ino.mode,
      uid: ino.uid,
      gid: ino.gid,
      ...(ino.mtime !== undefined ? { mtime: ino.mtime } : {}),
      nlink: counts.get(ino) ?? 1,
      ino: `${fsOfId(s, ino.id)}/${ino.id}`,
      dev: `fs:${fsOfId(s, ino.id)}`,
      xattrs: { ...ino.xattrs },
    };
    if (ino.type === 'file') {
      e.data = ino.data;
      e.blocks = blocksOf(ino);
    }
    if (ino.type === 'symlink') e.target = ino.target;
    snap.set(path, e);
  });
  return snap;
}

export function upperView(s: OvlState): Snapshot {
  return layerView(s, s.upper, true);
}

/** Lower i, then the data-only layers (i >= number of lowers). */
export function lowerView(s: OvlState, i: number): Snapshot {
  return layerView(s, i < s.lowers.length ? s.lowers[i] : s.dataLayers[i - s.lowers.length], false);
}
