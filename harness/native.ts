// libc calls that Node's fs lacks: mknod, renameat2, mount/umount2 and the xattr family.
// Each wrapper returns 'ok' (or the value) and reports failure as an errno name: errno is data.
// The library is loaded lazily, once, on the first call.

import os from 'node:os';
import koffi from 'koffi';
import type { Errno } from '../model/types.js';

export const AT_FDCWD = -100;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
export const MNT_DETACH = 2;
export const MS_RDONLY = 1;
export const MS_REMOUNT = 32;

export type NativeOutcome = 'ok' | Errno;
export type NativeValue = { ok: true; value: string } | { ok: false; errno: Errno };

// ------------------------------------------------------------------ errno names

// Linux has aliases (EWOULDBLOCK=EAGAIN, ENOTSUP=EOPNOTSUPP); the model speaks the errno.h primary names.
const PREFERRED_NAMES: Record<number, string> = { 95: 'EOPNOTSUPP', 11: 'EAGAIN', 35: 'EDEADLK' };
let errnoNames: Map<number, string> | undefined;

/** errno number (positive) -> name as in errno.h; unknown numbers become "E<n>". */
export function errnoName(n: number): Errno {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, num] of Object.entries(os.constants.errno)) {
      if (!errnoNames.has(num)) errnoNames.set(num, name);
    }
    for (const [num, name] of Object.entries(PREFERRED_NAMES)) errnoNames.set(Number(num), name);
  }
  return errnoNames.get(Math.abs(n)) ?? `E${Math.abs(n)}`;
}

/**
 * The errno name of an error thrown by Node's fs, spelled like errnoName (Node says ENOTSUP
 * where the model says EOPNOTSUPP); undefined if the error is not a system call failure.
 */
export function errnoOf(err: unknown): Errno | undefined {
  const e = err as NodeJS.ErrnoException | null;
  if (typeof e?.errno === 'number' && typeof e.syscall === 'string') return errnoName(e.errno);
  return undefined;
}

// ------------------------------------------------------------------ bindings

interface Libc {
  mknod: (path: string, mode: number, dev: number) => number;
  renameat2: (olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number) => number;
  mount: (src: string, target: string, fstype: string, flags: number, data: string | null) => number;
  umount2: (target: string, flags: number) => number;
  truncate: (path: string, length: number) => number;
  setxattr: (path: string, name: string, value: Buffer, size: number, flags: number) => number;
  lsetxattr: (path: string, name: string, value: Buffer, size: number, flags: number) => number;
  getxattr: (path: string, name: string, value: Buffer, size: number) => number;
  lgetxattr: (path: string, name: string, value: Buffer, size: number) => number;
  listxattr: (path: string, list: Buffer, size: number) => number;
  llistxattr: (path: string, list: Buffer, size: number) => number;
  removexattr: (path: string, name: string) => number;
  lremovexattr: (path: string, name: string) => number;
}

let lib: ReturnType<typeof koffi.load> | undefined;

/** Bind a table of libc prototypes, once, on first use (every FFI call of the harness goes through here). */
export function libcBindings<T>(prototypes: { [K in keyof T]: string }): () => T {
  let bound: T | undefined;
  return () => {
    if (!bound) {
      lib ??= koffi.load('libc.so.6');
      bound = Object.fromEntries(Object.entries(prototypes).map(([k, p]) => [k, lib!.func(p as string)])) as T;
    }
    return bound;
  };
}

// ssize_t is declared as `long` (same width on Linux); koffi has no ssize_t.
const load = libcBindings<Libc>({
  mknod: 'int mknod(const char *path, uint32_t mode, unsigned long dev)',
  renameat2: 'int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)',
  mount: 'int mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  truncate: 'int truncate(const char *path, long length)',
  setxattr: 'int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  lsetxattr: 'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  getxattr: 'long getxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
  lgetxattr: 'long lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
  listxattr: 'long listxattr(const char *path, _Out_ void *list, size_t size)',
  llistxattr: 'long llistxattr(const char *path, _Out_ void *list, size_t size)',
  removexattr: 'int removexattr(const char *path, const char *name)',
  lremovexattr: 'int lremovexattr(const char *path, const char *name)',
});

function outcome(rc: number): NativeOutcome {
  return rc < 0 ? errnoName(koffi.errno()) : 'ok';
}

// ------------------------------------------------------------------ nodes, renames, mounts

export function mknod(path: string, mode: number, dev: number): NativeOutcome {
  return outcome(load().mknod(path, mode, dev));
}

export function renameat2(oldPath: string, newPath: string, flags: number): NativeOutcome {
  return outcome(load().renameat2(AT_FDCWD, oldPath, AT_FDCWD, newPath, flags));
}

export function mount(src: string, target: string, fstype: string, flags: number, data: string | null): NativeOutcome {
  return outcome(load().mount(src, target, fstype, flags, data));
}

export function umount2(target: string, flags: number): NativeOutcome {
  return outcome(load().umount2(target, flags));
}

/** truncate(2) itself: Node's truncateSync opens the file O_RDWR first. */
export function truncate(path: string, length: number): NativeOutcome {
  return outcome(load().truncate(path, length));
}

// ------------------------------------------------------------------ xattrs

// XATTR_SIZE_MAX and XATTR_LIST_MAX are both 64 KiB, so one shared buffer always fits. The
// kernel allocates (and zeroes) a buffer of the size asked for, 64 KiB at 1.5-2 µs a call:
// every get/list asks for 1 KiB first and only on ERANGE again for all of it, which answers
// exactly as one call with 64 KiB would (the snapshot hot path: about 50 calls a step).
const XATTR_MAX = 65536;
const XATTR_FIRST = 1024;
const ERANGE = 34;
let scratch: Buffer | undefined;

/** A get/list call into the shared buffer: 1 KiB, then 64 KiB if that is too small. */
function intoBuffer(call: (buf: Buffer, size: number) => number): { n: number; buf: Buffer } {
  scratch ??= Buffer.allocUnsafe(XATTR_MAX);
  const n = Number(call(scratch, XATTR_FIRST));
  if (n >= 0 || koffi.errno() !== ERANGE) return { n, buf: scratch };
  return { n: Number(call(scratch, XATTR_MAX)), buf: scratch };
}

export function setxattr(path: string, name: string, value: string, flags: number): NativeOutcome {
  const v = Buffer.from(value, 'latin1');
  return outcome(load().setxattr(path, name, v, v.length, flags));
}

export function lsetxattr(path: string, name: string, value: string, flags: number): NativeOutcome {
  const v = Buffer.from(value, 'latin1');
  return outcome(load().lsetxattr(path, name, v, v.length, flags));
}

function valueOf({ n, buf }: { n: number; buf: Buffer }): NativeValue {
  if (n < 0) return { ok: false, errno: errnoName(koffi.errno()) };
  return { ok: true, value: buf.toString('latin1', 0, n) };
}

export function getxattr(path: string, name: string): NativeValue {
  return valueOf(intoBuffer((buf, size) => load().getxattr(path, name, buf, size)));
}

export function lgetxattr(path: string, name: string): NativeValue {
  return valueOf(intoBuffer((buf, size) => load().lgetxattr(path, name, buf, size)));
}

/** Names (any namespace) in the order the filesystem lists them. */
export type NativeList = { ok: true; value: string[] } | { ok: false; errno: Errno };

function namesOf({ n, buf }: { n: number; buf: Buffer }): NativeList {
  if (n < 0) return { ok: false, errno: errnoName(koffi.errno()) };
  if (n === 0) return { ok: true, value: [] };
  // The list is NUL-separated and NUL-terminated.
  return { ok: true, value: buf.toString('latin1', 0, n - 1).split('\0') };
}

export function listxattr(path: string): NativeList {
  return namesOf(intoBuffer((buf, size) => load().listxattr(path, buf, size)));
}

export function llistxattr(path: string): NativeList {
  return namesOf(intoBuffer((buf, size) => load().llistxattr(path, buf, size)));
}

export function removexattr(path: string, name: string): NativeOutcome {
  return outcome(load().removexattr(path, name));
}

export function lremovexattr(path: string, name: string): NativeOutcome {
  return outcome(load().lremovexattr(path, name));
}

// ------------------------------------------------------------------ directory streams

const loadDir = libcBindings<{
  getdents64: (fd: number, buf: Buffer, size: number) => number | bigint;
  lseek: (fd: number, offset: number | bigint, whence: number) => number | bigint;
}>({
  getdents64: 'long getdents64(int fd, _Out_ void *dirp, size_t count)',
  lseek: 'int64_t lseek(int fd, int64_t offset, int whence)',
});

/** One linux_dirent64 as read: d_off is the position after it (a cookie: a decimal string). */
export interface RawDirent {
  name: string;
  ino: number | string;
  type: number;
  off: string;
}

// Big enough for any one entry (NAME_MAX 255 + the 19-byte header, 8-aligned).
const DIRENT_MAX = 280;
let direntBuf: Buffer | undefined;

/**
 * getdents64 for exactly one entry (null at the end): the buffer grows 8 bytes at a time
 * from the smallest record, so that the first size that fits the next entry cannot fit two.
 */
export function getdentOne(fd: number): { ok: true; value: RawDirent | null } | { ok: false; errno: Errno } {
  direntBuf ??= Buffer.alloc(DIRENT_MAX);
  for (let size = 24; size <= DIRENT_MAX; size += 8) {
    const n = Number(loadDir().getdents64(fd, direntBuf, size));
    if (n < 0) {
      const errno = errnoName(koffi.errno());
      if (errno === 'EINVAL' && size < DIRENT_MAX) continue; // the next entry does not fit yet
      return { ok: false, errno };
    }
    if (n === 0) return { ok: true, value: null };
    const ino = direntBuf.readBigUInt64LE(0);
    const off = direntBuf.readBigInt64LE(8);
    const end = direntBuf.indexOf(0, 19);
    return {
      ok: true,
      value: {
        ino: ino <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ino) : ino.toString(),
        off: off.toString(),
        type: direntBuf[18],
        name: direntBuf.toString('latin1', 19, end),
      },
    };
  }
  return { ok: false, errno: 'EINVAL' };
}

/** lseek(fd, offset, SEEK_SET) to a cookie d_off gave (a decimal string). */
export function lseekSet(fd: number, offset: string): NativeOutcome {
  const r = BigInt(loadDir().lseek(fd, BigInt(offset), 0));
  return r < 0n ? errnoName(koffi.errno()) : 'ok';
}

// ------------------------------------------------------------------ times

export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;
export const AT_SYMLINK_NOFOLLOW = 0x100;

const loadTimes = libcBindings<{ utimensat: (dirfd: number, path: string, times: Buffer, flags: number) => number }>({
  utimensat: 'int utimensat(int dirfd, const char *path, const void *times, int flags)',
});

/** utimensat(2) with two struct timespec: each time is seconds, or UTIME_NOW / UTIME_OMIT in nsec. */
export function utimensat(path: string, atime: number | 'now' | 'omit', mtime: number | 'now' | 'omit', flags: number): NativeOutcome {
  const times = Buffer.alloc(32);
  [atime, mtime].forEach((t, i) => {
    times.writeBigInt64LE(BigInt(typeof t === 'number' ? t : 0), 16 * i);
    times.writeBigInt64LE(BigInt(t === 'now' ? UTIME_NOW : t === 'omit' ? UTIME_OMIT : 0), 16 * i + 8);
  });
  return outcome(loadTimes().utimensat(AT_FDCWD, path, times, flags));
}

// ------------------------------------------------------------------ through open fds (harness/fds.ts)

interface FdLibc {
  fsetxattr: (fd: number, name: string, value: Buffer, size: number, flags: number) => number;
  fgetxattr: (fd: number, name: string, value: Buffer, size: number) => number;
  flistxattr: (fd: number, list: Buffer, size: number) => number;
  linkat: (olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number) => number;
}

const loadFd = libcBindings<FdLibc>({
  fsetxattr: 'int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)',
  fgetxattr: 'long fgetxattr(int fd, const char *name, _Out_ void *value, size_t size)',
  flistxattr: 'long flistxattr(int fd, _Out_ void *list, size_t size)',
  linkat: 'int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)',
});

export const AT_EMPTY_PATH = 0x1000;

export function fsetxattr(fd: number, name: string, value: string, flags: number): NativeOutcome {
  const v = Buffer.from(value, 'latin1');
  return outcome(loadFd().fsetxattr(fd, name, v, v.length, flags));
}

export function fgetxattr(fd: number, name: string): NativeValue {
  return valueOf(intoBuffer((buf, size) => loadFd().fgetxattr(fd, name, buf, size)));
}

export function flistxattr(fd: number): NativeList {
  return namesOf(intoBuffer((buf, size) => loadFd().flistxattr(fd, buf, size)));
}

/** linkat(fd, "", AT_FDCWD, newPath, AT_EMPTY_PATH): a name for what the fd holds (an O_TMPFILE, S4.10). */
export function linkFd(fd: number, newPath: string): NativeOutcome {
  return outcome(loadFd().linkat(fd, '', AT_FDCWD, newPath, AT_EMPTY_PATH));
}

// ------------------------------------------------------------------ the snapshot walk (harness/snapshot.ts)

// The walk names each object relative to its parent dir's open fd (one lookup instead of a
// walk of the whole path) and fills one reused struct statx instead of a Node Stats object.
const loadAt = libcBindings<{
  statx: (dirfd: number, path: string, flags: number, mask: number, buf: Buffer) => number;
  openat: (dirfd: number, path: string, flags: number) => number;
  readlinkat: (dirfd: number, path: string, buf: Buffer, size: number) => number | bigint;
}>({
  statx: 'int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ void *buf)',
  // open(2) without O_CREAT/O_TMPFILE reads no mode: the variadic argument is left out
  openat: 'int openat(int dirfd, const char *path, int flags)',
  readlinkat: 'long readlinkat(int dirfd, const char *path, _Out_ void *buf, size_t size)',
});

export const AT_STATX_SYNC_AS_STAT = 0;
/** What Node's (libuv's) lstat asks statx for: STATX_BASIC_STATS | STATX_BTIME. */
export const STATX_NODE_MASK = 0xfff;
export const STATX_SIZE = 256;

/** statx(2) into buf (struct statx); an errno name on failure. */
export function statxAt(dirfd: number, path: string, flags: number, buf: Buffer): NativeOutcome {
  return outcome(loadAt().statx(dirfd, path, flags, STATX_NODE_MASK, buf));
}

const loadClock = libcBindings<{ clockGettime: (clock: number, tp: Buffer) => number }>({
  clockGettime: 'int clock_gettime(int clock, _Out_ void *tp)',
});
const CLOCK_REALTIME_COARSE = 5;
const timespec = Buffer.alloc(16);

/**
 * The clock the kernel stamps ctime from (current_time(): the coarse realtime clock; a
 * multigrain timestamp, 6.13+, is never below it), as [seconds, nanoseconds].
 */
export function coarseNow(): [number, number] {
  if (loadClock().clockGettime(CLOCK_REALTIME_COARSE, timespec) !== 0) throw new Error(`clock_gettime: ${errnoName(koffi.errno())}`);
  return [Number(timespec.readBigInt64LE(0)), timespec.readUInt32LE(8)];
}

/** openat(2) without a mode: the fd, or an errno name. */
export function openAt(dirfd: number, path: string, flags: number): number | Errno {
  const fd = loadAt().openat(dirfd, path, flags);
  return fd < 0 ? errnoName(koffi.errno()) : fd;
}

/** readlinkat(2), latin1 (a target is at most PATH_MAX - 1 bytes: the shared 64 KiB buffer holds any). */
export function readlinkAt(dirfd: number, path: string): NativeValue {
  // readlinkat truncates rather than failing with ERANGE: one call with the whole buffer
  scratch ??= Buffer.allocUnsafe(XATTR_MAX);
  return valueOf({ n: Number(loadAt().readlinkat(dirfd, path, scratch, XATTR_MAX)), buf: scratch });
}

/** getdents64(2) into buf: bytes filled (0 at the end), or an errno name. */
export function getdents(fd: number, buf: Buffer): number | Errno {
  const n = Number(loadDir().getdents64(fd, buf, buf.length));
  return n < 0 ? errnoName(koffi.errno()) : n;
}
