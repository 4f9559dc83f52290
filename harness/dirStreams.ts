// Directory streams kept open across steps (the dir-stream steps, model/types.ts DirStreamOp):
// slot -> a real fd of this process, read with getdents64 one entry at a time. Each slot holds
// its own fd; a closed slot answers EBADF itself, so a stale number (the kernel reuses them)
// is never read. A driver whose mount goes away (remount, rotation, teardown) closes them all
// first: an open dir would keep the mount busy.

import fs from 'node:fs';
import { closeQuietly } from './fds.js';
import type { Dirent, DirStreamOp, DType, Outcome } from '../model/types.js';
import { errnoOf, getdentOne, lseekSet } from './native.js';

const { O_RDONLY, O_DIRECTORY } = fs.constants;

const DT_NAMES: Record<number, DType> = { 0: 'DT_UNKNOWN', 1: 'DT_FIFO', 2: 'DT_CHR', 4: 'DT_DIR', 6: 'DT_BLK', 8: 'DT_REG', 10: 'DT_LNK', 12: 'DT_SOCK' };

interface Open {
  fd: number;
  /** Where the stream stood after each read since its start ("0" the start): seekdir's offsets. */
  marks: string[];
}

export class DirStreams {
  private readonly slots = new Map<number, Open>();
  private last: Dirent[] | null = null;

  /** The entries the last step read (null unless it was a successful readdir). */
  dirents(): Dirent[] | null {
    return this.last;
  }

  /** A step that is no read: it read no entries. */
  forget(): void {
    this.last = null;
  }

  /** Runs one dir-stream step on the tree mounted at mnt. */
  apply(mnt: string, op: DirStreamOp): Outcome {
    this.last = null;
    try {
      return this.run(mnt, op);
    } catch (err) {
      const errno = errnoOf(err);
      if (errno === undefined) throw err;
      return errno;
    }
  }

  private run(mnt: string, op: DirStreamOp): Outcome {
    if (op.op === 'opendir') {
      this.close(op.dir);
      const fd = fs.openSync(mnt + op.path, O_RDONLY | O_DIRECTORY);
      this.slots.set(op.dir, { fd, marks: ['0'] });
      return 'ok';
    }
    const st = this.slots.get(op.dir);
    if (!st) return 'EBADF';
    switch (op.op) {
      case 'closedir':
        this.close(op.dir);
        return 'ok';
      case 'seekdir': {
        // To the start, or to where an earlier read since then left it (S9.6).
        const keep = op.to === 0 ? 1 : Math.min(op.to, st.marks.length - 1) + 1;
        st.marks.length = keep;
        return lseekSet(st.fd, st.marks[keep - 1]);
      }
      case 'readdir': {
        const read: Dirent[] = [];
        let at = st.marks[st.marks.length - 1];
        while (read.length < op.n) {
          const r = getdentOne(st.fd);
          if (!r.ok) return read.length ? this.done(st, read, at) : r.errno;
          if (!r.value) break;
          read.push({ name: r.value.name, type: DT_NAMES[r.value.type] ?? 'DT_UNKNOWN', ino: r.value.ino });
          at = r.value.off;
        }
        return this.done(st, read, at);
      }
    }
  }

  private done(st: Open, read: Dirent[], at: string): Outcome {
    st.marks.push(at);
    this.last = read;
    return 'ok';
  }

  private close(slot: number): void {
    const st = this.slots.get(slot);
    if (!st) return;
    this.slots.delete(slot);
    fs.closeSync(st.fd);
  }

  /** Before the mount goes away. */
  closeAll(): void {
    for (const slot of [...this.slots.keys()]) closeQuietly(() => this.close(slot));
    this.last = null;
  }
}
