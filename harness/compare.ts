// The comparison: what is compared between the model's prediction and a real tree, and
// what is deliberately left out. This file is the one place that decides it.
//
// When (properties/session.ts): after mount, after every step, after the final unmount +
// mount. The lower and data-only layers are read in full then too, except after a step
// where the driver's inotify watch saw no change to any of them (and not a remount or
// rotation); the upper view is left out for mounts without upper.
// Compared, per name in every view (merged, upper, each lower and data-only layer):
//   presence; kind; permission bits; uid; gid; regular-file content; a regular file's
//   st_blocks (which pages hold data: holes, S17.6, S8.7; where both sides read it, on tmpfs
//   layers: the cross-kernel property's ext4 image leaves it out); symlink
//   target;
//   every xattr name and value readable on the object; st_nlink; inode identity (which
//   names share an inode, and that an identity persists across steps and remounts, S8.1,
//   or lasts one mount where the overlay numbers dirs itself, S8.2); st_dev by class (the
//   overlay's, a pseudo device per underlying fs, a layer's own fs; S8.1-S8.3); st_ino's
//   high bits (xino's fsid, S8.3);
//   for names listed but not lookup-able, the errno (S22.9);
//   st_mtime in whole seconds where the model knows it: set by a layer spec or by utimensat
//   with an explicit time, kept by copy-up (S6.3) and by every change that leaves data and
//   names alone (chmod, chown, xattrs, rename of the object itself, a child's copy-up, which
//   restores its parent's times); unknown (not compared) once data is written, a name in a
//   dir comes or goes, or UTIME_NOW set it.
// Steps on open fds (model/fds.ts) observe more than an errno; compared exactly, when both
// sides answered alike, as view "fd" with one name "/fd<slot>": fdstat's entry (fstat,
// flistxattr/fgetxattr and a pread of the whole content through a readable fd) field by
// field as above, its st_ino through the same identity map as every view (so an fd shows
// the number its name showed); fdread's bytes as that name's "data". Case files check the
// same view (expect.fd). The fd offset itself is not compared, only what reads see of it.
// Right after every mount (set-up, a remount or rotation) of the running kernel's overlay,
// view "mounts": the options /proc/mounts shows, without the layer paths, in the kernel's
// order (S1.4), against model/mountShown.ts: the VFS flags, then each option that differs
// from its module default (S1.2), the uuid mode the mount ended up with (S1.5), volatile as
// fsync=volatile where the kernel knows fsync= (S1.7). Not for other implementations, which
// show their own.
// Left out, each for a reason:
//   - the layer paths /proc/mounts shows (S1.9: the harness's paths need no escaping);
//   - atime (the harness's own reads move it; relatime) and ctime (every change sets it to
//     now, copy-up too), and mtime where the model does not know it (above);
//   - the value of P.origin (a file handle with the lower fs's UUID and inode generation)
//     and of P.uuid (random): only their presence is compared;
//   - whiteout nlink (S3.2: unlink/rmdir whiteouts are hard links to one shared inode in the
//     workdir, which holds links of its own; their identity is compared: which whiteouts share
//     it, per mount, and that rename whiteouts do not);
//   - st_blocks of anything but a regular file (tmpfs stores short symlinks inline, long ones
//     in a page); directory st_size, st_blocks, and the order of a listing (S9.3: the merged
//     view's listings are compared as sets), and the workdir, which overlay empties at every
//     mount (S15.1a);
//   - the actual numbers behind st_dev and st_ino: anonymous devices and inode numbers are
//     handed out by the kernel; what is compared is which objects share them and for how long.
// Directory streams (the opendir/readdir/seekdir/closedir steps, S9; StreamReads below): each
// read is compared with what the model says it may return (model/dirStream.ts): every entry
// (`.` and `..` included, S9.10) once since the stream's start (open or seek to 0; a seek back
// to an earlier read's offset forgets the reads after it, S9.6), from the dir's snapshot (a
// merged dir: its cache at the first read, S9.7, shared by every open at one version, S9.8; a
// dir that is not merged: the real dir, S9.1), with its d_type (S9.4) and its d_ino mapped
// through the same inode identities as st_ino (S9.5); and how many: min(n, those not read yet),
// fewer where the cache's entries fail lookup (S22.2, model/dirCache.ts).
// Left out there:
//   - the order of the entries (S9.3) and the offsets' values (cookies): only which entries;
//   - a real dir that changed while a stream reads it (a pure upper dir, S9.1): which names a
//     read returns is not defined (POSIX readdir: created or removed since the start "may or
//     may not" be returned; tmpfs on 6.18 lists newest first and so never returns a name
//     created after the start, and skips removed ones; its dir code changed in 6.6 and again
//     since, simple_offset dirs, dcache cursors), so only
//     that each entry is one the dir held since the start, once; not how many; the d_type and
//     d_ino of a name whose entry changed;
//   - d_ino where the model cannot name the number: `..` of a layer's root (the dir above it
//     is outside the layers), of a redirected lower dir, of a dir of a nested lower (the
//     inner overlay's own number, S18.1), and of any dir on split layers without xino; a
//     whiteout's (S3.2); and d_ino's high bits (xino's fsid, S8.3);
//   - with another implementation as the reference (compare --against kernel), what its
//     streams read: the two orders differ and neither is the model's.
// Implementations with a layer format of their own (a driver with a codec: fuse-overlayfs,
// unionfs-fuse, the in-process control; harness/codecs.ts): the merged view is compared in
// full as above; the upper and lower layers are compared decoded on both sides into abstract
// terms (a whiteout is a whiteout whatever its format, an opaque dir carries "overlay.opaque";
// the private bookkeeping xattrs and marker files its format accounts for are dropped, and
// anything else is kept under its own name so that it is reported; whiteouts below an opaque
// dir of the same layer hide nothing and, for a format that cannot hold them, are left out
// on both sides; nlink, inode numbers and
// devices belong to the format). Where the format is the kernel's (fuse-overlayfs, exec with
// --codec kernel), every case ends with the kernel mounting the implementation's layers, and
// its merged view is compared in the same abstract terms (view "kernel-read",
// properties/kernelReading.ts).
// Against another implementation (compare --against kernel), its outcomes and views are the
// expected ones, compared the same way, but for times (withoutTimes): real snapshots on both
// sides (the reference, an upper carried to another implementation) hold when each made its
// objects, not a rule.
// How much harm each difference shows: properties/harm.ts. Divergences already known to
// `compare` (properties/signature.ts): a difference with a known signature is left out, and
// so is one still there, unchanged, from the last comparison that left it out; after a known
// outcome the case goes on where the reference can follow (properties/session.ts).

import type { DirReadSpec, Dirent, Op, Outcome, SnapEntry, Snapshot } from '../model/types.js';

export interface Difference {
  view: string;
  path: string;
  /** 'missing' | 'unexpected' | a SnapEntry field name */
  what: string;
  expected?: unknown;
  actual?: unknown;
}

/**
 * A real snapshot used as the expected side (another implementation, another mount): its
 * times are when that one made its objects, not a rule, so they are not compared.
 */
export function withoutTimes(snap: Snapshot): Snapshot {
  const out: Snapshot = new Map();
  for (const [path, e] of snap) {
    const { mtime: _t, ...rest } = e;
    out.set(path, rest);
  }
  return out;
}

/** Which xattr values are compared by presence only. */
export function maskedXattrs(prefix: string): Set<string> {
  return new Set([`${prefix}origin`, `${prefix}uuid`]);
}

/**
 * A bijection between the model's names and real values, kept for a whole case, so that an
 * identity that changes between steps or across a remount is caught. A model name ending in
 * "@<mount>" holds for that mount only: when a later mount's names arrive, those bindings go.
 */
class Bijection {
  private readonly realOf = new Map<string, string>();
  private readonly modelOf = new Map<string, string>();
  private readonly seenAt = new Map<string, string>();
  private mount = 0;

  /**
   * null when consistent (binding a new pair), else what was expected and what was seen.
   * `where` is view and path, joined only when a pair is bound (the check runs twice per
   * object per step).
   */
  check(model: string, real: string, view: string, path: string, show: (real: string) => string): { expected: string; actual: string } | null {
    const at = model.lastIndexOf('@');
    if (at >= 0 && /^\d+$/.test(model.slice(at + 1)) && Number(model.slice(at + 1)) > this.mount) this.newMount(Number(model.slice(at + 1)));
    const r = this.realOf.get(model);
    const m = this.modelOf.get(real);
    if (r === undefined && m === undefined) {
      this.realOf.set(model, real);
      this.modelOf.set(real, model);
      this.seenAt.set(model, `${view} ${path}`);
      return null;
    }
    if (r === real && m === model) return null;
    return {
      expected: r === undefined ? 'one of its own' : `${show(r)}, that of ${this.seenAt.get(model)}`,
      actual: m === undefined ? `${show(real)}, a new one` : `${show(real)}, that of ${this.seenAt.get(m)}`,
    };
  }

  private newMount(mount: number): void {
    this.mount = mount;
    for (const [model, real] of this.realOf) {
      if (!/@\d+$/.test(model)) continue;
      this.realOf.delete(model);
      this.modelOf.delete(real);
      this.seenAt.delete(model);
    }
  }
}

/**
 * Inode identities and devices. The model names an inode number "<fs>/<identity>" (the
 * filesystem whose numbers it is, or "ovl" for the overlay's own) and a device by class;
 * real inode numbers are keyed by that filesystem and their low 32 bits, the high bits
 * (xino's fsid, S8.3) are compared as a field of their own.
 */
export class InodeMap {
  private readonly inodes = new Bijection();
  private readonly devices = new Bijection();

  checkIno(model: string | number, real: string | number, view: string, path: string) {
    const m = String(model);
    const fs = m.slice(0, Math.max(0, m.indexOf('/')));
    const key = typeof real === 'number' && real < 2 ** 32 ? `${fs}:${real}` // the common case, without BigInt
      : isNumber(real) ? `${fs}:${BigInt(real) & 0xffffffffn}` : `model:${real}`;
    return this.inodes.check(m, key, view, path, showIno);
  }

  checkDev(model: string | number, real: string | number, view: string, path: string) {
    return this.devices.check(String(model), String(real), view, path, showDev);
  }
}

const showIno = (k: string) => `st_ino ${k.slice(k.indexOf(':') + 1)}`;
const showDev = (d: string) => `st_dev ${d}`;

function isNumber(v: string | number): boolean {
  return typeof v === 'number' || /^\d+$/.test(v);
}

/** st_ino's bits 32-63 (model entries carry them as inoHigh). */
export function inoHigh(e: SnapEntry): number {
  if (typeof e.ino === 'number') return Math.floor(e.ino / 2 ** 32);
  return isNumber(e.ino) ? Number(BigInt(e.ino) >> 32n) : e.inoHigh ?? 0;
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
  if (e.mtime !== undefined && e.mtime !== a.mtime) push('mtime', e.mtime, a.mtime);
  if (e.data !== a.data) push('data', e.data, a.data);
  if (e.blocks !== undefined && a.blocks !== undefined && e.blocks !== a.blocks) push('st_blocks', e.blocks, a.blocks);
  if (e.target !== a.target) push('target', e.target, a.target);
  diffXattrs(e.xattrs, a.xattrs, masked, push);
  if (e.dev !== undefined && a.dev !== undefined) {
    const dev = inodes.checkDev(e.dev, a.dev, view, path);
    if (dev) push('st_dev', dev.expected, dev.actual);
  }
  // S3.2: unlink/rmdir whiteouts are links of one shared inode, whose workdir links the index may add to
  if (e.kind !== 'whiteout' && e.nlink !== a.nlink) push('nlink', e.nlink, a.nlink);
  const inode = inodes.checkIno(e.ino, a.ino, view, path);
  if (inode) push('st_ino', inode.expected, inode.actual);
  const high = e.inoHigh ?? 0;
  const actualHigh = inoHigh(a);
  if (high !== actualHigh) push('st_ino bits 32-63 (xino fsid)', hex(high), hex(actualHigh));
}

function diffXattrs(
  e: Record<string, string>, a: Record<string, string>, masked: Set<string>,
  push: (what: string, expected: unknown, actual: unknown) => void,
): void {
  const names = Object.keys(e);
  const actualNames = Object.keys(a);
  if (names.length === 0 && actualNames.length === 0) return; // most objects
  for (const name of new Set([...names, ...actualNames])) {
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

function hex(n: number): string {
  return `0x${n.toString(16)}`;
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

// ---------------------------------------------------------------- directory streams (S9)

/**
 * What each open stream read since its start, per slot (the names of each read; a seek back
 * to an earlier read's offset forgets the reads after it), on the implementation's side:
 * the model predicts which entries a read may return, not their order (DirReadSpec).
 */
export class StreamReads {
  private readonly slots = new Map<number, { path: string; reads: string[][] }>();

  /** The names the stream in the slot read since its start. */
  namesRead(slot: number): string[] {
    return this.slots.get(slot)?.reads.flat() ?? [];
  }

  /**
   * After a step has run on both sides: the differences between what a readdir returned
   * and the model's prediction (none for another step, or when an outcome failed).
   */
  step(op: Op, actualOutcome: Outcome, spec: DirReadSpec | undefined, read: Dirent[] | null, inodes: InodeMap): Difference[] {
    if (op.op === 'remount' || op.op === 'rotate') this.slots.clear();
    if (op.op === 'opendir') {
      if (actualOutcome === 'ok') this.slots.set(op.dir, { path: op.path, reads: [] });
      else this.slots.delete(op.dir); // the slot's stream was closed first
    }
    if (op.op === 'closedir') this.slots.delete(op.dir);
    const st = 'dir' in op ? this.slots.get(op.dir) : undefined;
    if (!st || actualOutcome !== 'ok') return [];
    if (op.op === 'seekdir') st.reads.length = op.to === 0 ? 0 : Math.min(op.to, st.reads.length);
    if (op.op !== 'readdir' || read === null) return [];
    const out = spec ? diffDirRead(st.path, spec, read, st.reads.flat(), inodes) : [];
    st.reads.push(read.map((e) => e.name));
    return out;
  }
}

/** One read against the prediction: each entry once since the start, from the pool, with its d_type and d_ino. */
export function diffDirRead(path: string, spec: DirReadSpec, read: Dirent[], before: string[], inodes: InodeMap): Difference[] {
  const out: Difference[] = [];
  const push = (what: string, expected: unknown, actual: unknown) => out.push({ view: 'readdir', path, what, expected, actual });
  const pool = new Map(spec.pool.map((e) => [e.name, e]));
  const had = new Set(before);
  const remaining = [...pool.keys()].filter((n) => !had.has(n)).sort();
  for (const e of read) {
    const want = pool.get(e.name);
    if (had.has(e.name)) push('entry read twice', `${e.name} once`, `${e.name} again`);
    else if (!want) push('unexpected entry', `one of ${remaining.join(' ') || '(none)'}`, e.name);
    had.add(e.name);
    if (!want) continue;
    if (want.type !== null && want.type !== e.type) push('d_type', `${e.name} ${want.type}`, `${e.name} ${e.type}`);
    if (want.ino !== null && e.ino !== null) {
      const inode = inodes.checkIno(want.ino, e.ino, 'readdir', `${path}/${e.name}`);
      if (inode) push('d_ino', `${e.name}: ${inode.expected}`, `${e.name}: ${inode.actual}`);
    }
  }
  const count = Math.min(spec.n, remaining.length);
  if (spec.exact && read.length !== count) push('entries read', `${count} of ${remaining.join(' ') || '(none)'}`, `${read.length}: ${read.map((e) => e.name).join(' ') || '(none)'}`);
  return out;
}
