// open(2) through the overlay (VFS path_openat + file.c ovl_open): create, copy-up, truncate, write.

import { copyUp } from './copyUp.js';
import { cover } from './coverage.js';
import { createFile, lowerWhiteout } from './dir.js';
import { findInLayer, joinPath } from './layerFs.js';
import { isPositive, realInode, walkPath, lookupRule } from './lookup.js';
import { callerOf, fail, forWrite, isReadOnly, ok, type OvlState, type Step } from './state.js';
import { MAY_READ, MAY_WRITE, mayCreate, mayCreateInSticky, permitted } from './creds.js';
import type { OpenFlag } from './types.js';
import { noteTruncate, noteWrite } from './sparse.js';

export function open(s: OvlState, path: string, flags: OpenFlag[], mode = 0o644, data?: string): Step {
  const f = new Set(flags);
  const creat = f.has('O_CREAT');
  const writes = f.has('O_WRONLY') || f.has('O_RDWR');
  // The last component is looked at before following it: O_EXCL and O_NOFOLLOW see the symlink.
  let w = walkPath(s, path, false);
  if (!w.ok) return fail(s, w.errno, 'VFS');
  if (w.child.error) return fail(s, w.child.error, lookupRule(w.child.error));
  // The root is no name in a parent (LAST_ROOT): O_CREAT there is EISDIR before O_EXCL is looked at.
  if (creat && !w.name) return fail(s, 'EISDIR', 'VFS');
  if (creat && f.has('O_EXCL') && isPositive(w.child)) return fail(s, 'EEXIST', 'VFS');
  if (isPositive(w.child) && realInode(w.child).type === 'symlink') {
    if (f.has('O_NOFOLLOW')) {
      // do_open: an existing name under O_CREAT meets the sticky-dir check before may_open's ELOOP.
      const sticky = creat ? mayCreateInSticky(callerOf(s), realInode(w.parent), realInode(w.child)) : null;
      return fail(s, sticky ?? 'ELOOP', sticky ? 'S11.3' : 'VFS');
    }
    w = walkPath(s, path, true); // O_CREAT through a dangling symlink creates its target
    if (!w.ok) return fail(s, w.errno, 'VFS');
  }
  let s2: OvlState;
  if (!isPositive(w.child)) {
    if (!creat) return fail(s, 'ENOENT', 'VFS');
    if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
    if (lowerWhiteout(s, w.parent, w.name)?.type === 'file') cover('S4.3');
    const denied = mayCreate(callerOf(s), realInode(w.parent)); // may_o_create (S11.3)
    if (denied) return fail(s, denied, 'S11.3');
    s2 = createFile(s, w.parent.path, w.name, mode); // S4.1, S4.2
  } else {
    const type = realInode(w.child).type;
    // O_TRUNC asks for write access too (build_open_flags).
    if (type === 'dir' && (creat || writes || f.has('O_TRUNC'))) return fail(s, 'EISDIR', 'VFS');
    // may_open asks for the access mode (O_TRUNC adds write, build_open_flags) on the overlay
    // inode with the caller's creds (S11.3); a read-only fs refuses writes to files first.
    const acc = (f.has('O_WRONLY') ? 0 : MAY_READ) | (writes || f.has('O_TRUNC') ? MAY_WRITE : 0);
    const mayOpen = () => permitted(callerOf(s), realInode(w.child), acc);
    // Special files are opened by the VFS and never copied up; a write-only
    // O_NONBLOCK open of a fifo without a reader fails.
    // (unless an fd open for reading holds the fifo: model/fds.ts)
    if (type === 'fifo') return !mayOpen() ? fail(s, 'EACCES', 'S11.3') : f.has('O_WRONLY') && !s.fds?.some((fd) => fd?.readable && fd.path === w.child.path) ? fail(s, 'ENXIO', 'VFS') : ok(s, 'VFS');
    if (type === 'dir' || (!writes && !f.has('O_TRUNC'))) return mayOpen() ? ok(s, 'S6.1') : fail(s, 'EACCES', 'S11.3'); // no copy-up on read
    if (isReadOnly(s)) return fail(s, 'EROFS', 'S4.11');
    if (!mayOpen()) return fail(s, 'EACCES', 'S11.3');
    s2 = forWrite(s);
    copyUp(s2, w.child.path, true); // S6.1, S7.1: O_WRONLY, O_RDWR and O_TRUNC copy up, data too
  }
  const file = findInLayer(s2.upper, joinPath(w.parent.path, w.name))!;
  if (f.has('O_TRUNC')) {
    noteTruncate(file, 0);
    file.data = '';
  }
  if (f.has('O_TRUNC') || (data !== undefined && writes)) file.mtime = undefined; // written now
  if (data !== undefined && writes) {
    noteWrite(file, f.has('O_APPEND') ? file.data.length : 0, data.length);
    file.data = f.has('O_APPEND') ? file.data + data : data + file.data.slice(data.length);
  }
  return ok(s2, 'S6.1');
}
