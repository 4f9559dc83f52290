// Copy-up (copy_up.c): bring a merged object and its ancestors into the upper layer.

import { cover } from './coverage.js';
import { baseName, findInLayer, newInode, parentPath, splitPath, type Inode } from './layerFs.js';
import { lowerNlink, needIndex, overlayNlink, setNlinkUpper } from './indexdir.js';
import { fsLayout } from './inodeNumbers.js';
import { lookupPath, type OvlDentry } from './lookup.js';
import { privatePrefix, privateXattr } from './profile.js';
import { mergedXattrName } from './views.js';
import { copiedPages } from './sparse.js';
import type { OvlState } from './state.js';

/**
 * ovl_copy_up: ancestors first, topmost first (S6.2), then the object itself.
 * `withData`: an open for write or a truncate; otherwise, with metacopy=on, a regular file is
 * copied up without its data (S7.1). Mutates s.upper (a state from forWrite).
 */
export function copyUp(s: OvlState, path: string, withData = false): Inode {
  let cur = '/';
  for (const c of splitPath(path)) {
    cur = cur === '/' ? `/${c}` : `${cur}/${c}`;
    const d = lookupPath(s, cur);
    if (!d) throw new Error(`model: copy-up of missing ${cur}`);
    if (!d.upper && cur !== path) cover('S6.2'); // an ancestor first
    if (!d.upper) {
      copyUpOne(s, d, withData || cur !== path);
      continue;
    }
    if (d.indexOnly) linkUp(s, d);
    // S7.1: a metacopy upper (an index entry too, S6.6) gets its data on first write.
    if (cur === path && withData && d.dataLower) copyUpData(s, d);
  }
  return findInLayer(s.upper, path)!;
}

/** S7.1: a metacopy file gets its data on first write; P.metacopy goes, a redirect stays. */
function copyUpData(s: OvlState, d: OvlDentry): void {
  cover('S7.1');
  d.upper!.data = d.dataLower!.data;
  d.upper!.pages = copiedPages(d.dataLower!); // S17.6
  // Unlike a full copy-up (S6.3), the data copy-up of a metacopy file does not put the times
  // back: its mtime is now (6.18, observed; case times-metacopy.json).
  d.upper!.mtime = undefined;
  delete d.upper!.xattrs[privateXattr(s.profile, 'metacopy')];
}

/**
 * A copy-up that fails: the operation fails with its errno, and what the copy-up wrote so
 * far (ancestors, the index) stays in `state` (applyOp turns it into the step's outcome).
 */
export class CopyUpFailed extends Error {
  constructor(readonly state: OvlState, readonly errno: string, readonly rule: string) {
    super(`copy-up failed: ${errno} (${rule})`);
  }
}

/** ovl_copy_up_one: one object whose parent already has an upper. */
function copyUpOne(s: OvlState, d: OvlDentry, withData: boolean): void {
  const P = privatePrefix(s.profile);
  const lower = d.lowers[0];
  const src = lower.inode;
  const parentUpper = findInLayer(s.upper, parentPath(d.path))!;
  const up = newInode(s.upper, src.type, src.mode);
  cover(src.type === 'dir' ? 'S6.7' : src.type === 'file' ? 'S6.3' : 'S6.12');
  // S6.10: made with the mounter's creds, then given the original owner; S6.3: mtime kept.
  up.uid = src.uid;
  up.gid = src.gid;
  up.mtime = src.mtime;
  up.data = (d.dataLower ?? src).data; // S6.3: data, mode, symlink target
  up.target = src.target;
  if (src.type === 'file') up.pages = copiedPages(d.dataLower ?? src); // S17.6: holes before the data stay holes
  if (s.profile.metacopy && src.type === 'file' && !withData) {
    up.data = '\0'.repeat(src.data.length); // S7.1: same size, no data (a hole)
    up.pages = []; // S17.6: a metacopy upper is all hole
    up.xattrs[`${P}metacopy`] = '';
    cover('S7.1');
  }
  // S6.3, S10.2: every xattr but the private P.* ones; escaped P.overlay.* stay escaped.
  for (const [k, v] of Object.entries(src.xattrs)) if (mergedXattrName(s, k) !== null) up.xattrs[k] = v;
  // S6.4: origin for dirs, for non-dirs whose lower is not hard-linked, and for indexed ones.
  const single = src.type === 'dir' || lowerNlink(s, lower) === 1;
  const indexed = needIndex(s, d);
  // S10.3: with userxattr, P is user.overlay., which only regular files and dirs can carry.
  const canCarry = !s.profile.userxattr || src.type === 'file' || src.type === 'dir';
  if (!canCarry && indexed) {
    // S10.3, S12.3 (found by experiment, 6.18): the copy is already in the index when its
    // P.* xattrs fail with EPERM; the entry stays there, without P.origin (ovl_set_origin_fh
    // ignores EPERM only for a copy that is not indexed). A later try finds that entry and
    // links it up, marking the parent impure first, and fails the same way.
    s.upper.unverifiable ??= new Set();
    if (s.upper.unverifiable.has(src.id)) parentUpper.xattrs[`${P}impure`] = 'y';
    else s.upper.unverifiable.add(src.id);
    throw new CopyUpFailed(s, 'EPERM', 'S10.3, S12.3');
  }
  // S18.1: an overlay lower cannot encode file handles: the origin is stored empty
  // (ovl_get_origin_fh, "copied up, origin unknown"); a non-dir keeps its lower in memory only.
  const nested = fromNested(s, src);
  if (canCarry && (single || indexed)) up.xattrs[`${P}origin`] = nested ? '' : src.id;
  if ((nested || !canCarry) && single && src.type !== 'dir') s.memOrigin.set(d.path, { upper: up.id, lower: src.id }); // until the next mount
  if (!canCarry) cover('S10.3');
  if (!single && !indexed) cover(`${P}metacopy` in up.xattrs ? 'S7.2' : 'S6.5');
  if (!single && !indexed) cover(fsLayout(s).sameFs || fsLayout(s).xinoBits > 0 ? 'S8.4' : 'S8.10'); // st_ino: the upper's from now on
  cover(`${P}origin` in up.xattrs ? 'S6.4' : 'S22.5');
  // S6.4, S22.5: the parent is marked impure on every copy-up.
  parentUpper.xattrs[`${P}impure`] = 'y';
  parentUpper.children!.set(baseName(d.path), up); // S6.5: a new inode, unless indexed:
  if (indexed) {
    cover('S6.6'); cover('S12.3');
    // S6.6: copied into the index, then linked at the name; P.nlink keeps the overlay nlink.
    s.upper.index!.set(src.id, up);
    if (src.type !== 'dir') setNlinkUpper(s, up, lowerNlink(s, lower));
  }
}

/**
 * A lower object of the inner overlay (S18.1): its layer is the inner's view, not a rotated
 * upper. Without file handles (rootless mode) every lower, rotated uppers too, is the same to a
 * copy-up: ovl_encode_real_fh fails, and the origin is stored empty.
 */
function fromNested(s: OvlState, src: Inode): boolean {
  return s.profile.noFileHandles === true || (s.profile.nested === true && src.id.startsWith('L'));
}

/**
 * ovl_link_up: a name of an indexed file that has no upper alias yet gets one, a hard link
 * to the index entry (S6.6).
 */
function linkUp(s: OvlState, d: OvlDentry): void {
  cover('S6.6');
  const nlink = overlayNlink(s, d);
  const parentUpper = findInLayer(s.upper, parentPath(d.path))!;
  parentUpper.xattrs[privateXattr(s.profile, 'impure')] = 'y';
  parentUpper.children!.set(baseName(d.path), d.upper!);
  setNlinkUpper(s, d.upper!, nlink);
}
