// Read a tree as the comparison sees it: every name with its kind, mode, owner, nlink,
// inode, content, symlink target and xattrs. This runs after every step on every view.

import fs from 'node:fs';
import type { EntryKind, SnapEntry, Snapshot } from '../model/types.js';
import { lgetxattr, llistxattr } from './native.js';

const S_IFMT = 0o170000;
const KIND: Record<number, EntryKind> = {
  0o040000: 'dir', 0o100000: 'file', 0o120000: 'symlink', 0o010000: 'fifo', 0o020000: 'chardev',
};

export function snapshotTree(root: string): Snapshot {
  const snap: Snapshot = new Map();
  const walk = (rel: string, full: string) => {
    const e = entry(full);
    snap.set(rel, e);
    if (e.kind !== 'dir') return;
    let names: string[];
    try {
      names = fs.readdirSync(full);
    } catch (err) {
      snap.set(rel, errorEntry((err as NodeJS.ErrnoException).code ?? 'EIO'));
      return;
    }
    for (const name of names) walk(rel === '/' ? `/${name}` : `${rel}/${name}`, `${full}/${name}`);
  };
  walk('/', root);
  return snap;
}

function entry(full: string): SnapEntry {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(full, { bigint: true });
  } catch (err) {
    return errorEntry((err as NodeJS.ErrnoException).code ?? 'EIO'); // listed but not lookup-able (S22.9)
  }
  const fmt = Number(st.mode) & S_IFMT;
  let kind = KIND[fmt] ?? 'other';
  if (kind === 'chardev' && st.rdev === 0n) kind = 'whiteout';
  const ino = st.ino <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(st.ino) : st.ino.toString();
  const e: SnapEntry = {
    kind, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), nlink: Number(st.nlink), ino,
    xattrs: xattrsOf(full),
  };
  if (kind === 'file') e.data = fs.readFileSync(full, 'latin1');
  else if (kind === 'symlink') e.target = fs.readlinkSync(full, 'latin1') as string;
  return e;
}

function xattrsOf(full: string): Record<string, string> {
  const names = llistxattr(full);
  const out: Record<string, string> = {};
  if (!names.ok) return out;
  for (const n of names.value) {
    const v = lgetxattr(full, n);
    out[n] = v.ok ? v.value : `<${v.errno}>`;
  }
  return out;
}

function errorEntry(errno: string): SnapEntry {
  return { kind: 'error', errno, mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, xattrs: {} };
}
