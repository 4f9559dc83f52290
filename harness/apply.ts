// Apply one operation to a mounted tree through syscalls; errno comes back as data.
// One syscall per step (open+write+close for 'open'): never a process per operation.

import fs from 'node:fs';
import type { Op, OpenFlag, Outcome, RenameFlag, XattrFlag } from '../model/types.js';
import {
  errnoOf, mknod, removexattr, renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT,
  setxattr, truncate, XATTR_CREATE, XATTR_REPLACE,
} from './native.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const { S_IFIFO, S_IFCHR } = fs.constants;

export const OPEN_FLAGS: Record<OpenFlag, number> = { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW };
const RENAME_FLAGS: Record<RenameFlag, number> = { RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT };
const XATTR_FLAGS: Record<XattrFlag, number> = { XATTR_CREATE, XATTR_REPLACE };

/** Performs op on the tree mounted at mnt (op paths are absolute inside it). 'remount' is a driver's job. */
export function applyOp(mnt: string, op: Op): Outcome {
  try {
    return run(mnt, op);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === undefined) throw err; // a harness bug, not an outcome
    return errno;
  }
}

function orFlags<F extends string>(table: Record<F, number>, names: readonly F[]): number {
  let bits = 0;
  for (const n of names) {
    if (table[n] === undefined) throw new Error(`unknown flag ${n}`);
    bits |= table[n];
  }
  return bits;
}

function openWriteClose(path: string, flags: OpenFlag[], mode: number, data: string | undefined): Outcome {
  // O_NONBLOCK always: opening a fifo with no reader/writer must never stall the run.
  const fd = fs.openSync(path, orFlags(OPEN_FLAGS, flags) | O_NONBLOCK, mode);
  try {
    if (data !== undefined) fs.writeSync(fd, Buffer.from(data, 'latin1'));
  } finally {
    fs.closeSync(fd);
  }
  return 'ok';
}

function run(mnt: string, op: Op): Outcome {
  switch (op.op) {
    case 'open':
      return openWriteClose(mnt + op.path, op.flags, op.mode ?? 0o644, op.data);
    case 'truncate':
      // truncate(2) itself (follows symlinks): Node's truncateSync would open O_RDWR first.
      return truncate(mnt + op.path, op.size);
    case 'unlink':
      fs.unlinkSync(mnt + op.path);
      return 'ok';
    case 'mkdir':
      fs.mkdirSync(mnt + op.path, { mode: op.mode });
      return 'ok';
    case 'rmdir':
      fs.rmdirSync(mnt + op.path);
      return 'ok';
    case 'rename':
      return renameat2(mnt + op.src, mnt + op.dst, orFlags(RENAME_FLAGS, op.flags ?? []));
    case 'symlink':
      fs.symlinkSync(op.target, mnt + op.path);
      return 'ok';
    case 'link':
      fs.linkSync(mnt + op.src, mnt + op.dst); // linkat(2) without AT_SYMLINK_FOLLOW
      return 'ok';
    case 'chmod':
      fs.chmodSync(mnt + op.path, op.mode);
      return 'ok';
    case 'mknod':
      // A whiteout is a character device 0/0 (S3.3).
      return mknod(mnt + op.path, (op.kind === 'fifo' ? S_IFIFO : S_IFCHR) | op.mode, 0);
    case 'setxattr':
      return setxattr(mnt + op.path, op.name, op.value, op.flags ? XATTR_FLAGS[op.flags] : 0);
    case 'removexattr':
      return removexattr(mnt + op.path, op.name);
    case 'remount':
    case 'rotate':
      throw new Error(`applyOp: ${op.op} is handled by the driver`);
  }
}
