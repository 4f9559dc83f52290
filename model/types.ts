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
export type EntrySpec =
  | { type: 'dir'; mode?: number; opaque?: boolean; xattrs?: Record<string, string> }
  | { type: 'file'; mode?: number; data?: string; xattrs?: Record<string, string> }
  | { type: 'symlink'; target: string }
  /** A second name for the regular file at `to` in the same layer. */
  | { type: 'link'; to: string }
  /** Character device 0/0 (S2.5, S3.1). */
  | { type: 'whiteout' }
  | { type: 'fifo'; mode?: number };

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
export type Op =
  | { op: 'open'; path: string; flags: OpenFlag[]; mode?: number; data?: string }
  | { op: 'truncate'; path: string; size: number }
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
  /** Unmount and mount again with the same layers and options. */
  | { op: 'remount' }
  | FdOp
  /** Unmount; the upper becomes the new top lower layer; mount with a new empty upper. */
  | { op: 'rotate' };

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
  target?: string; // symlinks
  xattrs: Record<string, string>; // name -> value (latin1); every namespace readable
  /** kind 'error': the name is listed by readdir but lstat fails (S22.9). */
  errno?: string;
}

/** Path ("/", "/a/b") -> entry. The root is included. */
export type Snapshot = Map<string, SnapEntry>;

export type ViewName = 'merged' | 'upper' | `lower${number}`;
