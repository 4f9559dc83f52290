// Read a tree as the comparison sees it: every name with its kind, mode, owner, nlink,
// inode, content, symlink target and xattrs. The hot path: it runs after every step on
// every view, so it is synchronous and allocates little beyond the entries it returns.

import fs from 'node:fs';
import os from 'node:os';
import type { EntryKind, SnapEntry, Snapshot } from '../model/types.js';
import {
  AT_FDCWD, AT_STATX_SYNC_AS_STAT, coarseNow, errnoOf, fgetxattr, flistxattr, getdents, lgetxattr, llistxattr, openAt, readlinkAt, STATX_SIZE, statxAt,
  type NativeList, type NativeValue,
} from './native.js';

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, S_IFCHR } = fs.constants;
// O_NONBLOCK: the name was a regular file at lstat time, but a racing swap must not hang us.
const OPEN_READ = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/**
 * Walks root (included, as '/'); keys are paths relative to root with a leading '/'. With
 * `reads`, what an earlier walk of the same layer dir read of an object that has not changed
 * since is taken again instead of read (LayerReads).
 */
export function snapshotTree(root: string, reads?: LayerReads): Snapshot {
  const snap: Snapshot = new Map();
  const walk = reads?.begin(root);
  walkAt(snap, '/', AT_FDCWD, root, root, walk);
  if (walk) reads!.end(walk);
  return snap;
}

const TMPFS_MAGIC = 0x01021994;

/** What a walk read of one object beyond its statx: its xattrs, and its names, content or target. */
interface Read {
  dev: number;
  ino: number | string;
  size: number;
  ctime: [number, number];
  xattrs: Record<string, string>;
  names?: string[];
  data?: string;
  target?: string;
}

/** One walk's use of LayerReads: what the last walk left, what this one leaves, and when it began. */
interface WalkReads {
  root: string;
  previous: Map<string, Read>;
  next: Map<string, Read>;
  began: [number, number];
  reused: number;
}

const before = (a: [number, number], b: [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * What the walks of one layer dir (an upper: a real tmpfs the implementation writes, never
 * the mount under test) read, reused where an object's inode and ctime are what they were.
 *
 * Why that is exact: on tmpfs every change of content, xattrs (ACLs included), names in a
 * dir, link count, owner or mode sets the inode's ctime to the current time, and that clock
 * does not go back. An object is reused only if its ctime was already before the start of
 * the walk that read it: a change made after that start gets a later ctime, so the object
 * is read again ("racily clean", as git's index). A ctime at or after that start (a change in
 * the same clock tick) is not reused. Not on other filesystems (their timestamp granularity
 * differs), not if the clock went back, and writes through a shared mapping would be
 * missed (tmpfs does not stamp them): no step makes one.
 */
export class LayerReads {
  private last = new Map<string, Map<string, Read>>();
  private lastBegan: [number, number] = [0, 0];
  private onTmpfs = new Map<string, boolean>();
  /** Objects taken from an earlier walk, in all (for tests and the bench). */
  reused = 0;

  begin(root: string): WalkReads | undefined {
    let tmpfs = this.onTmpfs.get(root);
    if (tmpfs === undefined) this.onTmpfs.set(root, (tmpfs = fs.statfsSync(root).type === TMPFS_MAGIC));
    if (!tmpfs) return undefined;
    const began = coarseNow();
    if (before(began, this.lastBegan)) this.last.clear(); // the clock went back
    this.lastBegan = began;
    return { root, previous: this.last.get(root) ?? new Map(), next: new Map(), began, reused: 0 };
  }

  end(walk: WalkReads): void {
    this.last.set(walk.root, walk.next);
    this.reused += walk.reused;
  }

  /** Forget everything (a layer dir replaced, a case over). */
  clear(): void {
    this.last.clear();
    this.onTmpfs.clear();
  }
}

// The walk reads the same things with the same calls as lstat + llistxattr + readdir + read
// on each full path, with fewer lookups: each object is named relative to its parent dir's
// open fd (statx, openat, readlinkat), and an object the walk opens anyway (a dir to list, a
// regular file to read) has its xattrs read through that fd (flistxattr/fgetxattr: the same
// dentry, the same permission checks). A dir is listed in full before its children are looked
// up, as before; its fd stays open until they are read.

const { O_RDONLY, O_NONBLOCK, O_DIRECTORY } = fs.constants;
const O_CLOEXEC = 0o2000000;
// What opendir(3) (Node's readdirSync) opens a dir with.
const OPEN_DIR = O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_CLOEXEC;
const OPEN_FILE = OPEN_READ | O_CLOEXEC;
const AT_SYMLINK_NOFOLLOW = 0x100;
const statBuf = Buffer.alloc(STATX_SIZE);
const DENTS_SIZE = 32768; // as glibc's readdir
let dentsBuf: Buffer | undefined;

function walkAt(snap: Snapshot, rel: string, dirfd: number, name: string, full: string, reads?: WalkReads): void {
  const rc = statxAt(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, statBuf);
  // Overlay can list a name whose lookup fails (S22.9): record it, do not descend.
  if (rc !== 'ok') {
    snap.set(rel, errorEntry(rc));
    return;
  }
  const st = readStatx(statBuf);
  const kind = kindOf(st.mode, st.rdev);
  const same = reads && unchanged(reads.previous.get(rel), st);
  if (same) {
    // Read by an earlier walk and not changed since (LayerReads): its children are looked
    // up by their whole path, as no dir fd is open.
    const entry = entryOf(st, kind, { ...same.xattrs });
    if (same.data !== undefined) {
      entry.data = same.data;
      entry.blocks = st.blocks;
    }
    if (same.target !== undefined) entry.target = same.target;
    snap.set(rel, entry);
    reads.next.set(rel, same);
    reads.reused++;
    if (same.names) {
      const prefix = rel === '/' ? '/' : rel + '/';
      for (const child of same.names) walkAt(snap, prefix + child, AT_FDCWD, full + '/' + child, full + '/' + child, reads);
    }
    return;
  }
  const keep = (entry: SnapEntry, names?: string[]) => {
    if (reads && before(st.ctime, reads.began)) {
      reads.next.set(rel, { dev: st.dev, ino: st.ino, size: st.size, ctime: st.ctime, xattrs: { ...entry.xattrs }, names, data: entry.data, target: entry.target });
    }
  };
  if (kind === 'dir') {
    const fd = openAt(dirfd, name, OPEN_DIR);
    if (typeof fd !== 'number') {
      snap.set(rel, errorEntry(fd)); // the listing fails: the dir shows as that error
      return;
    }
    try {
      const entry = entryOf(st, kind, fdXattrs(fd));
      const names = listFd(fd);
      if (typeof names === 'string') {
        snap.set(rel, errorEntry(names));
        return;
      }
      snap.set(rel, entry);
      names.sort(); // readdir order differs between tmpfs and overlay; keys come out in one order
      keep(entry, names);
      const prefix = rel === '/' ? '/' : rel + '/';
      for (const child of names) walkAt(snap, prefix + child, fd, child, full + '/' + child, reads);
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  if (kind === 'file') {
    const fd = openAt(dirfd, name, OPEN_FILE);
    if (typeof fd !== 'number') {
      // unreadable content shows up as a difference, not a crash
      const entry = entryOf(st, kind, xattrsOf(full));
      entry.data = `<${fd}>`;
      entry.blocks = st.blocks;
      snap.set(rel, entry);
      return;
    }
    try {
      const entry = entryOf(st, kind, fdXattrs(fd));
      entry.data = readDataFd(fd);
      entry.blocks = st.blocks;
      snap.set(rel, entry);
      if (!entry.data.startsWith('<')) keep(entry); // not an error read: that one is read again
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  const entry = entryOf(st, kind, xattrsOf(full));
  if (kind === 'symlink') {
    const target = readlinkAt(dirfd, name);
    if (!target.ok) throw Object.assign(new Error(`readlink ${full}: ${target.errno}`), { errno: -(ERRNO[target.errno] ?? 5), code: target.errno, syscall: 'readlink', path: full });
    entry.target = target.value;
  }
  snap.set(rel, entry);
  keep(entry);
}

/** The earlier read, if the object is the same inode with the same ctime and size. */
function unchanged(read: Read | undefined, st: StatFields): Read | undefined {
  if (!read) return undefined;
  const same = read.ino === st.ino && read.dev === st.dev && read.size === st.size && read.ctime[0] === st.ctime[0] && read.ctime[1] === st.ctime[1];
  return same ? read : undefined;
}

interface StatFields {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number | string;
  dev: number;
  rdev: number;
  mtime: number;
  blocks: number;
  size: number;
  ctime: [number, number];
}

/** The fields of a struct statx, as Node's number-mode lstat reports them. */
function readStatx(b: Buffer): StatFields {
  const inoHi = b.readUInt32LE(36), inoLo = b.readUInt32LE(32);
  const mtimeSec = b.readInt32LE(116) * 2 ** 32 + b.readUInt32LE(112); // tv_sec, exact below 2^53
  const mtimeNsec = b.readUInt32LE(120);
  return {
    nlink: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    mode: b.readUInt16LE(28),
    // st_ino >= 2^53 (xino puts the layer in the high bits) is kept exact as a decimal string
    ino: inoHi < 0x200000 ? inoHi * 2 ** 32 + inoLo : b.readBigUInt64LE(32).toString(),
    blocks: b.readUInt32LE(52) * 2 ** 32 + b.readUInt32LE(48),
    size: b.readUInt32LE(44) * 2 ** 32 + b.readUInt32LE(40),
    ctime: [b.readInt32LE(100) * 2 ** 32 + b.readUInt32LE(96), b.readUInt32LE(104)],
    rdev: makedev(b.readUInt32LE(128), b.readUInt32LE(132)),
    dev: makedev(b.readUInt32LE(136), b.readUInt32LE(140)),
    // Node's mtimeMs (sec * 1e3 + nsec / 1e6), in whole seconds as before
    mtime: Math.floor((mtimeSec * 1e3 + mtimeNsec / 1e6) / 1000),
  };
}

/** glibc's makedev, as a number the way Node converts the 64-bit dev_t (exact below 2^53). */
function makedev(major: number, minor: number): number {
  if (major < 0x1000) return (minor >>> 8) * 2 ** 20 + ((major & 0xfff) << 8) + (minor & 0xff);
  const big = (BigInt(major >>> 12) << 44n) | (BigInt(minor >>> 8) << 20n) | (BigInt(major & 0xfff) << 8n) | BigInt(minor & 0xff);
  return Number(big);
}

function entryOf(st: StatFields, kind: EntryKind, xattrs: Record<string, string>): SnapEntry {
  return { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, nlink: st.nlink, ino: st.ino, dev: st.dev, xattrs, mtime: st.mtime };
}

/** Every name of an open dir but `.` and `..` (as readdirSync: UTF-8), or the errno of a getdents that fails. */
function listFd(fd: number): string[] | string {
  dentsBuf ??= Buffer.allocUnsafe(DENTS_SIZE);
  const names: string[] = [];
  for (;;) {
    const n = getdents(fd, dentsBuf);
    if (typeof n === 'string') return n;
    if (n === 0) return names;
    for (let off = 0; off < n; ) {
      const reclen = dentsBuf.readUInt16LE(off + 16);
      const end = dentsBuf.indexOf(0, off + 19);
      const len = (end < 0 || end > off + reclen ? off + reclen : end) - off - 19;
      const dot = len === 1 && dentsBuf[off + 19] === 0x2e;
      const dotdot = len === 2 && dentsBuf[off + 19] === 0x2e && dentsBuf[off + 20] === 0x2e;
      if (!dot && !dotdot) names.push(dentsBuf.toString('utf8', off + 19, off + 19 + len));
      off += reclen;
    }
  }
}

function readDataFd(fd: number): string {
  try {
    return readWhole(fd);
  } catch (err) {
    return `<${errnoOf(err) ?? 'EIO'}>`;
  }
}

/** Every xattr through list and get calls; a value that cannot be read shows as its errno, `<ENODATA>`. */
function xattrsVia(list: () => NativeList, get: (name: string) => NativeValue): Record<string, string> {
  const xattrs: Record<string, string> = {};
  const names = list();
  if (!names.ok) return xattrs;
  for (const name of names.value) {
    const value = get(name);
    xattrs[name] = value.ok ? value.value : `<${value.errno}>`;
  }
  return xattrs;
}

/** Every xattr of an open object (the walk's, an fd step's: harness/fds.ts). */
export const fdXattrs = (fd: number) => xattrsVia(() => flistxattr(fd), (name) => fgetxattr(fd, name));
const xattrsOf = (full: string) => xattrsVia(() => llistxattr(full), (name) => lgetxattr(full, name));

const ERRNO: Record<string, number> = os.constants.errno;

/** A file type from st_mode; a character device 0/0 is a whiteout (S3.3). */
export function kindOf(mode: number, rdev: number): EntryKind {
  switch (mode & S_IFMT) {
    case S_IFDIR: return 'dir';
    case S_IFREG: return 'file';
    case S_IFLNK: return 'symlink';
    case S_IFIFO: return 'fifo';
    case S_IFCHR: return rdev === 0 ? 'whiteout' : 'chardev';
    default: return 'other';
  }
}

// open+read+close into one reused buffer: about 40% cheaper than readFileSync (no fstat, no
// per-file allocation) for the small files the suite generates; larger files take more reads.
const READ_CHUNK = 65536;
let readBuffer: Buffer | undefined;

/** The whole content of an open file from offset 0 (pread: the fd's offset stays), latin1; throws errors. */
export function readWhole(fd: number): string {
  readBuffer ??= Buffer.allocUnsafe(READ_CHUNK);
  let data = '';
  for (let pos = 0; ; ) {
    const n = fs.readSync(fd, readBuffer, 0, READ_CHUNK, pos);
    if (n === 0) return data;
    data += readBuffer.toString('latin1', 0, n);
    pos += n;
  }
}

/** A name that is listed but cannot be read (S22.9). */
export function errorEntry(errno: string): SnapEntry {
  return { kind: 'error', errno, mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, xattrs: {} };
}
