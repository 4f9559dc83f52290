// Attribute and xattr changes (inode.c ovl_setattr, xattrs.c ovl_xattr_set).

import { chmodAcl } from './acl.js';
import { copyUp } from './copyUp.js';
import { cover } from './coverage.js';
import { isPositive, realInode, walkPath, lookupRule } from './lookup.js';
import { privatePrefix } from './profile.js';
import { hasFeature } from './versions.js';
import { callerOf, fail, forWrite, isReadOnly, ok, type OvlState, type Step } from './state.js';
import { noteTruncate } from './sparse.js';
import { chmodMode, MAY_WRITE, mayWriteXattr, permitted } from './creds.js';
import type { XattrFlag } from './types.js';

export function chmod(s: OvlState, path: string, mode: number): Step {
  const w = walkPath(s, path, true);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
  const newMode = chmodMode(callerOf(s), realInode(w.child), mode & 0o7777); // S11.3: the owner only
  if (newMode === 'EPERM') return fail(s, 'EPERM', 'S11.3');
  const s2 = forWrite(s);
  const up = copyUp(s2, w.child.path); // S6.1, S6.7, S6.12: copy-up even to the same mode
  up.mode = newMode;
  chmodAcl(up, newMode); // S10.5: the access ACL follows the mode
  return ok(s2, 'S6.1');
}

export function truncate(s: OvlState, path: string, size: number): Step {
  const w = walkPath(s, path, true);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  const type = realInode(w.child).type;
  if (type === 'dir') return fail(s, 'EISDIR', 'VFS');
  if (type !== 'file' || size < 0) return fail(s, 'EINVAL', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
  if (!permitted(callerOf(s), realInode(w.child), MAY_WRITE)) return fail(s, 'EACCES', 'S11.3');
  const s2 = forWrite(s);
  const up = copyUp(s2, w.child.path, true); // S6.1, S7.1: with the data
  noteTruncate(up, size); // S17.6: growing leaves a hole, shrinking frees whole pages
  up.data = resize(up.data, size);
  up.mtime = undefined;
  return ok(s2, 'S6.1');
}

export function resize(data: string, size: number): string {
  return data.length >= size ? data.slice(0, size) : data + '\0'.repeat(size - data.length);
}

/** setxattr (value given) or removexattr (value null), following symlinks unless `follow` is false (lsetxattr). */
export function setxattr(s: OvlState, path: string, name: string, value: string | null, flag?: XattrFlag, follow = true): Step {
  const w = walkPath(s, path, follow);
  if (w.ok && !follow && w.child.error) return fail(s, w.child.error, lookupRule(w.child.error));
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
  const real = realInode(w.child);
  // xattr_permission, before overlay's handler sees the name (S11.3).
  const denied = mayWriteXattr(callerOf(s), real, name);
  if (denied) return fail(s, denied, 'S11.3');
  const P = privatePrefix(s.profile);
  if (name.startsWith(P)) {
    // S10.1, S10.2: a private name set through the overlay is stored escaped (6.7+).
    if (!hasFeature(s.kernel, 'escapedXattrs')) return fail(s, 'EOPNOTSUPP', 'S10.1, S20');
    name = `${P}overlay.${name.slice(P.length)}`;
    cover('S10.2');
  }
  // ovl_xattr_set: removing a missing xattr from a lower object fails before any copy-up.
  if (value === null && !w.child.upper && !(name in real.xattrs)) return fail(s, 'ENODATA', 'S6.1');
  const s2 = forWrite(s);
  // S6.1: setxattr and removexattr copy up an object that has no upper at all; an index
  // entry (S6.6) is written in place, without an upper alias (xattrs.c ovl_xattr_set).
  if (w.child.indexOnly) cover('S6.6');
  const up = w.child.indexOnly ? s2.upper.index!.get(w.child.lowers[0].inode.id)! : copyUp(s2, w.child.path);
  const exists = name in up.xattrs;
  // The upper fs checks the flags after the copy-up (S22.4: a failing call can still copy up).
  if (value === null) {
    if (!exists) return fail(s2, 'ENODATA', 'S22.4');
    delete up.xattrs[name];
    return ok(s2, 'S6.1');
  }
  if (flag === 'XATTR_CREATE' && exists) return fail(s2, 'EEXIST', 'S22.4');
  if (flag === 'XATTR_REPLACE' && !exists) return fail(s2, 'ENODATA', 'S22.4');
  up.xattrs[name] = value;
  return ok(s2, 'S6.1');
}
