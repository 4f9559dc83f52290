// Credentials (section 11 of the catalog): who makes a step, and the permission checks the
// VFS makes on the overlay inode with the caller's credentials (S11.1a). The second check,
// the mounter's on the real inode (S11.1b, S11.2), always passes here: the mounter is root,
// and root's only refusal (exec of a file without any x bit) is never asked (S11.3).
// The rules are fs/namei.c generic_permission, may_lookup, may_create, may_delete,
// check_sticky, may_linkat; fs/attr.c setattr_prepare; fs/xattr.c xattr_permission;
// fs/inode.c inode_init_owner.
//
// The host's sysctls the rules assume (harness/creds.ts checks them): fs.protected_hardlinks=1,
// fs.protected_symlinks=0, fs.protected_regular=0, fs.protected_fifos=0.

import { aclPermits } from './acl.js';
import { cover } from './coverage.js';
import type { Inode } from './layerFs.js';
import type { Caller, Errno } from './types.js';

export const ROOT: Caller = { uid: 0, gid: 0 };
export const UMASK_DEFAULT = 0o022;

export const MAY_EXEC = 1;
export const MAY_WRITE = 2;
export const MAY_READ = 4;

const S_ISGID = 0o2000;
const S_ISVTX = 0o1000;
const S_ISUID = 0o4000;

/** euid 0 keeps every capability (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_FSETID, ...). */
export function isRoot(c: Caller): boolean {
  return c.uid === 0;
}

export function umaskOf(c: Caller): number {
  return c.umask ?? UMASK_DEFAULT;
}

/** in_group_p: the fsgid or a supplementary group. */
export function inGroup(c: Caller, gid: number): boolean {
  return c.gid === gid || (c.groups ?? []).includes(gid);
}

/**
 * generic_permission on an inode (the overlay inode shows the real inode's mode and owner):
 * the owner class if the caller owns it, else the group class if in its group, else other.
 * Root: everything on dirs, read/write on the rest, exec where any x bit is set.
 */
export function permitted(c: Caller, ino: Inode, mask: number): boolean {
  cover('S11.1'); // the caller's check on the overlay inode (the mounter's, on the real one, passes: root)
  if (isRoot(c)) return ino.type === 'dir' || !(mask & MAY_EXEC) || (ino.mode & 0o111) !== 0;
  const acl = aclPermits(c, ino, mask); // S10.5: the real inode's access ACL, where it has one
  if (acl !== null) return acl;
  const shift = c.uid === ino.uid ? 6 : inGroup(c, ino.gid) ? 3 : 0;
  return ((ino.mode >> shift) & mask) === mask;
}

/** inode_owner_or_capable: the owner, or CAP_FOWNER. */
export function ownerOrCapable(c: Caller, ino: Inode): boolean {
  return isRoot(c) || c.uid === ino.uid;
}

/** may_lookup: search permission on a dir before any name in it is looked up (S11.3). */
export function mayLookup(c: Caller, dir: Inode): Errno | null {
  return permitted(c, dir, MAY_EXEC) ? null : 'EACCES';
}

/** may_create: write and search on the parent (S11.3). */
export function mayCreate(c: Caller, dir: Inode): Errno | null {
  return permitted(c, dir, MAY_WRITE | MAY_EXEC) ? null : 'EACCES';
}

/**
 * may_delete, before its type checks: write and search on the parent, then the sticky bit:
 * in a sticky dir only the owner of the victim or of the dir (or CAP_FOWNER) may remove (EPERM).
 */
export function mayDelete(c: Caller, dir: Inode, victim: Inode): Errno | null {
  if (!permitted(c, dir, MAY_WRITE | MAY_EXEC)) return 'EACCES';
  if (dir.mode & S_ISVTX && !isRoot(c) && c.uid !== victim.uid && c.uid !== dir.uid) return 'EPERM';
  return null;
}

/**
 * may_linkat with fs.protected_hardlinks=1: the owner may link anything; others only a
 * regular file that is not setuid, not setgid-executable, and that they may read and write.
 */
export function mayLinkat(c: Caller, src: Inode): Errno | null {
  if (ownerOrCapable(c, src)) return null;
  const safe = src.type === 'file' && !(src.mode & S_ISUID) && (src.mode & (S_ISGID | 0o010)) !== (S_ISGID | 0o010)
    && permitted(c, src, MAY_READ | MAY_WRITE);
  return safe ? null : 'EPERM';
}

/**
 * may_create_in_sticky, when O_CREAT opens an existing object: in a sticky world-writable
 * dir, an object owned neither by the dir's owner nor by the caller is refused (EACCES), root
 * too. Regular files and fifos only under fs.protected_regular / protected_fifos, both 0 here.
 */
export function mayCreateInSticky(c: Caller, dir: Inode, ino: Inode): Errno | null {
  if (!(dir.mode & S_ISVTX) || ino.type === 'file' || ino.type === 'fifo') return null;
  if (ino.uid === dir.uid || ino.uid === c.uid) return null;
  return dir.mode & 0o002 ? 'EACCES' : null;
}

/**
 * The owner and mode of a new object (S4.5): the caller's fsuid; the parent's gid if the parent
 * is setgid (a new dir inherits the setgid bit too), else the caller's fsgid. `mode` has the
 * umask applied already.
 */
export function newOwner(c: Caller, parent: Inode, type: Inode['type'], mode: number): { uid: number; gid: number; mode: number } {
  if (!(parent.mode & S_ISGID)) return { uid: c.uid, gid: c.gid, mode };
  return { uid: c.uid, gid: parent.gid, mode: type === 'dir' ? mode | S_ISGID : mode };
}

/**
 * setattr_prepare for chmod: the owner or CAP_FOWNER (EPERM); a caller outside the file's
 * group (without CAP_FSETID) cannot set S_ISGID: the bit is dropped.
 */
export function chmodMode(c: Caller, ino: Inode, mode: number): number | 'EPERM' {
  if (!ownerOrCapable(c, ino)) return 'EPERM';
  return isRoot(c) || inGroup(c, ino.gid) ? mode : mode & ~S_ISGID;
}

/**
 * chown_ok / chgrp_ok (setattr_prepare): a new uid needs CAP_CHOWN unless it is the owner's
 * own; a new gid needs CAP_CHOWN unless the caller owns the file and is in that group.
 * -1 leaves an id alone.
 */
export function mayChown(c: Caller, ino: Inode, uid: number, gid: number): boolean {
  if (isRoot(c)) return true;
  const uidOk = uid === -1 || (c.uid === ino.uid && uid === ino.uid);
  const gidOk = gid === -1 || (c.uid === ino.uid && (gid === ino.gid || inGroup(c, gid)));
  return uidOk && gidOk;
}

/**
 * The mode after chown (chown_common, notify_change): a non-dir loses S_ISUID, and S_ISGID
 * when group-executable, or (from 6.2, setattr_should_drop_sgid) when the caller is outside
 * the file's group without CAP_FSETID. Root too: the kill bits do not ask for capabilities.
 */
export function modeAfterChown(c: Caller, ino: Inode, dropsOutsideGroup: boolean): number {
  if (ino.type === 'dir') return ino.mode;
  let mode = ino.mode & ~S_ISUID;
  const outside = dropsOutsideGroup && !(isRoot(c) || inGroup(c, ino.gid));
  if (mode & S_ISGID && (mode & 0o010 || outside)) mode &= ~S_ISGID;
  return mode;
}

/**
 * xattr_permission for a write (set or remove): trusted.* needs CAP_SYS_ADMIN (EPERM);
 * user.* only on regular files and dirs (EPERM), not on a sticky dir of another (EPERM),
 * and needs write permission (EACCES); other names (security.*) write permission.
 */
export function mayWriteXattr(c: Caller, ino: Inode, name: string): Errno | null {
  if (name.startsWith('trusted.')) return isRoot(c) ? null : 'EPERM';
  if (name.startsWith('user.')) {
    if (ino.type !== 'file' && ino.type !== 'dir') return 'EPERM';
    if (ino.type === 'dir' && ino.mode & S_ISVTX && !ownerOrCapable(c, ino)) return 'EPERM';
  }
  return permitted(c, ino, MAY_WRITE) ? null : 'EACCES';
}

/**
 * utimensat: explicit times (or one of them omitted) need the owner or CAP_FOWNER (EPERM);
 * both UTIME_NOW (ATTR_TOUCH) is also allowed to whoever may write the file (else EACCES).
 */
export function mayUtimes(c: Caller, ino: Inode, touch: boolean): Errno | null {
  if (ownerOrCapable(c, ino)) return null;
  if (!touch) return 'EPERM';
  return permitted(c, ino, MAY_WRITE) ? null : 'EACCES';
}
