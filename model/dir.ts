// Namespace operations (dir.c): create, mkdir, mknod, symlink, link, unlink, rmdir.
// rename lives in rename.ts. Each checks errors in the kernel's order, then changes a copy.

import { inheritAcl } from './acl.js';
import { copyUp } from './copyUp.js';
import { cover } from './coverage.js';
import { indexedUpper, needIndex, nlinkEnd, overlayNlink, setNlinkUpper, typeOrigin } from './indexdir.js';
import { findInLayer, newInode, type Inode } from './layerFs.js';
import {
  hasOrigin, isDir, isMergedDir, isOpaque, isPositive, isWhiteout, lookupPath, lowerPositive, realInode, walkPath, lookupRule, type OvlDentry,
} from './lookup.js';
import { allowOfflineChanges, privatePrefix, privateXattr } from './profile.js';
import { mayCreate, mayDelete, mayLinkat, newOwner, umaskOf } from './creds.js';
import { checkEmptyDir } from './readdir.js';
import { setRedirect } from './redirect.js';
import { callerOf, fail, forWrite, isReadOnly, ok, type OvlState, type Step } from './state.js';

/**
 * ovl_create_object / ovl_create_or_link: copy up the parent chain, then put `make()`
 * at the name, replacing an upper whiteout. Mutates s (from forWrite).
 */
export function createInUpper(s: OvlState, parentPath: string, name: string, make: (parentUp: Inode) => Inode): Inode {
  const P = privatePrefix(s.profile);
  const parentUp = copyUp(s, parentPath); // S4.1, S6.2
  const existing = parentUp.children!.get(name);
  const overWhiteout = existing !== undefined && isWhiteout(s, existing); // an xattr whiteout too (S3.4)
  const ino = make(parentUp);
  parentUp.mtime = undefined; // a new name: the dir's mtime is now
  if (overWhiteout) cover('S4.2');
  if (ino.type === 'dir') {
    if (overWhiteout) ino.xattrs[`${P}opaque`] = 'y'; // S4.2
    else if (!allowOfflineChanges(s.profile) && isMergedDir(lookupPath(s, parentPath)!)) {
      ino.xattrs[`${P}opaque`] = 'y'; // S4.4
      cover('S4.4');
    }
    if (`${P}opaque` in ino.xattrs) cover('S3.6');
  }
  parentUp.children!.set(name, ino); // S4.2: a whiteout is replaced, none remains
  return ino;
}

/**
 * Shared front half of mkdir/mknod/symlink: the VFS checks of filename_create, then (unless
 * `later`: link checks the source first) may_create's write and search on the parent (S11.3).
 */
function newName(s: OvlState, path: string, later = false): { parent: OvlDentry; name: string } | Step {
  const w = walkPath(s, path, false);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (w.child.error) return fail(s, w.child.error, lookupRule(w.child.error));
  if (isPositive(w.child)) return fail(s, 'EEXIST', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11'); // filename_create: EEXIST first
  if (lowerWhiteout(s, w.parent, w.name)?.type === 'file') cover('S4.3');
  const denied = later ? null : mayCreate(callerOf(s), realInode(w.parent));
  if (denied) return fail(s, denied, 'S11.3');
  return { parent: w.parent, name: w.name };
}

/** The whiteout in a lower layer that hides a name with nothing in the upper, if any (for coverage: S4.3, S22.7). */
export function lowerWhiteout(s: OvlState, parent: OvlDentry, name: string): Inode | undefined {
  if (parent.upper?.children?.has(name)) return undefined;
  for (const l of parent.lowers) {
    const ino = l.inode.children?.get(name);
    if (ino) return isWhiteout(s, ino) ? ino : undefined;
  }
  return undefined;
}

/** A new object made by the step's caller in the upper dir `parentUp` (S4.5): its owner, and its mode after the umask. */
export function newObject(s: OvlState, parentUp: Inode, type: Inode['type'], mode: number): Inode {
  cover('S4.5');
  const c = callerOf(s);
  // S10.5: a default ACL in the dir replaces the umask (posix_acl_create).
  const acl = inheritAcl(parentUp, type, mode);
  const own = newOwner(c, parentUp, type, acl ? acl.mode : type === 'symlink' ? mode : mode & ~umaskOf(c));
  const ino = newInode(s.upper, type, own.mode);
  ino.uid = own.uid;
  ino.gid = own.gid;
  if (acl) Object.assign(ino.xattrs, acl.xattrs);
  return ino;
}

function isStep(x: object): x is Step {
  return 'outcome' in x;
}

export function mkdir(s: OvlState, path: string, mode: number): Step {
  const n = newName(s, path);
  if (isStep(n)) return n;
  if (lowerWhiteout(s, n.parent, n.name)) cover('S22.7'); // no opaque: the whiteout is below the upper
  const s2 = forWrite(s);
  createInUpper(s2, n.parent.path, n.name, (dir) => newObject(s2, dir, 'dir', mode & 0o1777));
  return ok(s2, 'S4.1');
}

export function mknod(s: OvlState, path: string, kind: 'fifo' | 'whiteout', mode: number): Step {
  const n = newName(s, path);
  if (isStep(n)) return n;
  if (kind === 'whiteout') return fail(s, 'EPERM', 'S3.3'); // ovl_mknod refuses chr 0/0
  const s2 = forWrite(s);
  createInUpper(s2, n.parent.path, n.name, (dir) => newObject(s2, dir, 'fifo', mode & 0o7777));
  return ok(s2, 'S4.1');
}

export function symlink(s: OvlState, target: string, path: string): Step {
  if (target === '') return fail(s, 'ENOENT', 'VFS'); // getname() of the target, before any lookup
  const n = newName(s, path);
  if (isStep(n)) return n;
  const s2 = forWrite(s);
  createInUpper(s2, n.parent.path, n.name, (dir) => {
    const ino = newObject(s2, dir, 'symlink', 0o777);
    ino.target = target;
    return ino;
  });
  return ok(s2, 'S4.1');
}

/** A regular file created by open(O_CREAT) on a negative name. */
export function createFile(s: OvlState, parentPath: string, name: string, mode: number): OvlState {
  const s2 = forWrite(s);
  createInUpper(s2, parentPath, name, (dir) => newObject(s2, dir, 'file', mode & 0o7777));
  return s2;
}

export function link(s: OvlState, src: string, dst: string): Step {
  const wo = walkPath(s, src, false);
  if (!wo.ok) return fail(s, wo.errno, 'VFS');
  if (wo.child.error) return fail(s, wo.child.error, lookupRule(wo.child.error));
  if (!isPositive(wo.child)) return fail(s, 'ENOENT', 'VFS');
  const n = newName(s, dst, true);
  if (isStep(n)) return n;
  const c = callerOf(s);
  const denied = mayLinkat(c, realInode(wo.child)) ?? mayCreate(c, realInode(n.parent)); // S11.3
  if (denied) return fail(s, denied, 'S11.3');
  if (isDir(wo.child)) return fail(s, 'EPERM', 'VFS'); // no hard links to directories
  const s2 = forWrite(s);
  const up = copyUp(s2, wo.child.path); // S4.6: copy-up of the source (metadata only with metacopy=on)
  const counted = nlinkStart(s2, wo.child.path);
  const oldD = lookupPath(s2, wo.child.path)!;
  const origin = typeOrigin(s2, oldD); // in memory too; with nfs_export=on only if indexed
  if (oldD.dataLower) cover('S5.12');
  if (oldD.dataLower && setRedirect(s2, oldD, false) === 'EXDEV') return fail(s2, 'EXDEV', 'S5.12'); // S5.12: absolute
  createInUpper(s2, n.parent.path, n.name, () => up);
  if (origin) findInLayer(s2.upper, n.parent.path)!.xattrs[privateXattr(s.profile, 'impure')] = 'y'; // S4.6
  if (counted) nlinkEnd(s2, counted.origin, counted.up, counted.nlink + 1);
  return ok(s2, 'S4.6');
}

export function unlink(s: OvlState, path: string): Step {
  const w = walkPath(s, path, false);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11'); // before the last name is looked up
  if (w.child.error) return fail(s, w.child.error, lookupRule(w.child.error));
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  const denied = mayDelete(callerOf(s), realInode(w.parent), realInode(w.child)); // S11.3, before the type checks
  if (denied) return fail(s, denied, 'S11.3');
  if (isDir(w.child)) return fail(s, 'EISDIR', 'VFS');
  return remove(s, w.parent, w.child, w.name);
}

export function rmdir(s: OvlState, path: string): Step {
  const w = walkPath(s, path, false);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (!w.name) return fail(s, 'EBUSY', 'VFS'); // the mount root
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11'); // before the last name is looked up
  if (w.child.error) return fail(s, w.child.error, lookupRule(w.child.error));
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  const denied = mayDelete(callerOf(s), realInode(w.parent), realInode(w.child)); // S11.3, before the type checks
  if (denied) return fail(s, denied, 'S11.3');
  if (!isDir(w.child)) return fail(s, 'ENOTDIR', 'VFS');
  const lp = lowerPositive(s, w.parent, w.child);
  if ((lp || !isPureUpper(s, w.child)) && !checkEmptyDir(s, w.child)) {
    if (!w.child.upper) cover('S4.9'); // no recursive whiteouting
    return fail(s, 'ENOTEMPTY', 'S4.8');
  }
  // A pure upper dir is not checked by overlay: the upper fs refuses if it holds anything. A
  // merged one (a renamed lower dir too) passed ovl_check_empty_dir: its whiteouts are cleared.
  if (!lp && isPureUpper(s, w.child) && w.child.upper!.children!.size > 0) {
    return fail(s, 'ENOTEMPTY', 'VFS');
  }
  return remove(s, w.parent, w.child, w.name);
}

/** ovl_pure_upper: no lower, and never merged (no origin: OVL_WHITEOUTS unset). */
export function isPureUpper(s: OvlState, d: OvlDentry): boolean {
  return d.lowers.length === 0 && !(d.upper && hasOrigin(s, d.upper));
}

/** ovl_do_remove: whiteout if something below has the name (S4.7, S4.8), else plain removal. */
function remove(s: OvlState, parent: OvlDentry, child: OvlDentry, name: string): Step {
  const lp = lowerPositive(s, parent, child);
  const s2 = forWrite(s);
  const parentUp = copyUp(s2, parent.path);
  const counted = nlinkStart(s2, child.path);
  s2.memOrigin.delete(child.path);
  parentUp.mtime = undefined; // a name goes
  if (lp) cover('S3.2');
  if (lp) parentUp.children!.set(name, (s2.upper.whiteout ??= newInode(s2.upper, 'whiteout', 0))); // S3.2: a link of the shared whiteout, owned by the mounter (S11.3)
  else parentUp.children!.delete(name);
  if (lp) cover('S3.1');
  else if (parent.lowers.length === 0 && parent.upper && isOpaque(s, parent.upper)) cover('S3.7'); // nothing below to hide
  if (counted) nlinkEnd(s2, counted.origin, counted.up, counted.nlink - 1);
  return ok(s2, lp ? (isDir(child) ? 'S4.8' : 'S4.7') : 'S4.7');
}

/**
 * ovl_nlink_start, before a name of `path` goes (unlink, rmdir, rename over it) or is added
 * (link): a name that copy-up would index is copied up first, so that the index holds the
 * count (S6.6, S12.3); then an indexed file's P.nlink is brought up to date. Returns the
 * indexed file and its overlay nlink, for nlinkEnd. Mutates s (from forWrite).
 */
export function nlinkStart(s: OvlState, path: string): { origin: string; up: Inode; nlink: number } | null {
  let d = lookupPath(s, path)!;
  if (needIndex(s, d) && (!d.upper || d.indexOnly)) {
    cover('S6.6');
    copyUp(s, path);
    d = lookupPath(s, path)!;
  }
  const up = indexedUpper(s, d);
  if (!up) return null;
  cover('S12.3');
  const nlink = overlayNlink(s, d);
  setNlinkUpper(s, up, nlink);
  return { origin: d.lowers[0].inode.id, up, nlink };
}
