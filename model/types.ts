// The vocabulary shared by the model, the harness and the properties: layer specs,
// operations, outcomes, mount profiles and snapshots. Plain JSON-friendly data only.

/** errno name as in errno.h ("ENOENT"), or "ok". */
export type Outcome = 'ok' | Errno;
export type Errno =
  | 'ENOENT' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EEXIST' | 'EINVAL' | 'ELOOP' | 'EXDEV'
  | 'EPERM' | 'EBUSY' | 'ENODATA' | 'ENXIO' | 'EROFS' | 'ESTALE' | 'EIO' | 'ENAMETOOLONG'
  | 'EACCES' | 'EOPNOTSUPP' | 'EMLINK' | 'ENOSPC' | 'E2BIG' | 'ERANGE' | 'EBADF' | 'ENOTCONN'
  | 'ETIMEDOUT' | 'ESPIPE' | (string & {});

// ---------------------------------------------------------------- layers

/** One entry of a layer, keyed by its absolute path ("/d/f") in a LayerSpec. */
export type EntrySpec = (
  | { type: 'dir'; mode?: number; opaque?: boolean; xattrs?: Record<string, string> }
  | { type: 'file'; mode?: number; data?: string; xattrs?: Record<string, string> }
  | { type: 'symlink'; target: string }
  /** A second name for the regular file at `to` in the same layer. */
  | { type: 'link'; to: string }
  /** Character device 0/0 (S2.5, S3.1). */
  | { type: 'whiteout' }
  | { type: 'fifo'; mode?: number }
) & Ownership;

/** Owner (default 0:0) and mtime (seconds; default: whenever it was built, unknown) of a layer entry (S11, S6.3). */
export interface Ownership {
  uid?: number;
  gid?: number;
  mtime?: number;
}

/** Path -> entry. Missing ancestors are directories with mode 0755. */
export type LayerSpec = Record<string, EntrySpec>;

/** lowers[0] is the top lower layer (leftmost in lowerdir=, S2.1). */
export interface StackSpec {
  lowers: LayerSpec[];
  upper: LayerSpec;
  /** Data-only layers below every lower ("::" in lowerdir=, S7.4): never looked up by name. */
  data?: LayerSpec[];
}

// ---------------------------------------------------------------- operations

/** A time a step sets: seconds since the epoch, or the kernel's UTIME_NOW / UTIME_OMIT. */
export type TimeSpec = number | 'now' | 'omit';

export type OpenFlag =
  | 'O_RDONLY' | 'O_WRONLY' | 'O_RDWR' | 'O_CREAT' | 'O_EXCL' | 'O_TRUNC' | 'O_APPEND' | 'O_NOFOLLOW';
export type RenameFlag = 'RENAME_NOREPLACE' | 'RENAME_EXCHANGE' | 'RENAME_WHITEOUT';
export type XattrFlag = 'XATTR_CREATE' | 'XATTR_REPLACE';

/**
 * One step. Paths are absolute inside the merged mount ("/a/b").
 * open: opens with the flags (the harness always adds O_NONBLOCK so that a fifo never
 * blocks), writes `data` once if given, closes.
 * mknod 'whiteout' is a character device 0/0 (S3.3).
 */
export type OpKind =
  | { op: 'open'; path: string; flags: OpenFlag[]; mode?: number; data?: string }
  | { op: 'truncate'; path: string; size: number }
  /** open(2) O_WRONLY (follows symlinks, no create), pwrite(2) of data at offset, close(2) (S17.6). */
  | { op: 'pwrite'; path: string; offset: number; data: string }
  | { op: 'unlink'; path: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'rmdir'; path: string }
  | { op: 'rename'; src: string; dst: string; flags?: RenameFlag[] }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'link'; src: string; dst: string }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'mknod'; path: string; kind: 'fifo' | 'whiteout'; mode: number }
  | { op: 'setxattr'; path: string; name: string; value: string; flags?: XattrFlag }
  | { op: 'removexattr'; path: string; name: string }
  /** lsetxattr(2): on a symlink itself, not its target. */
  | { op: 'lsetxattr'; path: string; name: string; value: string; flags?: XattrFlag }
  /** chown(2), or lchown(2) with nofollow; -1 leaves that id as it is. */
  | { op: 'chown'; path: string; uid: number; gid: number; nofollow?: boolean }
  /**
   * utimensat(2) on the path (AT_SYMLINK_NOFOLLOW with nofollow): each time is seconds,
   * 'now' (UTIME_NOW) or 'omit' (UTIME_OMIT).
   */
  | { op: 'utimes'; path: string; atime: TimeSpec; mtime: TimeSpec; nofollow?: boolean }
  /**
   * Unmount and mount again with the same layers: with the same options, or with `options`
   * (explicit mount options as in --options; the layers' properties and userxattr stay).
   */
  | { op: 'remount'; options?: string }
  | FdOp
  /** Unmount; the upper becomes the new top lower layer; mount with a new empty upper. */
  | { op: 'rotate' }
  | DirStreamOp;

// ---------------------------------------------------------------- directory streams (S9)

/** A directory stream held open across steps: one of three slots (model/dirStream.ts). */
export type DirSlot = 0 | 1 | 2;

/**
 * opendir: open(path, O_RDONLY|O_DIRECTORY) into the slot (a stream already there is closed
 * first). readdir: getdents64 until `n` entries are read or the end. seekdir: lseek to the
 * stream's start (`to` 0: rewinddir), or to where it stood after its first `to` reads since
 * that start (an offset the stream returned, S9.6; past its reads: where it is). closedir: close.
 * Every reset of the layers (remount, rotate) closes every stream.
 */
export type DirStreamOp =
  | { op: 'opendir'; path: string; dir: DirSlot }
  | { op: 'readdir'; dir: DirSlot; n: number }
  | { op: 'seekdir'; dir: DirSlot; to: number }
  | { op: 'closedir'; dir: DirSlot };

export type DType = 'DT_DIR' | 'DT_REG' | 'DT_LNK' | 'DT_FIFO' | 'DT_CHR' | 'DT_BLK' | 'DT_SOCK' | 'DT_UNKNOWN';

/**
 * One directory entry. Read from a stream: `ino` is the real d_ino. In the model's prediction:
 * an inode identity named like SnapEntry.ino, or null where it is not compared (harness/compare.ts).
 */
export interface Dirent {
  name: string;
  type: DType | null;
  ino: number | string | null;
}

/**
 * What the model predicts a readdir returns (the kernel's order is not defined, S9.3): entries
 * from `pool`, each once since the stream's start (a seek back forgets the reads after it),
 * carrying the pool's d_type and d_ino. `exact`: as many as min(n, the pool's entries not
 * read yet); else (a real dir that changed since the start, S9.1) any number up to n.
 */
export interface DirReadSpec {
  pool: Dirent[];
  exact: boolean;
  n: number;
}

/** A step: an operation, made by `as` (absent: root with umask 022; S11.3). */
export type Op = OpKind & { as?: Caller };

/**
 * Who makes a step (S11.1): the caller's fsuid/fsgid, supplementary groups and umask
 * (default 022). The mounter is always root. The harness switches its own credentials
 * around the one syscall (harness/creds.ts).
 */
export interface Caller {
  uid: number;
  gid: number;
  groups?: number[];
  umask?: number;
}

export type OpName = Op['op'];

// ---------------------------------------------------------------- open file descriptors

/** A slot the generator names an fd by (model/fds.ts); the harness keeps slot -> real fd. */
export type FdSlot = 0 | 1 | 2 | 3;
export type FdOpenFlag = OpenFlag | 'O_DIRECTORY' | 'O_TMPFILE';

/**
 * Steps on file descriptors that live across steps (S17, S4.10; model/fds.ts). fdopen opens
 * into a slot (closing what the slot held); every other step on a closed slot is EBADF.
 * fdread reads up to 4096 bytes at the fd's offset (advancing it); fdwrite writes at it
 * (at the end with O_APPEND); fdpwrite at `offset`; fdstat is fstat, flistxattr/fgetxattr and
 * a pread of the whole content; fdchown is to 0:0; fdlink is linkat(fd, "", AT_EMPTY_PATH).
 * Remount and rotate close every slot first.
 */
export type FdOp =
  | { op: 'fdopen'; slot: FdSlot; path: string; flags: FdOpenFlag[]; mode?: number }
  | { op: 'fdread'; slot: FdSlot }
  | { op: 'fdwrite'; slot: FdSlot; data: string }
  | { op: 'fdpwrite'; slot: FdSlot; data: string; offset: number }
  | { op: 'fdstat'; slot: FdSlot }
  | { op: 'fdchmod'; slot: FdSlot; mode: number }
  | { op: 'fdchown'; slot: FdSlot }
  | { op: 'fdsetxattr'; slot: FdSlot; name: string; value: string }
  | { op: 'fdtruncate'; slot: FdSlot; size: number }
  | { op: 'fdlink'; slot: FdSlot; path: string }
  | { op: 'fdclose'; slot: FdSlot };

/**
 * What an fd step observed beyond its errno (compared exactly, harness/compare.ts):
 * fdread's bytes (latin1), or fdstat's entry (the SnapEntry fields, content included).
 */
export type FdObserved = { read: string } | { stat: SnapEntry };

// ---------------------------------------------------------------- mount profile

/** The effective mount options: an input of the model (S1.2). */
export interface Profile {
  name: string;
  redirect_dir: 'on' | 'follow' | 'nofollow';
  index: boolean;
  metacopy: boolean;
  xino: 'on' | 'auto' | 'off';
  nfs_export: boolean;
  userxattr: boolean;
  uuid: 'on' | 'auto' | 'null' | 'off';
  /** fsync=volatile (S14.3). */
  volatile?: boolean;
  /** Stacks get a data-only layer (S7.4); a property of the layers, not a mount option. */
  dataOnly?: boolean;
  /** Read-only: a mount without an upper layer (S14.1), or an upper mounted with `ro` (S14.2). */
  readonly?: 'no-upper' | 'ro';
  /** The lower and data-only layers sit on a filesystem of their own (S8.2, S8.3); a property of the layers. */
  split?: boolean;
  /**
   * The lowers are mounted as an inner overlay (read-only, over them and an empty layer), and
   * its merged dir is this overlay's one lower layer (S18.1); a property of the layers.
   */
  nested?: boolean;
  /**
   * The layers give overlayfs no file handles (mounted in a user namespace: rootless mode), a
   * fact of the machine: copy-ups store an empty origin, as over a nested lower (S18.1).
   */
  noFileHandles?: boolean;
}

/** Kernel version as [major, minor, sublevel]; rules that changed between versions switch on it (model/versions.ts). */
export type KernelVersion = readonly [number, number, number?];

// ---------------------------------------------------------------- snapshots

export type EntryKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'whiteout' | 'chardev' | 'other' | 'error';

/**
 * What one name looks like in a view. The harness fills `ino` with the real st_ino;
 * the model fills it with an abstract inode identity ("L2:5", "U:3"). The comparison
 * maps one onto the other (see harness/compare.ts for what is and is not compared).
 */
export interface SnapEntry {
  kind: EntryKind;
  mode: number; // permission bits (07777)
  uid: number;
  gid: number;
  nlink: number;
  ino: number | string;
  /** The harness: the real st_dev; the model: a device class (see model/inodeNumbers.ts). */
  dev?: number | string;
  /** The model: st_ino's bits 32-63, where xino puts the layer's fsid (S8.3); 0 if absent. */
  inoHigh?: number;
  data?: string; // regular files: content, latin1
  /** Regular files: st_blocks (S17.6, S8.7). Absent where the walk does not read it (a guest). */
  blocks?: number;
  target?: string; // symlinks
  xattrs: Record<string, string>; // name -> value (latin1); every namespace readable
  /** st_mtime in whole seconds. The model fills it only where it knows it (harness/compare.ts). */
  mtime?: number;
  /** kind 'error': the name is listed by readdir but lstat fails (S22.9). */
  errno?: string;
}

/** Path ("/", "/a/b") -> entry. The root is included. */
export type Snapshot = Map<string, SnapEntry>;

export type ViewName = 'merged' | 'upper' | `lower${number}`;
