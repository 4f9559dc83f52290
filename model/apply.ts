// One entry point: apply an operation to a state (the model's step function).

import { link, mkdir, mknod, rmdir, symlink, unlink } from './dir.js';
import { open } from './file.js';
import { chmod, setxattr, truncate } from './inode.js';
import { chown, utimes } from './attr.js';
import { rename } from './rename.js';
import { CopyUpFailed } from './copyUp.js';
import { profileForRemount } from './params.js';
import { pwrite } from './sparse.js';
import { fail, forWrite, hasUpper, ok, rotate, type OvlState, type Step } from './state.js';
import { mount } from './super.js';
import type { DirStreamOp, FdOp, Op } from './types.js';
import { applyDirStreamOp, followStreams, isDirStreamOp } from './dirStream.js';
import { applyFdOp, followFds, isFdOp } from './fds.js';

export function applyOp(s: OvlState, op: Op): Step {
  if (!op.as) return applyGuarded(s, op);
  // The caller rides on the state for the one step (model/creds.ts), then goes.
  const step = applyGuarded({ ...s, caller: op.as }, op);
  const { caller: _done, ...state } = step.state;
  return { ...step, state };
}

/** A copy-up that fails is the step's outcome, with what it wrote so far (model/copyUp.ts). */
function applyGuarded(s: OvlState, op: Op): Step {
  try {
    return followFds(s, isFdOp(op) ? followStreams(s, op, applyFdOp(s, op)) : applyPathOp(s, op), op); // S17; an fd step makes names too (S9)
  } catch (e) {
    if (e instanceof CopyUpFailed) return fail(e.state, e.errno, e.rule);
    throw e;
  }
}

function applyPathOp(s: OvlState, op: Exclude<Op, FdOp>): Step {
  if (isDirStreamOp(op)) return applyDirStreamOp(s, op);
  return followStreams(s, op, applyOne(s, op));
}

function applyOne(s: OvlState, op: Exclude<Op, DirStreamOp | FdOp>): Step {
  switch (op.op) {
    case 'open': return open(s, op.path, op.flags, op.mode, op.data);
    case 'truncate': return truncate(s, op.path, op.size);
    case 'pwrite': return pwrite(s, op.path, op.offset, op.data);
    case 'unlink': return unlink(s, op.path);
    case 'mkdir': return mkdir(s, op.path, op.mode);
    case 'rmdir': return rmdir(s, op.path);
    case 'rename': return rename(s, op.src, op.dst, op.flags);
    case 'symlink': return symlink(s, op.target, op.path);
    case 'link': return link(s, op.src, op.dst);
    case 'chmod': return chmod(s, op.path, op.mode);
    case 'mknod': return mknod(s, op.path, op.kind, op.mode);
    case 'setxattr': return setxattr(s, op.path, op.name, op.value, op.flags);
    case 'removexattr': return setxattr(s, op.path, op.name, null);
    case 'lsetxattr': return setxattr(s, op.path, op.name, op.value, op.flags, false);
    case 'chown': return chown(s, op.path, op.uid, op.gid, op.nofollow ?? false);
    case 'utimes': return utimes(s, op.path, op.atime, op.mtime, op.nofollow ?? false);
    case 'remount': return remount(s, op.options);
    case 'rotate':
      if (!hasUpper(s)) return fail(s, 'EROFS', 'S14.1'); // nothing to rotate
      return ok(rotate(s), 'S15.5'); // with a new workdir: nothing of a volatile mount is left

  }
}

/**
 * Unmount and mount again. A mount that fails leaves the case to the harness, which does what
 * a user must and mounts again: the outcome is the first failure's errno.
 * - S14.3: after a volatile mount, the next mount of that upper and workdir fails EINVAL (the
 *   harness removes work/incompat/volatile);
 * - S12.3: an index=on mount checks every index entry (super.c ovl_indexdir_cleanup) and fails
 *   ENODATA at one without P.origin (layerFs.ts unverifiable; the harness removes them).
 */
function remount(s: OvlState, options?: string): Step {
  const profile = options === undefined ? s.profile : profileForRemount(s.profile, options, s.kernel);
  const next = { ...s, profile };
  const failed = s.profile.volatile ? 'S14.3' : profile.index && s.upper.unverifiable?.size ? 'S12.3' : null;
  if (!failed) return ok(mount(next), options === undefined ? 'S1.14' : 'S1.15');
  const s2 = forWrite(next);
  if (profile.index) delete s2.upper.unverifiable;
  return fail(mount(s2), failed === 'S14.3' ? 'EINVAL' : 'ENODATA', failed);
}
