// Copy-up (copy_up.c): bring a merged object and its ancestors into the upper layer.

import { baseName, findInLayer, newInode, parentPath, splitPath, type Inode } from './layerFs.js';
import { lowerNlink, needIndex, overlayNlink, setNlinkUpper } from './indexdir.js';
import { lookupPath, type OvlDentry } from './lookup.js';
import { privatePrefix } from './profile.js';
import { mergedXattrName } from './views.js';
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
    if (d.indexOnly) linkUp(s, d);
    else if (!d.upper) copyUpOne(s, d, withData || cur !== path);
    else if (cur === path && withData && d.dataLower) copyUpData(s, d);
  }
  return findInLayer(s.upper, path)!;
}

/** S7.1: a metacopy file gets its data on first write; P.metacopy goes, a redirect stays. */
function copyUpData(s: OvlState, d: OvlDentry): void {
  d.upper!.data = d.dataLower!.data;
  // Unlike a full copy-up (S6.3), the data copy-up of a metacopy file does not put the times
  // back: its mtime is now (6.18, observed; case times-metacopy.json).
  d.upper!.mtime = undefined;
  delete d.upper!.xattrs[`${privatePrefix(s.profile)}metacopy`];
}

/** ovl_copy_up_one: one object whose parent already has an upper. */
function copyUpOne(s: OvlState, d: OvlDentry, withData: boolean): void {
  const P = privatePrefix(s.profile);
  const lower = d.lowers[0];
  const src = lower.inode;
  const parentUpper = findInLayer(s.upper, parentPath(d.path))!;
  const up = newInode(s.upper, src.type, src.mode);
  // S6.10: made with the mounter's creds, then given the original owner; S6.3: mtime kept.
  up.uid = src.uid;
  up.gid = src.gid;
  up.mtime = src.mtime;
  up.data = (d.dataLower ?? src).data; // S6.3: data, mode, symlink target
  up.target = src.target;
  if (s.profile.metacopy && src.type === 'file' && !withData) {
    up.data = '\0'.repeat(src.data.length); // S7.1: same size, no data (a hole)
    up.xattrs[`${P}metacopy`] = '';
  }
  // S6.3, S10.2: every xattr but the private P.* ones; escaped P.overlay.* stay escaped.
  for (const [k, v] of Object.entries(src.xattrs)) if (mergedXattrName(s, k) !== null) up.xattrs[k] = v;
  // S6.4: origin for dirs, for non-dirs whose lower is not hard-linked, and for indexed ones.
  const single = src.type === 'dir' || lowerNlink(s, lower) === 1;
  const indexed = needIndex(s, d);
  // S10.3: with userxattr, P is user.overlay., which only regular files and dirs can carry.
  const canCarry = !s.profile.userxattr || src.type === 'file' || src.type === 'dir';
  if (canCarry && (single || indexed)) up.xattrs[`${P}origin`] = src.id;
  else if (single) s.memOrigin.set(d.path, { upper: up.id, lower: src.id }); // until the next mount
  // S6.4, S22.5: the parent is marked impure on every copy-up.
  parentUpper.xattrs[`${P}impure`] = 'y';
  parentUpper.children!.set(baseName(d.path), up); // S6.5: a new inode, unless indexed:
  if (indexed) {
    // S6.6: copied into the index, then linked at the name; P.nlink keeps the overlay nlink.
    s.upper.index!.set(src.id, up);
    if (src.type !== 'dir') setNlinkUpper(s, up, lowerNlink(s, lower));
  }
}

/**
 * ovl_link_up: a name of an indexed file that has no upper alias yet gets one, a hard link
 * to the index entry (S6.6).
 */
function linkUp(s: OvlState, d: OvlDentry): void {
  const nlink = overlayNlink(s, d);
  const parentUpper = findInLayer(s.upper, parentPath(d.path))!;
  parentUpper.xattrs[`${privatePrefix(s.profile)}impure`] = 'y';
  parentUpper.children!.set(baseName(d.path), d.upper!);
  setNlinkUpper(s, d.upper!, nlink);
}
