// What mounting writes to the upper layer (super.c), and what the harness's walk of the
// whole merged tree after every step writes (lookup and readdir are not read-only).

import { cover } from './coverage.js';
import { walkThroughHeldCaches } from './dirCache.js';
import { mountedUuid } from './mountShown.js';
import { cloneLayer, findInLayer, parentPath } from './layerFs.js';
import { hasOrigin, isDir, isMergedDir, isPositive, lookupChild, rootDentry, type OvlDentry } from './lookup.js';
import { unifiedIno } from './inodeNumbers.js';
import { typeOrigin } from './indexdir.js';
import { privatePrefix } from './profile.js';
import { hasFeature } from './versions.js';
import { walkedNames } from './readdir.js';
import { hasUpper, type OvlState } from './state.js';

export function mount(s: OvlState): OvlState {
  const P = privatePrefix(s.profile);
  // Nothing in memory survives a mount: inodes (memOrigin, memNlink), layer flags (xwLayers), open dir streams.
  const s2 = { ...s, upper: cloneLayer(s.upper), memOrigin: new Map(), xwLayers: new Set<number>(), memNlink: new Map(), mountGen: s.mountGen + 1, streams: [], dirVersions: new Map(), fds: undefined, uuidMode: mountedUuid(s) }; // S17: fds are closed first too // open streams close too
  delete s2.upper.whiteout; // S3.2, S15.1a: the workdir is emptied; whiteouts of this mount share a new one
  const root = s2.upper.root.xattrs;
  // S1.5, S8.9: uuid=on, or uuid=auto on an upper not yet marked impure, stores P.uuid (6.6+;
  // before, uuid=on is the default and stores nothing).
  const wantsUuid = s.profile.uuid === 'on' || (s.profile.uuid === 'auto' && !(`${P}impure` in root));
  // S1.15: without an upper there is nothing to store it on.
  if (hasFeature(s.kernel, 'uuidAutoNull') && wantsUuid && !(`${P}uuid` in root) && hasUpper(s)) root[`${P}uuid`] = '<uuid>';
  cover('S8.9'); // stored, or not, as the uuid option says
  // S12.1: index=on makes the workdir's index dir (once; a new workdir starts it empty) and
  // ties the upper to its first lower layer, through P.origin on its root.
  if (s.profile.index && hasUpper(s)) {
    s2.upper.index ??= new Map();
    if (s.lowers.length > 0 && !(`${P}origin` in root)) root[`${P}origin`] = s.lowers[0].root.id;
  }
  if (s.profile.index && hasUpper(s)) cover('S12.1');
  return s2;
}

/**
 * The writes caused by looking up and listing every name of the merged tree (what the
 * snapshot does after every step):
 * - S22.3: looking up a lower dir marked opaque=x flags its layer for the rest of the mount;
 * - S22.1: looking up a merged dir whose upper has no P.origin records the lower dir as its
 *   origin and marks the parent impure (namei.c ovl_fix_origin);
 * - S9.9 (missing from the catalog): listing an impure upper dir that is not merged, when no entry has an origin ("." and
 *   ".." are not looked at), removes its P.impure (readdir.c ovl_dir_read_impure: "a good opportunity to
 *   get rid of an unneeded impure flag").
 * - S22.2: listing a dir whose cache an open stream holds marks the entries whose lookup
 *   fails stale in that cache (model/dirCache.ts).
 */
export function walkEffects(s: OvlState): OvlState {
  let s2 = s;
  if (walkWrites(s, false)) { // not the common case: nothing to write, nothing to copy
    s2 = { ...s, upper: cloneLayer(s.upper), xwLayers: new Set(s.xwLayers) };
    walkWrites(s2, true);
  }
  return s.streams?.some((st) => st?.cache) ? walkThroughHeldCaches(s, s2) : s2;
}

/** Walk the merged tree; apply the writes (apply) or only tell whether there are any. */
function walkWrites(s: OvlState, apply: boolean): boolean {
  const P = privatePrefix(s.profile);
  let any = false;
  const visit = (d: OvlDentry, parent: OvlDentry | null): void => {
    if (any && !apply) return;
    // A lookup that finds an upper dir and a lower dir (even one that then fails, S2.7
    // before 6.16) records the lower as the upper's origin if it has none (ovl_fix_origin).
    if (parent && d.upper?.type === 'dir' && d.lowers[0]?.inode.type === 'dir' && !hasOrigin(s, d.upper)) {
      any = true;
      if (!apply) return;
      cover('S22.1');
      d.upper.xattrs[`${P}origin`] = d.lowers[0].inode.id;
      findInLayer(s.upper, parentPath(d.path))!.xattrs[`${P}impure`] = 'y';
    }
    if (!isDir(d)) return;
    for (const l of d.lowers) {
      if (l.xwhiteouts && !s.xwLayers.has(l.layer)) {
        any = true;
        if (apply) s.xwLayers.add(l.layer); // ovl_layer_set_xwhiteouts
        if (apply) cover('S22.3');
      }
    }
    const children = walkedNames(s, d).map((n) => lookupChild(s, d, n));
    const realUpperDir = d.upper && !isMergedDir(d) && !hasOrigin(s, d.upper);
    // Only ovl_iterate_real reads the impure entries, and it runs only where d_ino is unified:
    // with xino, or on one fs (an impure dir). On split layers without xino, iterate_dir reads
    // the real dir and the flag stays.
    if (realUpperDir && `${P}impure` in d.upper!.xattrs && unifiedIno(s) && !children.some((c) => isOriginType(s, c) || failsLookup(c))) {
      any = true;
      if (!apply) return;
      cover('S9.9');
      delete d.upper!.xattrs[`${P}impure`];
    }
    for (const c of children) visit(c, d);
  };
  visit(rootDentry(s), null);
  return any;
}

/** A lookup that fails with an error (not a negative one): the listing fails there and writes nothing (model/readdir.ts). */
function failsLookup(d: OvlDentry): boolean {
  return d.error !== undefined && d.error !== 'ENOENT';
}

/**
 * ovl_type_origin as ovl_path_type sees it: an upper object with a lower found by name (dir) or
 * by origin (non-dir), hashed by that lower (typeOrigin: not a copied-up hard link outside the
 * index in use, found by the matrix, seed 20261130; with nfs_export=on only an indexed one).
 */
function isOriginType(s: OvlState, d: OvlDentry): boolean {
  return isPositive(d) && d.upper !== null && d.lowers.length > 0 && typeOrigin(s, d);
}
