// rename and renameat2 (VFS do_renameat2 + vfs_rename, then dir.c ovl_rename).

import { inheritAcl } from './acl.js';
import { copyUp } from './copyUp.js';
import { cover } from './coverage.js';
import { baseName, findInLayer, newInode, type Inode } from './layerFs.js';
import {
  isDir, isMergeOrLower, isMergedDir, isOpaque, isPositive, lookupChild, lookupPath,
  lowerPositive, realInode, walkPath, lookupRule, type OvlDentry,
} from './lookup.js';
import { privatePrefix } from './profile.js';
import { checkEmptyDir } from './readdir.js';
import { setRedirect } from './redirect.js';
import { isPureUpper, nlinkStart } from './dir.js';
import { nlinkEnd, typeOrigin } from './indexdir.js';
import { activeIndex, callerOf, fail, forWrite, isReadOnly, ok, renameMemOrigin, type OvlState, type Step } from './state.js';
import type { Errno, RenameFlag } from './types.js';
import { MAY_WRITE, mayCreate, mayDelete, permitted } from './creds.js';

export function rename(s: OvlState, src: string, dst: string, flags: RenameFlag[] = []): Step {
  const f = new Set(flags);
  const exchange = f.has('RENAME_EXCHANGE');
  if (exchange && (f.has('RENAME_NOREPLACE') || f.has('RENAME_WHITEOUT'))) return fail(s, 'EINVAL', 'VFS');
  // No CAP_MKNOD check for RENAME_WHITEOUT since 5.8 (unprivileged whiteouts): overlay refuses it (S5.1).
  const wo = walkPath(s, src, false);
  if (!wo.ok) return fail(s, wo.errno, 'VFS');
  const wn = walkPath(s, dst, false);
  if (!wn.ok) return fail(s, wn.errno, 'VFS');
  if (!wo.name || !wn.name) return fail(s, 'EBUSY', 'VFS'); // the mount root
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11'); // before the last names are looked up
  const old = wo.child;
  const nw = wn.child;
  if (old.error) return fail(s, old.error, lookupRule(old.error));
  if (!isPositive(old)) return fail(s, 'ENOENT', 'VFS');
  if (nw.error) return fail(s, nw.error, lookupRule(nw.error));
  if (f.has('RENAME_NOREPLACE') && isPositive(nw)) return fail(s, 'EEXIST', 'S5.1');
  if (exchange && !isPositive(nw)) return fail(s, 'ENOENT', 'VFS');
  if (wo.parent.path !== wn.parent.path) {
    // lock_rename's trap: the source may not be an ancestor of the target, nor the reverse.
    if (isAncestorOrSelf(old.path, wn.parent.path)) return fail(s, 'EINVAL', 'S5.10');
    if (isPositive(nw) && isAncestorOrSelf(nw.path, wo.parent.path)) {
      return fail(s, exchange ? 'EINVAL' : 'ENOTEMPTY', 'S5.10');
    }
  }
  // Two names of one upper inode, one of them copied up in this mount with its lower known
  // only in memory (an empty or impossible origin: S18.1, S10.3): the overlay holds them as
  // two inodes, and ovl_rename, after its flag checks, finds the upper it expects changed under
  // it: ESTALE (found by experiment on 6.18; not in the catalog). Otherwise the same inode: a
  // no-op (vfs_rename).
  const sameUpper = isPositive(nw) && vfsInode(s, old) === vfsInode(s, nw);
  if (sameUpper && memOnlyLower(s, old) === memOnlyLower(s, nw)) return ok(s, 'VFS');
  const denied = mayRename(s, wo.parent, old, wn.parent, nw);
  if (denied) return fail(s, denied, 'S11.3');
  if (isPositive(nw) && !exchange) {
    if (isDir(old) && !isDir(nw)) return fail(s, 'ENOTDIR', 'S5.10');
    if (!isDir(old) && isDir(nw)) return fail(s, 'EISDIR', 'S5.10');
  }
  // vfs_rename: a dir that changes parent has its ".." rewritten: write permission on it (S11.3).
  if (wo.parent.path !== wn.parent.path) {
    const c = callerOf(s);
    if (isDir(old) && !permitted(c, realInode(old), MAY_WRITE)) return fail(s, 'EACCES', 'S11.3');
    if (exchange && isDir(nw) && !permitted(c, realInode(nw), MAY_WRITE)) return fail(s, 'EACCES', 'S11.3');
  }
  return ovlRename(s, wo.parent, old, wn.parent, nw, f, sameUpper);
}

/** vfs_rename's may_delete of the source, then may_delete or may_create at the target (S11.3). */
function mayRename(s: OvlState, oldParent: OvlDentry, old: OvlDentry, newParent: OvlDentry, nw: OvlDentry): Errno | null {
  const c = callerOf(s);
  const first = mayDelete(c, realInode(oldParent), realInode(old));
  if (first) return first;
  return isPositive(nw) ? mayDelete(c, realInode(newParent), realInode(nw)) : mayCreate(c, realInode(newParent));
}

function isAncestorOrSelf(a: string, b: string): boolean {
  return a === '/' || b === a || b.startsWith(a + '/');
}

/**
 * The VFS treats two names as the same file only if they share an overlay inode: upper
 * hard links do; names of a lower hard-link set do only with index=on (inode.c ovl_hash_bylower).
 */
/** The dentry was copied up in this mount and keeps its lower in memory only (state.ts memOrigin). */
function memOnlyLower(s: OvlState, d: OvlDentry): boolean {
  return d.upper !== null && s.memOrigin.get(d.path)?.upper === d.upper.id;
}

function vfsInode(s: OvlState, d: OvlDentry): string {
  if (d.upper) return d.upper.id;
  const lower = d.lowers[0].inode;
  return lower.type === 'dir' || activeIndex(s) ? lower.id : `${lower.id}@${d.path}`;
}

/** ovl_can_move: only pure-upper dirs move without redirect_dir=on (S5.2). */
function canMove(s: OvlState, d: OvlDentry): boolean {
  return s.profile.redirect_dir === 'on' || !isDir(d) || !isMergeOrLower(d);
}

function ovlRename(
  s: OvlState, oldParent: OvlDentry, old: OvlDentry, newParent: OvlDentry, nw: OvlDentry, f: Set<RenameFlag>, stale = false,
): Step {
  const P = privatePrefix(s.profile);
  const exchange = f.has('RENAME_EXCHANGE');
  if (f.has('RENAME_WHITEOUT')) return fail(s, 'EINVAL', 'S5.1');
  if (!canMove(s, old) || (exchange && !canMove(s, nw))) return fail(s, 'EXDEV', 'S5.2');
  if (!exchange && isDir(nw) && !isPureUpper(s, nw) && !checkEmptyDir(s, nw)) return fail(s, 'ENOTEMPTY', 'S5.9');
  if (!exchange && isDir(nw) && !isPureUpper(s, nw)) cover('S5.9'); // an empty merged or lower dir is replaced
  // Two overlay inodes of one upper (above): the RENAME_WHITEOUT refusal comes first (found by run --runs 1000, nested).
  if (stale) return fail(s, 'ESTALE', 'S18.1');

  const oldName = baseName(old.path);
  const newName = baseName(nw.path);
  const newIsWhiteout = !isPositive(nw) && nw.upperWhiteout;
  const whiteoutSource = !exchange && lowerPositive(s, oldParent, old); // S5.5 (or S5.7: switch whiteouts)
  const s2 = forWrite(s);
  copyUp(s2, old.path);
  copyUp(s2, newParent.path);
  if (exchange) copyUp(s2, nw.path);
  const counted = !exchange && isPositive(nw) ? nlinkStart(s2, nw.path) : null; // S6.6: a name goes

  const samedir = oldParent.path === newParent.path;
  const oldD = lookupPath(s2, old.path)!;
  const oldParentD = lookupPath(s2, oldParent.path)!;
  const newParentD = lookupPath(s2, newParent.path)!;
  const newD = lookupChild(s2, newParentD, newName);
  const oldParentUp = findInLayer(s2.upper, oldParent.path)!;
  const newParentUp = findInLayer(s2.upper, newParent.path)!;
  if (!samedir) {
    if (typeOrigin(s2, oldD)) newParentUp.xattrs[`${P}impure`] = 'y'; // S5.11
    if (exchange && typeOrigin(s2, newD)) oldParentUp.xattrs[`${P}impure`] = 'y'; // S5.11
    if (typeOrigin(s2, oldD) || (exchange && typeOrigin(s2, newD))) cover('S5.11');
  }
  // S5.3: a merged or lower dir keeps finding its lower through a redirect; S5.8, S5.7,
  // S5.9: a pure-upper dir landing in a merged parent is made opaque instead.
  for (const [d, into] of exchange ? [[oldD, newParentD], [newD, oldParentD]] : [[oldD, newParentD]]) {
    if (!isDir(d) && !d.dataLower) continue; // a metacopy file needs a redirect too (S5.6)
    if (isMergeOrLower(d)) {
      if (setRedirect(s2, d, samedir) === 'EXDEV') return fail(s2, 'EXDEV', 'S5.4'); // after the copy-ups (S22.4)
    } else if (isDir(d) && !isOpaque(s2, d.upper!) && isMergedDir(into)) {
      d.upper!.xattrs[`${P}opaque`] = 'y';
      cover('S5.8'); cover('S3.6');
    }
  }

  renameMemOrigin(s2, old.path, nw.path, exchange);
  oldParentUp.mtime = undefined; // names come and go in both dirs
  newParentUp.mtime = undefined;
  const step = renameInUpper(s2, { oldParentUp, oldName, newParentUp, newName, newD, exchange, whiteoutSource, newIsWhiteout });
  if (counted && step.outcome === 'ok') nlinkEnd(s2, counted.origin, counted.up, counted.nlink - 1);
  return step;
}

/** ovl_do_rename in the upper fs, with the flags ovl_rename chose. */
function renameInUpper(s2: OvlState, r: {
  oldParentUp: Inode; oldName: string; newParentUp: Inode; newName: string; newD: OvlDentry;
  exchange: boolean; whiteoutSource: boolean; newIsWhiteout: boolean;
}): Step {
  const moving = r.oldParentUp.children!.get(r.oldName)!;
  const target = r.newParentUp.children!.get(r.newName);
  if (r.exchange) {
    r.oldParentUp.children!.set(r.oldName, target!);
    r.newParentUp.children!.set(r.newName, moving);
    return ok(s2, 'S5.1');
  }
  if (target?.type === 'dir' && isPureUpper(s2, r.newD) && target.children!.size > 0) {
    return fail(s2, 'ENOTEMPTY', 'S22.4'); // refused by the upper fs, after the copy-ups
  }
  r.newParentUp.children!.set(r.newName, moving);
  if (r.whiteoutSource) {
    // RENAME_WHITEOUT, or an exchange with the whiteout already at the target: either way
    // the source name is left holding a whiteout (S5.5, S5.7).
    r.oldParentUp.children!.set(r.oldName, r.newIsWhiteout ? target! : renameWhiteout(s2, r.oldParentUp));
    return ok(s2, 'S5.5');
  }
  r.oldParentUp.children!.delete(r.oldName); // plain rename; a target whiteout is replaced (S5.7)
  return ok(s2, 'S5.7');
}


/**
 * The whiteout RENAME_WHITEOUT leaves: made by the upper fs in the source dir with the
 * mounter's fsuid (S11.3), so a setgid dir gives it its group (S4.5), and a default ACL
 * its access ACL (S10.5, found by run: mode 0 cuts it down but GROUP_OBJ stays). Unlink and
 * rmdir whiteouts are made in the workdir instead, and stay root's, without ACLs.
 */
function renameWhiteout(s: OvlState, dir: Inode): Inode {
  const wh = newInode(s.upper, 'whiteout', 0);
  if (dir.mode & 0o2000) wh.gid = dir.gid;
  Object.assign(wh.xattrs, inheritAcl(dir, 'whiteout', 0)?.xattrs);
  return wh;
}

