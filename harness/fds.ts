// File descriptors that live across steps (model/fds.ts): the driver's slot -> real fd table.
// A slot that is not open answers EBADF without a syscall: the real fd number a closed slot
// once had may belong to something else by now (another slot, the harness's own files), so
// it is never passed to the kernel. Every fd is closed before an unmount (an open fd keeps
// the mount busy) and at teardown.

import fs from 'node:fs';
import type { FdObserved, FdOp, FdOpenFlag, Outcome, SnapEntry } from '../model/types.js';
import { OPEN_FLAGS } from './calls.js';
import { errnoOf, fsetxattr, linkFd } from './native.js';
import { fdXattrs, kindOf, readWhole } from './snapshot.js';

/** O_TMPFILE is __O_TMPFILE | O_DIRECTORY (Node has no constant for it). */
const O_TMPFILE = 0o20000000 | fs.constants.O_DIRECTORY;
const FD_OPEN_FLAGS: Record<FdOpenFlag, number> = { ...OPEN_FLAGS, O_DIRECTORY: fs.constants.O_DIRECTORY, O_TMPFILE };
const READ_MAX = 4096;

export interface FdResult {
  outcome: Outcome;
  observed?: FdObserved;
}

export class FdTable {
  private readonly fds: (number | null)[] = [null, null, null, null];

  /** Runs an fd step on the tree mounted at mnt; errno comes back as data. */
  run(mnt: string, op: FdOp): FdResult {
    if (op.op === 'fdopen') this.close(op.slot);
    const fd = this.fds[op.slot];
    if (op.op !== 'fdopen' && fd === null) return { outcome: 'EBADF' };
    try {
      return this.step(mnt, op, fd!);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === undefined) throw err; // a harness bug, not an outcome
      return { outcome: errno };
    }
  }

  private step(mnt: string, op: FdOp, fd: number): FdResult {
    const done: FdResult = { outcome: 'ok' };
    switch (op.op) {
      case 'fdopen': {
        let flags = fs.constants.O_NONBLOCK; // a fifo never blocks (as the open step)
        for (const f of op.flags) flags |= FD_OPEN_FLAGS[f];
        this.fds[op.slot] = fs.openSync(mnt + op.path, flags, op.mode ?? 0o644);
        return done;
      }
      case 'fdclose': this.close(op.slot); return done;
      case 'fdread': {
        const buf = Buffer.alloc(READ_MAX);
        const n = fs.readSync(fd, buf, 0, READ_MAX, null); // read(2) at the fd's offset
        return { outcome: 'ok', observed: { read: buf.toString('latin1', 0, n) } };
      }
      case 'fdwrite': fs.writeSync(fd, Buffer.from(op.data, 'latin1')); return done;
      case 'fdpwrite': {
        const b = Buffer.from(op.data, 'latin1');
        fs.writeSync(fd, b, 0, b.length, op.offset); // pwrite(2)
        return done;
      }
      case 'fdtruncate': fs.ftruncateSync(fd, op.size); return done;
      case 'fdchmod': fs.fchmodSync(fd, op.mode); return done;
      case 'fdchown': fs.fchownSync(fd, 0, 0); return done;
      case 'fdsetxattr': return { outcome: fsetxattr(fd, op.name, op.value, 0) };
      case 'fdlink': return { outcome: linkFd(fd, mnt + op.path) };
      case 'fdstat': return { outcome: 'ok', observed: { stat: fdEntry(fd) } };
    }
  }

  private close(slot: number): void {
    const fd = this.fds[slot];
    this.fds[slot] = null;
    if (fd !== null) fs.closeSync(fd);
  }

  /** Before an unmount, a remount or a rotation, and at teardown: every slot becomes closed. */
  closeAll(): void {
    for (let i = 0; i < this.fds.length; i++) closeQuietly(() => this.close(i));
  }
}

/** fstat, flistxattr/fgetxattr and a pread of the content: the entry as the snapshot reads a name. */
function fdEntry(fd: number): SnapEntry {
  const st = fs.fstatSync(fd, { bigint: true });
  const kind = kindOf(Number(st.mode), Number(st.rdev));
  const ino = BigInt.asUintN(64, st.ino);
  const entry: SnapEntry = {
    kind,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    ino: ino <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ino) : ino.toString(),
    dev: Number(st.dev),
    xattrs: fdXattrs(fd), // as the snapshot shows it
    mtime: Math.floor(Number(st.mtimeMs) / 1000), // as the snapshot reports it
  };
  const data = kind === 'file' ? readAll(fd) : undefined;
  if (data !== undefined) entry.data = data;
  if (kind === 'file') entry.blocks = Number(st.blocks);
  return entry;
}

/** The whole content, or undefined through a write-only fd (EBADF: the model leaves it out too). */
function readAll(fd: number): string | undefined {
  try {
    return readWhole(fd);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === 'EBADF') return undefined;
    return `<${errno ?? 'EIO'}>`; // shows up as a difference, not a crash
  }
}

/**
 * Before an unmount nothing is compared: an error of close(2) (ENOTCONN from a FUSE daemon
 * that is gone) is not an outcome there, and the fd is released whatever close returns.
 */
export function closeQuietly(close: () => void): void {
  try {
    close();
  } catch {
    /* released anyway */
  }
}
