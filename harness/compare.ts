// The comparison: what is compared between the model's prediction and a real tree, and
// what is deliberately left out. This file is the one place that decides it.
//
// When (properties/session.ts): after mount, after every step, after the final unmount +
// mount. The lower and data-only layers are read in full then too, except after a step
// where the driver's inotify watch saw no change to any of them (and not a remount or
// rotation); the upper view is left out for mounts without upper.
// Compared, per name in every view (merged, upper, each lower and data-only layer):
//   presence; kind; permission bits; uid; gid; regular-file content; symlink target;
//   every xattr name and value readable on the object; st_nlink; inode identity (which
//   names share an inode, and that an identity persists across steps and remounts, S8.1);
//   for names listed but not lookup-able, the errno (S22.9).
// Left out, each for a reason:
//   - timestamps (copy-up keeps mtime but ctime is new; nothing here is about time);
//   - the value of P.origin (a file handle with the lower fs's UUID and inode generation)
//     and of P.uuid (random): only their presence is compared;
//   - whiteout nlink and whiteout inode identity (S3.2: unlink/rmdir whiteouts are hard
//     links to one shared inode in the workdir, rename whiteouts are not);
//   - directory st_size, st_blocks, st_dev, d_ino and readdir order (S9.3: listings are
//     compared as sets), and the workdir, which overlay empties at every mount (S15.1a).

import type { SnapEntry, Snapshot } from '../model/types.js';

export interface Difference {
  view: string;
  path: string;
  /** 'missing' | 'unexpected' | a SnapEntry field name */
  what: string;
  expected?: unknown;
  actual?: unknown;
}

/** Which xattr values are compared by presence only. */
export function maskedXattrs(prefix: string): Set<string> {
  return new Set([`${prefix}origin`, `${prefix}uuid`]);
}

/**
 * The bijection between the model's inode identities and real inode numbers, kept for a
 * whole case so that an identity that changes between steps or across a remount is caught.
 */
export class InodeMap {
  private readonly realOf = new Map<string, number | string>();
  private readonly modelOf = new Map<number | string, string>();
  private readonly seenAt = new Map<string, string>();

  /** null when consistent (binding a new pair), else what was expected and what was seen. */
  check(modelId: string, real: number | string, where: string): { expected: string; actual: string } | null {
    const r = this.realOf.get(modelId);
    const m = this.modelOf.get(real);
    if (r === undefined && m === undefined) {
      this.realOf.set(modelId, real);
      this.modelOf.set(real, modelId);
      this.seenAt.set(modelId, where);
      return null;
    }
    if (r === real && m === modelId) return null;
    return {
      expected: r === undefined ? 'an inode of its own' : `st_ino ${r}, the inode of ${this.seenAt.get(modelId)}`,
      actual: m === undefined ? `st_ino ${real}, a new inode` : `st_ino ${real}, the inode of ${this.seenAt.get(m)}`,
    };
  }
}

export function diffSnapshots(
  view: string, expected: Snapshot, actual: Snapshot, inodes: InodeMap, masked: Set<string>,
): Difference[] {
  const out: Difference[] = [];
  for (const [path, e] of expected) {
    const a = actual.get(path);
    if (!a) out.push({ view, path, what: 'missing', expected: describe(e) });
    else diffEntry(view, path, e, a, inodes, masked, out);
  }
  for (const [path, a] of actual) {
    if (!expected.has(path)) out.push({ view, path, what: 'unexpected', actual: describe(a) });
  }
  return out;
}

function diffEntry(
  view: string, path: string, e: SnapEntry, a: SnapEntry, inodes: InodeMap, masked: Set<string>, out: Difference[],
): void {
  const push = (what: string, expected: unknown, actual: unknown) => {
    out.push({ view, path, what, expected, actual });
  };
  if (e.kind !== a.kind) return push('kind', e.kind, a.kind);
  if (e.kind === 'error') {
    if (e.errno !== a.errno) push('errno', e.errno, a.errno);
    return;
  }
  if (e.mode !== a.mode) push('mode', octal(e.mode), octal(a.mode));
  if (e.uid !== a.uid) push('uid', e.uid, a.uid);
  if (e.gid !== a.gid) push('gid', e.gid, a.gid);
  if (e.data !== a.data) push('data', e.data, a.data);
  if (e.target !== a.target) push('target', e.target, a.target);
  diffXattrs(e.xattrs, a.xattrs, masked, push);
  if (e.kind === 'whiteout') return; // S3.2: shared whiteout inode, nlink grows
  if (e.nlink !== a.nlink) push('nlink', e.nlink, a.nlink);
  const inode = inodes.check(String(e.ino), a.ino, `${view} ${path}`);
  if (inode) push('st_ino', inode.expected, inode.actual);
}

function diffXattrs(
  e: Record<string, string>, a: Record<string, string>, masked: Set<string>,
  push: (what: string, expected: unknown, actual: unknown) => void,
): void {
  for (const name of new Set([...Object.keys(e), ...Object.keys(a)])) {
    const ev = e[name];
    const av = a[name];
    if (ev === undefined) push(`xattr ${name}`, '(absent)', show(av));
    else if (av === undefined) push(`xattr ${name}`, masked.has(name) ? '(present)' : show(ev), '(absent)');
    else if (!masked.has(name) && ev !== av) push(`xattr ${name}`, show(ev), show(av));
  }
}

/** Text values as JSON strings; binary ones (file handles, uuids) in hex. */
function show(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? JSON.stringify(v) : `0x${Buffer.from(v, 'latin1').toString('hex')}`;
}

function octal(mode: number): string {
  return '0' + mode.toString(8).padStart(3, '0');
}

export function describe(e: SnapEntry): string {
  if (e.kind === 'error') return `error ${e.errno}`;
  const extra = e.kind === 'file' ? ` ${JSON.stringify(e.data)}` : e.kind === 'symlink' ? ` -> ${e.target}` : '';
  const xs = Object.keys(e.xattrs).length ? ` {${Object.keys(e.xattrs).sort().join(',')}}` : '';
  return `${e.kind} ${octal(e.mode)}${extra}${xs}`;
}

export function formatDifference(d: Difference): string {
  const where = `${d.view.padEnd(7)} ${d.path}`;
  if (d.what === 'missing') return `missing    ${where}  expected: ${d.expected}`;
  if (d.what === 'unexpected') return `unexpected ${where}  actual: ${d.actual}`;
  return `differs    ${where}  ${d.what}: expected ${fmt(d.expected)}  actual ${fmt(d.actual)}`;
}

function fmt(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
