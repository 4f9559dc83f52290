// Apply one operation to the merged mount through syscalls; errno comes back as data.

import fs from 'node:fs';
import type { Op, Outcome } from '../model/types.js';
import { mknod, removexattr, renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, setxattr, truncate, XATTR_CREATE, XATTR_REPLACE } from './native.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const OPEN_FLAGS: Record<string, number> = { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW };
const RENAME_FLAGS: Record<string, number> = { RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT };

export function applyOp(mnt: string, op: Op): Outcome {
  try {
    return run(mnt, op);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code) throw err;
    return code;
  }
}

function run(mnt: string, op: Op): Outcome {
  switch (op.op) {
    case 'open': {
      // O_NONBLOCK always: a fifo opened for writing must never block the run.
      const flags = op.flags.reduce((f, n) => f | OPEN_FLAGS[n], O_NONBLOCK);
      const fd = fs.openSync(mnt + op.path, flags, op.mode ?? 0o644);
      try {
        if (op.data !== undefined) fs.writeSync(fd, Buffer.from(op.data, 'latin1'));
      } finally {
        fs.closeSync(fd);
      }
      return 'ok';
    }
    case 'truncate': return truncate(mnt + op.path, op.size);
    case 'unlink': fs.unlinkSync(mnt + op.path); return 'ok';
    case 'mkdir': fs.mkdirSync(mnt + op.path, { mode: op.mode }); return 'ok';
    case 'rmdir': fs.rmdirSync(mnt + op.path); return 'ok';
    case 'rename': return renameat2(mnt + op.src, mnt + op.dst, (op.flags ?? []).reduce((f, n) => f | RENAME_FLAGS[n], 0));
    case 'symlink': fs.symlinkSync(op.target, mnt + op.path); return 'ok';
    case 'link': fs.linkSync(mnt + op.src, mnt + op.dst); return 'ok';
    case 'chmod': fs.chmodSync(mnt + op.path, op.mode); return 'ok';
    case 'mknod': return mknod(mnt + op.path, (op.kind === 'fifo' ? 0o010000 : 0o020000) | op.mode, 0);
    case 'setxattr': {
      const flag = op.flags === 'XATTR_CREATE' ? XATTR_CREATE : op.flags === 'XATTR_REPLACE' ? XATTR_REPLACE : 0;
      return setxattr(mnt + op.path, op.name, op.value, flag);
    }
    case 'removexattr': return removexattr(mnt + op.path, op.name);
    case 'remount': throw new Error('remount is a driver operation');
  }
}
