// Syscalls as data: what a step or a layer build asks of the system. They run here (runCall)
// or in a guest kernel's executor (harness/guest/executor.c) with the same meaning, so that a
// step means one thing on every kernel the suite drives.

import fs from 'node:fs';
import type { Caller, Op, OpenFlag, Outcome, RenameFlag, TimeSpec, XattrFlag } from '../model/types.js';
import { asCaller } from './creds.js';
import {
  errnoOf, lsetxattr, mknod, removexattr, renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT,
  setxattr, truncate, XATTR_CREATE, XATTR_REPLACE, AT_SYMLINK_NOFOLLOW, utimensat,
} from './native.js';

/** A call, made as `as` when given (harness/creds.ts; the executor switches the same way). */
export type Call = CallKind & { as?: Caller };

export type CallKind =
  /** open(2), then write(2) `data` once if given, then close(2). */
  | { c: 'open'; path: string; flags: number; mode: number; data?: string }
  /** open(2) O_WRONLY|O_NONBLOCK, pwrite(2) of data at offset, close(2). */
  | { c: 'pwrite'; path: string; offset: number; data: string }
  | { c: 'mkdir'; path: string; mode: number }
  | { c: 'chmod'; path: string; mode: number }
  | { c: 'truncate'; path: string; size: number }
  | { c: 'unlink'; path: string }
  | { c: 'rmdir'; path: string }
  /** renameat2(2); flags 0 is rename(2). */
  | { c: 'rename'; from: string; to: string; flags: number }
  | { c: 'symlink'; target: string; path: string }
  /** link(2): linkat without AT_SYMLINK_FOLLOW. */
  | { c: 'link'; from: string; to: string }
  | { c: 'mknod'; path: string; mode: number; dev: number }
  /** setxattr(2), or lsetxattr(2) with nofollow. */
  | { c: 'setxattr'; path: string; name: string; value: string; flags: number; nofollow?: boolean }
  | { c: 'removexattr'; path: string; name: string }
  /** chown(2), or lchown(2) with nofollow; -1 keeps an id. */
  | { c: 'chown'; path: string; uid: number; gid: number; nofollow: boolean }
  /** utimensat(2) at AT_FDCWD; flags 0 or AT_SYMLINK_NOFOLLOW. */
  | { c: 'utimes'; path: string; atime: TimeSpec; mtime: TimeSpec; flags: number };

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const { S_IFIFO, S_IFCHR } = fs.constants;

export const OPEN_FLAGS: Record<OpenFlag, number> = { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW };
const RENAME_FLAGS: Record<RenameFlag, number> = { RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT };
const XATTR_FLAGS: Record<XattrFlag, number> = { XATTR_CREATE, XATTR_REPLACE };

function orFlags<F extends string>(table: Record<F, number>, names: readonly F[]): number {
  let bits = 0;
  for (const n of names) {
    if (table[n] === undefined) throw new Error(`unknown flag ${n}`);
    bits |= table[n];
  }
  return bits;
}

/** The one syscall an operation is, on the tree mounted at mnt (op paths are absolute inside it). */
export function opCall(mnt: string, op: Op): Call {
  const call = kindCall(mnt, op);
  return op.as ? { ...call, as: op.as } : call;
}

function kindCall(mnt: string, op: Op): CallKind {
  switch (op.op) {
    case 'open':
      // O_NONBLOCK always: opening a fifo with no reader/writer must never stall the run.
      return { c: 'open', path: mnt + op.path, flags: orFlags(OPEN_FLAGS, op.flags) | O_NONBLOCK, mode: op.mode ?? 0o644, ...(op.data !== undefined ? { data: op.data } : {}) };
    case 'truncate': return { c: 'truncate', path: mnt + op.path, size: op.size }; // truncate(2): follows symlinks
    case 'pwrite': return { c: 'pwrite', path: mnt + op.path, offset: op.offset, data: op.data };
    case 'unlink': return { c: 'unlink', path: mnt + op.path };
    case 'mkdir': return { c: 'mkdir', path: mnt + op.path, mode: op.mode };
    case 'rmdir': return { c: 'rmdir', path: mnt + op.path };
    case 'rename': return { c: 'rename', from: mnt + op.src, to: mnt + op.dst, flags: orFlags(RENAME_FLAGS, op.flags ?? []) };
    case 'symlink': return { c: 'symlink', target: op.target, path: mnt + op.path };
    case 'link': return { c: 'link', from: mnt + op.src, to: mnt + op.dst };
    case 'chmod': return { c: 'chmod', path: mnt + op.path, mode: op.mode };
    // A whiteout is a character device 0/0 (S3.3).
    case 'mknod': return { c: 'mknod', path: mnt + op.path, mode: (op.kind === 'fifo' ? S_IFIFO : S_IFCHR) | op.mode, dev: 0 };
    case 'setxattr': return { c: 'setxattr', path: mnt + op.path, name: op.name, value: op.value, flags: op.flags ? XATTR_FLAGS[op.flags] : 0 };
    case 'removexattr': return { c: 'removexattr', path: mnt + op.path, name: op.name };
    case 'lsetxattr': return { c: 'setxattr', path: mnt + op.path, name: op.name, value: op.value, flags: op.flags ? XATTR_FLAGS[op.flags] : 0, nofollow: true };
    case 'chown': return { c: 'chown', path: mnt + op.path, uid: op.uid, gid: op.gid, nofollow: op.nofollow ?? false };
    case 'utimes': return { c: 'utimes', path: mnt + op.path, atime: op.atime, mtime: op.mtime, flags: op.nofollow ? AT_SYMLINK_NOFOLLOW : 0 };
    case 'remount':
    case 'rotate':
    case 'opendir': case 'readdir': case 'seekdir': case 'closedir': // fds across steps: harness/dirStreams.ts
      throw new Error(`${op.op} is handled by the driver`);
    default:
      throw new Error(`${op.op}: fd steps run through the driver's FdTable (harness/fds.ts)`);
  }
}

/** Runs a call in this process; errno comes back as data. */
export function runCall(call: Call): Outcome {
  return call.as ? asCaller(call.as, () => runAsIs(call)) : runAsIs(call);
}

function runAsIs(call: Call): Outcome {
  try {
    return run(call);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === undefined) throw err; // a harness bug, not an outcome
    return errno;
  }
}

function openWriteClose(path: string, flags: number, mode: number, data: string | undefined): Outcome {
  const fd = fs.openSync(path, flags, mode);
  try {
    if (data !== undefined) fs.writeSync(fd, Buffer.from(data, 'latin1'));
  } finally {
    fs.closeSync(fd);
  }
  return 'ok';
}

function pwriteClose(path: string, offset: number, data: string): Outcome {
  const fd = fs.openSync(path, fs.constants.O_WRONLY | O_NONBLOCK);
  try {
    fs.writeSync(fd, Buffer.from(data, 'latin1'), 0, data.length, offset);
  } finally {
    fs.closeSync(fd);
  }
  return 'ok';
}

function run(call: Call): Outcome {
  switch (call.c) {
    case 'open': return openWriteClose(call.path, call.flags, call.mode, call.data);
    case 'pwrite': return pwriteClose(call.path, call.offset, call.data);
    case 'mkdir': fs.mkdirSync(call.path, { mode: call.mode }); return 'ok';
    case 'chmod': fs.chmodSync(call.path, call.mode); return 'ok';
    case 'truncate': return truncate(call.path, call.size); // Node's truncateSync would open O_RDWR first
    case 'unlink': fs.unlinkSync(call.path); return 'ok';
    case 'rmdir': fs.rmdirSync(call.path); return 'ok';
    case 'rename': return renameat2(call.from, call.to, call.flags);
    case 'symlink': fs.symlinkSync(call.target, call.path); return 'ok';
    case 'link': fs.linkSync(call.from, call.to); return 'ok';
    case 'mknod': return mknod(call.path, call.mode, call.dev);
    case 'setxattr': return (call.nofollow ? lsetxattr : setxattr)(call.path, call.name, call.value, call.flags);
    case 'removexattr': return removexattr(call.path, call.name);
    case 'chown': (call.nofollow ? fs.lchownSync : fs.chownSync)(call.path, call.uid, call.gid); return 'ok';
    case 'utimes': return utimensat(call.path, call.atime, call.mtime, call.flags);
  }
}
