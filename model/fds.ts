// Open file descriptors that live across steps (S17.1, S17.5, S17.7, S17.9, S4.10): what an
// fd holds and what reading, writing, fstat and attribute changes through it do.
//
// An fd holds an overlay dentry (file.c ovl_open): while the name it was opened by (followed
// through renames) still resolves to the same object, the fd is "attached" to that merged
// path and sees whatever the object is now: after a copy-up by any other step, its reads
// and fstat go to the upper (ovl_real_fdget reopens the real file when the real inode
// changed, S17.1) and writes go to the upper (S17.5). When the name goes (unlink, rmdir,
// rename over it), the fd is "detached": it keeps the object it held (S17.7): an upper inode
// (copied up or pure upper), or a lower inode that was never copied up. O_TMPFILE gives a
// detached fd from the start (S4.10). Remount and rotate close every fd (the harness closes
// them before unmounting: an open fd keeps the mount busy).
//
// S17.9 (new, extends the catalog; found on 6.18 and in copy_up.c): a lower object whose name
// was removed before it was ever copied up cannot be copied up through an fd any more. The
// copy-up (fchmod, fchown, fsetxattr) goes to the dentry's old name, where the whiteout is:
// a regular file is made as an O_TMPFILE and linked there, EEXIST; anything else is made in
// the workdir and renamed there, and a dir renamed onto the whiteout is ENOTDIR. The parent is
// marked impure before that (ovl_do_copy_up). Reading and fstat still work (the lower inode,
// with its own nlink). Also found: linkat of an O_TMPFILE through /proc/self/fd/N is EXDEV
// (the magic link leads to the real upper file), so the harness uses AT_EMPTY_PATH.

import { chmodAcl } from './acl.js';
import { copyUp } from './copyUp.js';
import { nlinkEnd } from './indexdir.js';
import { createInUpper, link, newObject } from './dir.js';
import { open } from './file.js';
import { resize, chmod, setxattr } from './inode.js';
import { chown } from './attr.js';
import { blocksOf, noteTruncate, noteWrite } from './sparse.js';
import { stDevIno } from './inodeNumbers.js';
import { baseName, findInLayer, linkCounts, parentPath, walkLayer, type Inode } from './layerFs.js';
import { isDir, isMergedDir, isMetacopy, isPositive, lookupPath, realInode, redirectOf, walkPath, type OvlDentry } from './lookup.js';
import { absoluteRedirect } from './redirect.js';
import { privatePrefix, privateXattr } from './profile.js';
import { fail, forWrite, isReadOnly, NotModelled, ok, type OvlState, type Step } from './state.js';
import type { FdObserved, FdOp, FdOpenFlag, FdSlot, Op, SnapEntry } from './types.js';
import { hasFeature } from './versions.js';
import { mergedXattrName, objectEntry } from './views.js';

export const FD_SLOTS = 4;
/** fdread reads at most this many bytes. */
export const READ_MAX = 4096;

/** What a detached fd holds. */
export interface Held {
  /** An upper inode: found by id in the upper while a name or the index holds it, else `orphan`. */
  upperId?: string;
  /** A private copy of the upper inode once nothing on the upper holds it. */
  orphan?: Inode;
  /** A merged dir: the overlay shows nlink 1 for it whatever its upper has (S8.5), removed or not. */
  mergedDir?: boolean;
  /** A metacopy file's data (S7.1, S7.4) stays where it was. */
  dataLower?: Inode;
  /** A lower inode never copied up (lowers are never written). */
  lower?: Inode;
  /**
   * The upper dir its name was removed from (removing it copied that dir up), and that name:
   * the fd's dentry stays a child of it, where it is moved and after it is removed.
   */
  parentUpperId?: string;
  name?: string;
  /** The merged entry when it went: st_ino, st_dev, the lower's nlink. */
  entry: SnapEntry;
  /** An O_TMPFILE not linked yet: linkat may name it (I_LINKABLE). */
  tmpfile?: boolean;
}

export interface FdRef {
  readable: boolean;
  writable: boolean;
  append: boolean;
  offset: number;
  /** Attached: the merged path of the object. null: detached, see `held`. */
  path: string | null;
  held?: Held;
}

export type FdStep = Step & { observed?: FdObserved };

function slots(s: OvlState): readonly (FdRef | null)[] {
  return s.fds ?? [null, null, null, null];
}

function withFd(s: OvlState, slot: FdSlot, ref: FdRef | null): OvlState {
  const fds = [...slots(s)];
  fds[slot] = ref;
  return { ...s, fds };
}

export function isFdOp(op: Op): op is FdOp {
  return op.op.startsWith('fd');
}

export function applyFdOp(s: OvlState, op: FdOp): FdStep {
  if (op.op === 'fdopen') return fdOpen(withFd(s, op.slot, null), op.slot, op.path, op.flags, op.mode ?? 0o644);
  const fd = slots(s)[op.slot];
  if (!fd) return fail(s, 'EBADF', 'VFS'); // a closed fd number
  switch (op.op) {
    case 'fdclose': return ok(withFd(s, op.slot, null), 'VFS');
    case 'fdread': return fdRead(s, op.slot, fd);
    case 'fdwrite': return fdWrite(s, op.slot, fd, op.data, null);
    case 'fdpwrite': return fdWrite(s, op.slot, fd, op.data, op.offset);
    case 'fdtruncate': return fdTruncate(s, op.slot, fd, op.size);
    case 'fdstat': {
      const { data, ...rest } = fdEntry(s, fd);
      const stat = fd.readable && data !== undefined ? { ...rest, data } : rest; // the content is read through the fd
      return { ...ok(s, fd.path ? 'S17.1' : 'S17.7'), observed: { stat } };
    }
    case 'fdchmod': return fdAttr(s, op.slot, fd, (s1, path) => chmod(s1, path, op.mode), (ino) => {
      ino.mode = op.mode & 0o7777;
      chmodAcl(ino, ino.mode); // S10.5
    });
    // Everything here is owned by 0:0: chown to 0:0 changes nothing but still copies up (S6.1).
    case 'fdchown': return fdAttr(s, op.slot, fd, (s1, path) => chown(s1, path, 0, 0, false), (ino) => { ino.uid = 0; ino.gid = 0; });
    case 'fdsetxattr': return fdSetxattr(s, op.slot, fd, op.name, op.value);
    case 'fdlink': return fdLink(s, op.slot, fd, op.path);
  }
}

// ---------------------------------------------------------------- open

function fdOpen(s: OvlState, slot: FdSlot, path: string, flags: FdOpenFlag[], mode: number): FdStep {
  const f = new Set(flags);
  const writable = f.has('O_WRONLY') || f.has('O_RDWR');
  const ref = (p: string | null, held?: Held): FdRef => ({
    readable: !f.has('O_WRONLY'), writable, append: f.has('O_APPEND'), offset: 0, path: p, ...(held ? { held } : {}),
  });
  if (f.has('O_TMPFILE')) return f.has('O_CREAT') ? fail(s, 'EINVAL', 'VFS') : tmpfile(s, slot, path, writable, mode, ref, !f.has('O_EXCL'));
  if (f.has('O_DIRECTORY')) {
    if (f.has('O_CREAT')) return fail(s, 'EINVAL', 'VFS'); // build_open_flags (6.4+)
    const w = walkPath(s, path, !f.has('O_NOFOLLOW'));
    if (!w.ok) return fail(s, w.errno, 'VFS');
    if (w.child.error) return fail(s, w.child.error, 'S2.8');
    if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
    if (!isDir(w.child)) return fail(s, realInode(w.child).type === 'symlink' ? 'ELOOP' : 'ENOTDIR', 'VFS');
  }
  const opened = open(s, path, flags.filter((x): x is Exclude<FdOpenFlag, 'O_DIRECTORY' | 'O_TMPFILE'> => x !== 'O_DIRECTORY'), mode);
  if (opened.outcome !== 'ok') return opened;
  const w = walkPath(opened.state, path, true);
  if (!w.ok || !isPositive(w.child)) throw new NotModelled(`fdopen of ${path}: opened, but not found after`, 'S17');
  return ok(withFd(opened.state, slot, ref(w.child.path)), opened.rule);
}

/** S4.10: an unnamed regular file in the upper dir (the parent is copied up), from 6.10. */
/** `linkable`: without O_EXCL (I_LINKABLE), linkat may name it. */
function tmpfile(s: OvlState, slot: FdSlot, path: string, writable: boolean, mode: number, ref: (p: null, held: Held) => FdRef, linkable: boolean): FdStep {
  if (!writable) return fail(s, 'EINVAL', 'VFS'); // build_open_flags: O_TMPFILE needs write access
  const w = walkPath(s, path, true);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (w.child.error) return fail(s, w.child.error, 'S2.8');
  if (!isPositive(w.child)) return fail(s, 'ENOENT', 'VFS');
  if (!isDir(w.child)) return fail(s, 'ENOTDIR', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
  if (!hasFeature(s.kernel, 'overlayTmpfile')) return fail(s, 'EOPNOTSUPP', 'S4.10');
  const s2 = forWrite(s);
  const dir = copyUp(s2, w.child.path); // S4.10: the tmpfile is made in the upper dir
  // S4.5, S10.5: owned as any new object (a setgid dir's group), its mode from a default ACL or the umask.
  const ino = newObject(s2, dir, 'file', mode & 0o7777);
  const d: OvlDentry = { path: '/.tmpfile', upper: ino, upperWhiteout: false, lowers: [] };
  const entry: SnapEntry = { kind: 'file', mode: ino.mode, uid: ino.uid, gid: ino.gid, nlink: 0, ...stDevIno(s2, d), data: '', xattrs: {} };
  return ok(withFd(s2, slot, ref(null, { orphan: ino, entry, tmpfile: linkable })), 'S4.10');
}

// ---------------------------------------------------------------- data

function dataOf(s: OvlState, fd: FdRef): string {
  if (fd.path) {
    const d = lookupPath(s, fd.path)!;
    const real = realInode(d);
    return real.type === 'file' ? (d.dataLower ?? real).data : '';
  }
  const h = fd.held!;
  if (h.lower) return h.lower.type === 'file' ? (h.dataLower ?? h.lower).data : ''; // S7.4: a metacopy lower's data is below
  const ino = heldUpper(s, h);
  return h.dataLower && isMetacopy(s, ino) ? h.dataLower.data : ino.data;
}

function kindOf(s: OvlState, fd: FdRef): string {
  if (fd.path) return realInode(lookupPath(s, fd.path)!).type;
  return fd.held!.lower?.type ?? heldUpper(s, fd.held!).type;
}

function fdRead(s: OvlState, slot: FdSlot, fd: FdRef): FdStep {
  if (!fd.readable) return fail(s, 'EBADF', 'VFS');
  const kind = kindOf(s, fd);
  if (kind === 'dir') return fail(s, 'EISDIR', 'VFS');
  // A fifo opened for reading only has no writer: end of file. Opened O_RDWR it is its own
  // writer, and what it holds is a pipe buffer, which the model does not keep.
  if (kind === 'fifo' && fd.writable) throw new NotModelled('read(2) of a fifo opened O_RDWR', 'VFS');
  const bytes = dataOf(s, fd).slice(fd.offset, fd.offset + READ_MAX); // S17.1: the current real file
  return { ...ok(withFd(s, slot, { ...fd, offset: fd.offset + bytes.length }), fd.path ? 'S17.1' : 'S17.7'), observed: { read: bytes } };
}

/** write(2) at the offset (O_APPEND: at the end, pwrite too), or pwrite(2) at `at`. */
function fdWrite(s: OvlState, slot: FdSlot, fd: FdRef, data: string, at: number | null): FdStep {
  // ksys_pwrite64: a stream (a fifo) has no FMODE_PWRITE, looked at before FMODE_WRITE.
  if (at !== null && kindOf(s, fd) === 'fifo') return fail(s, 'ESPIPE', 'VFS');
  if (!fd.writable) return fail(s, 'EBADF', 'VFS');
  if (kindOf(s, fd) === 'fifo') throw new NotModelled('write(2) to a fifo', 'VFS');
  let end = 0;
  const s2 = changeData(s, slot, fd, (old, ino) => {
    const pos = fd.append ? old.length : at ?? fd.offset;
    end = pos + data.length;
    noteWrite(ino, pos, data.length); // S17.6: the pages written
    if (data.length > 0) ino.mtime = undefined; // written now
    return resize(old, pos) + data + old.slice(end);
  });
  const next = at === null ? end : fd.offset; // pwrite leaves the offset, O_APPEND too (it writes at a position of its own)
  return ok(withFd(s2, slot, { ...slots(s2)[slot]!, offset: next }), fd.path ? 'S17.5' : 'S17.7');
}

function fdTruncate(s: OvlState, slot: FdSlot, fd: FdRef, size: number): FdStep {
  if (!fd.writable || kindOf(s, fd) !== 'file') return fail(s, 'EINVAL', 'VFS'); // do_ftruncate
  const s2 = changeData(s, slot, fd, (old, ino) => {
    noteTruncate(ino, size); // S17.6
    ino.mtime = undefined; // do_truncate sets mtime
    return resize(old, size);
  });
  return ok(s2, fd.path ? 'S17.5' : 'S17.7');
}

/** A write through an fd open for write: the fd's open copied the file up with its data (S6.1, S17.5). */
function changeData(s: OvlState, slot: FdSlot, fd: FdRef, change: (old: string, ino: Inode) => string): OvlState {
  return changeUpper(s, slot, fd, (ino) => {
    ino.data = change(ino.data, ino);
  });
}

/** Changes the upper inode an fd refers to, in a state of its own. */
function changeUpper(s: OvlState, _slot: FdSlot, fd: FdRef, change: (ino: Inode) => void): OvlState {
  if (fd.path) {
    const s2 = forWrite(s);
    const up = lookupPath(s2, fd.path)!.upper;
    if (!up) throw new NotModelled(`a write through an fd at ${fd.path} without an upper`, 'S17.5');
    change(up);
    return s2;
  }
  const h = fd.held!;
  if (h.orphan) {
    const orphan = { ...h.orphan, xattrs: { ...h.orphan.xattrs } };
    change(orphan);
    // One inode, however many fds hold it: every fd on it sees the change (found by run --runs 1000, seed 1203).
    const was = h.orphan.id;
    return { ...s, fds: slots(s).map((f) => (f?.held?.orphan?.id === was ? { ...f, held: { ...f.held, orphan } } : f)) };
  }
  const s2 = forWrite(s);
  change(heldUpper(s2, h));
  return s2;
}

// ---------------------------------------------------------------- attributes

/**
 * fchmod, fchown, fsetxattr: through any fd, a read-only one too, the object is copied up at
 * the name its dentry has now (S6.1, S17.5). A detached fd on a lower object cannot be copied
 * up: copy-up creates the upper at the old name, where the whiteout now is: EEXIST (S17.9).
 */
function fdAttr(
  s: OvlState, slot: FdSlot, fd: FdRef, byPath: (s: OvlState, path: string) => Step, onUpper: (ino: Inode) => void,
): FdStep {
  if (fd.path) return byPath(s, fd.path);
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
  if (fd.held!.lower) {
    const type = fd.held!.lower.type;
    // The parent is marked impure before the copy-up meets the whiteout (ovl_do_copy_up, S6.4).
    const s2 = forWrite(s);
    const parent = findInUpperTree(s2, fd.held!.parentUpperId!);
    // The parent removed too: its upper dir went into the workdir to be removed (a merged dir,
    // ovl_cleanup_and_whiteout). A regular file's O_TMPFILE copy is then linked into that
    // dead dir, whose lookup is ENOENT (found by run --runs 1000, seed 1200); anything else
    // is made in the workdir, whose rename lock finds the target dir inside it: EIO (seed 11).
    if (!parent) return fail(s, type === 'file' ? 'ENOENT' : 'EIO', 'S17.9');
    parent.xattrs[privateXattr(s.profile, 'impure')] = 'y';
    // A regular file is copied up through an O_TMPFILE linked at the name: EEXIST; anything
    // else is made in the workdir and renamed onto the name: a dir onto the whiteout, ENOTDIR.
    if (type === 'file') return fail(s2, 'EEXIST', 'S17.9');
    if (type === 'dir') return fail(s2, 'ENOTDIR', 'S17.9');
    // A fifo is renamed over the whiteout: the removed name comes back (observed on 6.18), and
    // EIO where its parent dirs were removed too. Not held yet; the generator opens no fifo.
    throw new NotModelled(`a copy-up of a removed lower ${type} through an fd (it replaces the whiteout: the name comes back)`, 'S17.9');
  }
  return ok(changeUpper(s, slot, fd, onUpper), 'S17.7');
}

function fdSetxattr(s: OvlState, slot: FdSlot, fd: FdRef, name: string, value: string): FdStep {
  const P = privatePrefix(s.profile);
  // S10.1, S10.2: a private name set through the overlay is stored escaped (6.7+).
  if (!fd.path && name.startsWith(P) && !hasFeature(s.kernel, 'escapedXattrs')) return fail(s, 'EOPNOTSUPP', 'S10.1, S20');
  const stored = name.startsWith(P) ? `${P}overlay.${name.slice(P.length)}` : name;
  return fdAttr(s, slot, fd, (s1, path) => setxattr(s1, path, name, value), (ino) => {
    ino.xattrs[stored] = value;
  });
}

// ---------------------------------------------------------------- linkat(fd, "", AT_EMPTY_PATH)

function fdLink(s: OvlState, slot: FdSlot, fd: FdRef, dst: string): FdStep {
  if (fd.path) return link(s, fd.path, dst); // a name for the object the fd holds, as link(2)
  const w = walkPath(s, dst, false);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (w.child.error) return fail(s, w.child.error, 'S2.8');
  if (isPositive(w.child)) return fail(s, 'EEXIST', 'VFS');
  if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
  const h = fd.held!;
  if (h.entry.kind === 'dir') return fail(s, 'EPERM', 'VFS');
  if (h.upperId) {
    // Its name went but another name or the index holds it (nlink > 0): ovl_link links the
    // upper it has (S4.6), counting the overlay nlink of an indexed file up (S6.6).
    const s2 = forWrite(s);
    const ino = findUpperById(s2, h.upperId)!;
    const origin = [...(s2.upper.index ?? [])].find(([, v]) => v === ino)?.[0];
    const nlink = origin !== undefined ? s2.memNlink.get(ino.id) : undefined;
    if (isMetacopy(s2, ino)) {
      // ovl_set_link_redirect: where the fd's dentry was, absolute, so that the new name finds
      // the data below (S4.6, S5.12; found by run --jobs 2, seed 32256).
      const dir = h.parentUpperId !== undefined ? upperPathOf(s2, h.parentUpperId) : undefined;
      if (dir === undefined) throw new NotModelled('linkat of a removed metacopy file whose dir went too', 'S4.6');
      const existing = redirectOf(s2, ino);
      if (!existing?.startsWith('/')) {
        const redirect = absoluteRedirect(s2, dir, existing ?? h.name!);
        if (redirect === 'EXDEV') return fail(s, 'EXDEV', 'S5.12');
        ino.xattrs[privateXattr(s.profile, 'redirect')] = redirect;
      }
    }
    createInUpper(s2, w.parent.path, w.name, () => ino);
    if (origin !== undefined || privateXattr(s.profile, 'origin') in ino.xattrs) {
      findInLayer(s2.upper, w.parent.path)!.xattrs[privateXattr(s.profile, 'impure')] = 'y'; // S4.6
    }
    if (origin !== undefined && nlink !== undefined) nlinkEnd(s2, origin, ino, nlink + 1);
    return ok(withFd(s2, slot, { ...fd, path: dst, held: undefined }), 'S4.6');
  }
  // vfs_link: i_nlink 0 and not I_LINKABLE; a removed lower name whose lower is hard-linked
  // is ENOENT too, with nothing copied up (observed on 6.18).
  if (!h.tmpfile) return fail(s, 'ENOENT', h.lower ? 'S17.9' : 'VFS');
  // S4.10: the tmpfile gets its name in the upper; the fd now holds a named object.
  const s2 = forWrite(s);
  createInUpper(s2, w.parent.path, w.name, () => h.orphan!);
  return ok(withFd(s2, slot, { ...fd, path: w.parent.path === '/' ? `/${w.name}` : `${w.parent.path}/${w.name}`, held: undefined }), 'S4.10');
}

// ---------------------------------------------------------------- fstat

/** fstat + flistxattr + the content: the merged entry of the object the fd holds. */
export function fdEntry(s: OvlState, fd: FdRef): SnapEntry {
  if (fd.path) {
    // Its own entry, whether or not a listing shows it (a dir whose listing fails is still a dir).
    const e = entryAt(s, fd.path);
    if (!e) throw new NotModelled(`fstat of an fd whose name ${fd.path} is not in the merged view`, 'S17.1');
    return e;
  }
  const h = fd.held!;
  if (h.lower) return h.entry; // S17.7: the lower inode, its own nlink (the overlay's is not shown)
  const ino = heldUpper(s, h);
  const xattrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(ino.xattrs)) {
    const shown = mergedXattrName(s, k);
    if (shown !== null) xattrs[shown] = v;
  }
  // S17.7: unlinked, 0; an indexed file shows the overlay inode's own count (S6.6).
  const nlink = h.mergedDir ? 1 : s.memNlink.get(ino.id) ?? (h.orphan ? 0 : linkCounts(s.upper).get(ino) ?? 0);
  const { mtime: _was, blocks: _had, ...entry } = h.entry;
  return {
    ...entry, kind: ino.type, mode: ino.mode, uid: ino.uid, gid: ino.gid, nlink, xattrs,
    ...(ino.mtime !== undefined ? { mtime: ino.mtime } : {}), // S6.3; unknown once written
    // S8.7: a metacopy file's st_blocks come from its data below, unlinked too (found by run --runs 1000).
    ...(ino.type === 'file' ? { data: dataOf(s, { path: null, held: h } as FdRef), blocks: blocksOf(h.dataLower && isMetacopy(s, ino) ? h.dataLower : ino) } : {}),
  };
}

// ---------------------------------------------------------------- following other steps

function heldUpper(s: OvlState, h: Held): Inode {
  if (h.orphan) return h.orphan;
  const ino = findUpperById(s, h.upperId!);
  if (!ino) throw new Error(`model: the upper inode ${h.upperId} an fd holds is gone`);
  return ino;
}

/** What fstat shows of the object at a merged path, or undefined if there is none. */
function entryAt(s: OvlState, path: string): SnapEntry | undefined {
  const d = safeLookup(s, path);
  return d && isPositive(d) ? objectEntry(s, d) : undefined;
}

/** An inode of the upper dir tree (the index left out), by id. */
function findInUpperTree(s: OvlState, id: string): Inode | undefined {
  let found: Inode | undefined;
  walkLayer(s.upper, (_p, ino) => {
    if (ino.id === id) found = ino;
  });
  return found;
}

/** The path of an upper dir, which is its merged path too (the upper is the top layer). */
function upperPathOf(s: OvlState, id: string): string | undefined {
  let found: string | undefined;
  walkLayer(s.upper, (p, ino) => {
    if (ino.id === id) found = p;
  });
  return found;
}

function findUpperById(s: OvlState, id: string): Inode | undefined {
  let found: Inode | undefined;
  walkLayer(s.upper, (_p, ino) => {
    if (ino.id === id) found = ino;
  });
  for (const ino of s.upper.index?.values() ?? []) if (ino.id === id) found = ino;
  return found;
}

/**
 * Whether a name still resolves to the object an fd took from it. A copy-up keeps the object,
 * with an origin (the same lower below) or without one (a hard-linked lower, S6.4): a name
 * that had no upper and has one now was copied up, unless a rename put another object there.
 */
function sameObject(before: OvlDentry | null, after: OvlDentry | null, replaced: boolean): boolean {
  if (!before || !after || !isPositive(before) || !isPositive(after)) return false;
  if (before.upper && after.upper) return before.upper.id === after.upper.id;
  if (before.upper) return false;
  if (after.lowers.length > 0 && after.lowers[0].inode.id === before.lowers[0].inode.id) return true;
  return after.upper !== null && !replaced;
}

function safeLookup(s: OvlState, path: string): OvlDentry | null {
  try {
    return lookupPath(s, path);
  } catch {
    return null;
  }
}

/** Where a path is after a rename of `src` to `dst` (exchange: either way). */
function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root + '/');
}

function renamed(path: string, op: Extract<Op, { op: 'rename' }>): string {
  if (under(path, op.src)) return op.dst + path.slice(op.src.length);
  if (op.flags?.includes('RENAME_EXCHANGE') && under(path, op.dst)) return op.src + path.slice(op.dst.length);
  return path;
}

/**
 * After any step: attached fds follow renames of their name (the dentry moves); an fd whose
 * name no longer resolves to its object is detached and keeps the object (S17.7); a
 * detached upper inode that nothing on the upper holds any more becomes the fd's own.
 */
export function followFds(before: OvlState, step: Step, op: Op): Step {
  const fds = step.state.fds;
  if (!fds?.some((f) => f)) return step;
  const after = step.state;
  let changed = false;
  const next = fds.map((fd) => {
    if (!fd || !before.fds?.includes(fd)) return fd; // opened or moved by this very step: already where it is
    if (fd.path) {
      const moved = op.op === 'rename' && step.outcome === 'ok';
      const path = moved ? renamed(fd.path, op) : fd.path;
      const was = safeLookup(before, fd.path);
      if (sameObject(was, safeLookup(after, path), moved && under(fd.path, op.dst))) {
        if (path === fd.path) return fd;
        changed = true;
        return { ...fd, path };
      }
      changed = true;
      return { ...fd, path: null, held: orphaned(before, after, detach(before, after, was!, fd.path)) };
    }
    const held = orphaned(before, after, fd.held!);
    if (held === fd.held) return fd;
    changed = true;
    return { ...fd, held };
  });
  return changed ? { ...step, state: { ...after, fds: next } } : step;
}

/** A held upper inode that nothing on the upper holds any more becomes the fd's own copy. */
function orphaned(before: OvlState, after: OvlState, h: Held): Held {
  if (!h.upperId || findUpperById(after, h.upperId)) return h;
  const ino = findUpperById(before, h.upperId)!;
  const { upperId: _gone, ...rest } = h;
  return { ...rest, orphan: { ...ino, xattrs: { ...ino.xattrs } } };
}

function detach(before: OvlState, after: OvlState, d: OvlDentry, path: string): Held {
  const entry = entryAt(before, path);
  if (!entry) throw new NotModelled(`an fd on ${path}, which the merged view did not show`, 'S17.7');
  const parent = findInLayer(after.upper, parentPath(path));
  const where = parent ? { parentUpperId: parent.id, name: baseName(path) } : {};
  if (!d.upper) {
    // S6.6: removing a name of an indexed lower copies it into the index first (nlinkStart):
    // the fd's overlay inode holds that upper from then on.
    const indexed = after.upper.index?.get(d.lowers[0].inode.id);
    // A dir copied into the index (nfs_export) had a lower: it reads as merged, nlink 1 (S8.5).
    if (indexed) return { upperId: indexed.id, ...(indexed.type === 'dir' ? { mergedDir: true } : {}), entry, ...where };
    // S12.3: with nfs_export=on the copy went through the index too, and its entry went with
    // the last name: the fd holds that copy, linked nowhere (found by run --seed 10).
    const lower = d.lowers[0].inode;
    // S6.3, S10.2: the copy keeps every xattr but the private ones, escaped P.overlay.* too (found by run --runs 1000, nfs-export).
    const xattrs = Object.fromEntries(Object.entries(lower.xattrs).filter(([k]) => mergedXattrName(after, k) !== null));
    if (after.profile.nfs_export && lower.type !== 'dir') return { orphan: { ...lower, xattrs }, entry };
    // Removing the name put a whiteout in its dir, copied up for it (S4.7).
    if (!parent) throw new NotModelled(`an fd on ${path}, whose name went without its dir being copied up`, 'S17.7');
    return { lower: d.lowers[0].inode, ...(d.dataLower ? { dataLower: d.dataLower } : {}), entry, ...where };
  }
  return { upperId: d.upper.id, ...(d.dataLower ? { dataLower: d.dataLower } : {}), ...(isMergedDir(d) ? { mergedDir: true } : {}), entry, ...where };
}
