// Tells, after each step, whether anything in the lower layers changed: an inotify watch on
// every lower object reports any write, attribute or xattr change, open-for-write, or name
// change. When it fires, the session compares the lowers in full; when it stays silent the
// lowers are byte-for-byte what they were (reads and lookups raise no such events).

import fs from 'node:fs';
import koffi from 'koffi';
import { libcBindings } from './native.js';

const IN_MODIFY = 0x2, IN_ATTRIB = 0x4, IN_CLOSE_WRITE = 0x8, IN_MOVED_FROM = 0x40, IN_MOVED_TO = 0x80;
const IN_CREATE = 0x100, IN_DELETE = 0x200, IN_DELETE_SELF = 0x400, IN_MOVE_SELF = 0x800;
const IN_DONT_FOLLOW = 0x02000000, IN_Q_OVERFLOW = 0x4000;
const IN_NONBLOCK = 0o4000, IN_CLOEXEC = 0o2000000;
const CHANGES = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE |
  IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW;

interface Inotify {
  init1: (flags: number) => number;
  addWatch: (fd: number, path: string, mask: number) => number;
  read: (fd: number, buf: Buffer, n: number) => number;
  close: (fd: number) => number;
}
const load = libcBindings<Inotify>({
  init1: 'int inotify_init1(int flags)',
  addWatch: 'int inotify_add_watch(int fd, const char *path, uint32_t mask)',
  read: 'long read(int fd, _Out_ void *buf, size_t count)',
  close: 'int close(int fd)',
});

/**
 * One inotify instance for the whole process: closing an instance waits for every mark to be
 * torn down (an SRCU grace period each, ~10 ms a case), whereas the marks of a finished case
 * go away by themselves when its tmpfs is unmounted.
 */
let sharedFd = -1;

function inotifyFd(): number {
  if (sharedFd < 0) {
    sharedFd = load().init1(IN_NONBLOCK | IN_CLOEXEC);
    if (sharedFd < 0) throw new Error(`inotify_init1 failed (errno ${koffi.errno()})`);
  }
  return sharedFd;
}

const ENOENT = 2;
const EVENT_HEADER = 16; // struct inotify_event: wd, mask, cookie, len; then len bytes of name

export class LowerWatch {
  private readonly buf = Buffer.allocUnsafe(16384);
  private readonly wds = new Set<number>();
  private fired = false;

  /** Watches every object under each root (the roots included). */
  constructor(roots: string[]) {
    this.drain(); // events of earlier cases (their marks being dropped) are not ours
    for (const root of roots) this.watchTree(root);
  }

  private watchTree(path: string, listed = false): void {
    const wd = load().addWatch(inotifyFd(), path, CHANGES);
    // An overlay as a lower (S18.1) lists names it cannot look up (S22.9): nothing to watch there.
    if (wd < 0 && listed && koffi.errno() === ENOENT) return;
    if (wd < 0) throw new Error(`inotify_add_watch ${path} failed (errno ${koffi.errno()})`);
    this.wds.add(wd);
    if (!fs.lstatSync(path).isDirectory()) return;
    for (const name of fs.readdirSync(path)) this.watchTree(`${path}/${name}`, true);
  }

  /** Read every queued event; true if one of them is a change to one of our objects. */
  private drain(): boolean {
    let ours = false;
    for (;;) {
      const n = Number(load().read(inotifyFd(), this.buf, this.buf.length));
      if (n <= 0) return ours;
      for (let off = 0; off + EVENT_HEADER <= n; off += EVENT_HEADER + this.buf.readUInt32LE(off + 12)) {
        const wd = this.buf.readInt32LE(off);
        const mask = this.buf.readUInt32LE(off + 4);
        if ((this.wds.has(wd) && mask & CHANGES) || mask & IN_Q_OVERFLOW) ours = true;
      }
    }
  }

  /** True if any lower object changed since the watch was set (sticky). */
  changed(): boolean {
    if (!this.fired && this.drain()) this.fired = true;
    return this.fired;
  }

  /** The marks themselves disappear with the case's tmpfs. */
  close(): void {
    this.wds.clear();
  }
}
