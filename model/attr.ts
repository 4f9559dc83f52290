// Owner and time changes (fs/open.c chown_common, fs/utimes.c, then inode.c ovl_setattr):
// the caller's permission on the overlay inode, then a metadata copy-up (S6.1, S6.12, S7.1)
// made with the mounter's creds (S6.10), then the change on the upper inode.

import { copyUp } from './copyUp.js';
import { mayChown, modeAfterChown, mayUtimes } from './creds.js';
import { isPositive, realInode, walkPath } from './lookup.js';
import { hasFeature } from './versions.js';
import { callerOf, fail, forWrite, isReadOnly, ok, type OvlState, type Step } from './state.js';
import type { TimeSpec } from './types.js';

/** chown(2) / lchown(2) (nofollow); -1 leaves an id alone. */
export function chown(s: OvlState, path: string, uid: number, gid: number, nofollow: boolean): Step {
  const w = walkPath(s, path, !nofollow);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (w.child.error) return fail(s, w.child.error, 'S2.8');
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11'); // mnt_want_write before notify_change
  const c = callerOf(s);
  const real = realInode(w.child);
  if (!mayChown(c, real, uid, gid)) return fail(s, 'EPERM', 'S11.3');
  const mode = modeAfterChown(c, real, hasFeature(s.kernel, 'chownDropsSgidOutsideGroup'));
  const s2 = forWrite(s);
  const up = copyUp(s2, w.child.path); // S6.1, S6.12: a metadata copy-up (S7.1), even to the same owner
  if (uid !== -1) up.uid = uid;
  if (gid !== -1) up.gid = gid;
  up.mode = mode;
  return ok(s2, 'S6.10');
}

/**
 * utimensat(2) on a path (AT_SYMLINK_NOFOLLOW with nofollow). The model keeps mtime only
 * (atime is read and moved by the harness's own reads, harness/compare.ts).
 */
export function utimes(s: OvlState, path: string, atime: TimeSpec, mtime: TimeSpec, nofollow: boolean): Step {
  // Both omitted: nothing to do, and the path is not even looked up (fs/utimes.c).
  if (atime === 'omit' && mtime === 'omit') return ok(s, 'VFS');
  const w = walkPath(s, path, !nofollow);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (w.child.error) return fail(s, w.child.error, 'S2.8');
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11'); // mnt_want_write before notify_change
  const touch = atime === 'now' && mtime === 'now'; // ATTR_TOUCH: a writer may too
  const denied = mayUtimes(callerOf(s), realInode(w.child), touch);
  if (denied) return fail(s, denied, 'S11.3');
  const s2 = forWrite(s);
  const up = copyUp(s2, w.child.path); // S6.1, S6.12: metadata copy-up keeps mtime (S6.3), then the change
  if (mtime !== 'omit') up.mtime = mtime === 'now' ? undefined : mtime;
  return ok(s2, 'S6.3');
}
