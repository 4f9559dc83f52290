// One entry point: apply an operation to a state (the model's step function).

import { link, mkdir, mknod, rmdir, symlink, unlink } from './dir.js';
import { open } from './file.js';
import { chmod, setxattr, truncate } from './inode.js';
import { rename } from './rename.js';
import { fail, hasUpper, ok, rotate, type OvlState, type Step } from './state.js';
import { mount } from './super.js';
import type { FdOp, Op } from './types.js';
import { applyFdOp, followFds, isFdOp } from './fds.js';

export function applyOp(s: OvlState, op: Op): Step {
  return followFds(s, isFdOp(op) ? applyFdOp(s, op) : applyPathOp(s, op), op); // S17
}

function applyPathOp(s: OvlState, op: Exclude<Op, FdOp>): Step {
  switch (op.op) {
    case 'open': return open(s, op.path, op.flags, op.mode, op.data);
    case 'truncate': return truncate(s, op.path, op.size);
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
    // S14.3: after a volatile mount, the next mount of that upper and workdir fails EINVAL
    // (the harness then clears the marker and mounts, as a user must).
    case 'remount': return s.profile.volatile ? fail(mount(s), 'EINVAL', 'S14.3') : ok(mount(s), 'S1.14');
    case 'rotate':
      if (!hasUpper(s)) return fail(s, 'EROFS', 'S14.1'); // nothing to rotate
      return ok(rotate(s), 'S15.5'); // with a new workdir: nothing of a volatile mount is left

  }
}
