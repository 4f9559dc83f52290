// fast-check commands: one generic command per operation, and scenario commands that run
// several steps which follow each other (issue 10). Paths are resolved against the model
// state when a command runs, so the printed and saved steps are concrete.

import fc from 'fast-check';
import { DEFAULT_PROFILE, ParamError, profileForRemount } from '../model/index.js';
import type { DirSlot, FdOpenFlag, FdSlot, Op, OpenFlag, OvlState, RenameFlag, StackSpec, XattrFlag } from '../model/index.js';
import { parentPath } from '../model/layerFs.js';
import { isDir, isPositive, lookupPath, realInode, walkPath, type OvlDentry } from '../model/lookup.js';
import { readDir } from '../model/readdir.js';
import { opArbitrary, scenarioArbitrary, type AbstractOp, type AbstractScenario, type Families, type PathPick } from './arb/ops.js';
import { CALLERS } from './arb/callers.js';
import { optionCombinations } from './optionSets.js';

/** What a command steps: a Session (against a mount), or the model alone (properties/stats.ts). */
export interface Stepper {
  /** The model's state after the steps so far. */
  readonly state: OvlState;
  step(op: Op): Promise<unknown>;
}

export interface Real {
  session: Stepper;
  candidates: Candidates;
  /** What earlier steps of the case touched; made by the first command that needs it. */
  reach?: Reach;
}

/** The concrete paths the case's steps touched so far, the latest last (each once). */
export interface Reach {
  touched: string[];
}

/** The commands of a case, as conformance.ts and stats.ts generate them. */
export function commandArbitrary(o: { rotate: number; userXattrs: boolean; locality?: boolean; families?: Families }): fc.Arbitrary<fc.AsyncCommand<object, Real>> {
  const ops = opArbitrary(o.rotate, 1, o.userXattrs, o.locality ?? true, o.families).map((a): fc.AsyncCommand<object, Real> => new OpCommand(a));
  if (o.locality === false) return ops;
  return fc.oneof(
    { weight: 6, arbitrary: ops },
    { weight: 1, arbitrary: scenarioArbitrary(o.userXattrs, o.families).map((a): fc.AsyncCommand<object, Real> => new ScenarioCommand(a)) },
  );
}

export class OpCommand implements fc.AsyncCommand<object, Real> {
  private concrete: Op | null = null;
  constructor(readonly abstract: AbstractOp) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    const reach = (r.reach ??= { touched: [] });
    this.concrete = resolveOp(this.abstract, r.candidates, reach, r.session.state);
    touch(reach, this.concrete);
    await r.session.step(this.concrete);
  }
  toString(): string {
    return this.concrete ? formatOp(this.concrete) : `${this.abstract.op}(...)`;
  }
}

export interface Candidates {
  all: string[];
  dirs: string[];
}

/**
 * The paths a uniform pick chooses from: every path of the initial stack (whiteouts and
 * hidden names included) plus two fresh names under each of its dirs. They depend on the
 * stack only, not on the steps run so far, so that dropping a step while shrinking leaves
 * the uniform picks of the other steps unchanged (relative picks may move: acceptable).
 */
export function candidatePaths(stack: StackSpec): Candidates {
  const all = new Set<string>();
  const dirs = new Set<string>(['/']);
  for (const layer of [stack.upper, ...stack.lowers]) {
    for (const [path, e] of Object.entries(layer)) {
      const comps = path.split('/').slice(1);
      comps.forEach((_, i) => all.add('/' + comps.slice(0, i + 1).join('/')));
      comps.slice(0, -1).forEach((_, i) => dirs.add('/' + comps.slice(0, i + 1).join('/')));
      if (e.type === 'dir') dirs.add(path);
    }
  }
  for (const d of [...dirs]) for (const n of FRESH) all.add(join(d, n));
  return { all: [...all].sort(), dirs: [...dirs].sort() };
}

const FRESH = ['n1', 'n2'];

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/** The model's dentry for a path, or null (missing, or a lookup the model does not hold). */
function dentry(s: OvlState | undefined, path: string): OvlDentry | null {
  if (!s) return null;
  try {
    const d = lookupPath(s, path);
    return d && isPositive(d) ? d : null;
  } catch {
    return null;
  }
}

function isDirAt(path: string, c: Candidates, s?: OvlState): boolean {
  const d = dentry(s, path);
  return d ? isDir(d) : !s && c.dirs.includes(path);
}

/** Every name the case knows of: the stack's and those its steps touched, sorted. */
function known(c: Candidates, reach?: Reach): string[] {
  if (!reach?.touched.length) return c.all;
  return [...new Set([...c.all, ...reach.touched])].sort();
}

/** Names directly under dir: the stack's, and those created or touched so far (issue 10). */
function childrenOf(dir: string, c: Candidates, reach?: Reach): string[] {
  return known(c, reach).filter((p) => p !== '/' && p !== dir && parentPath(p) === dir);
}

/** Other names of the same inode (hard links), as the model sees them now. */
function otherLinks(path: string, c: Candidates, reach: Reach | undefined, s: OvlState | undefined): string[] {
  const d = dentry(s, path);
  if (!d || isDir(d)) return [];
  const id = realInode(d).id;
  return known(c, reach).filter((p) => {
    if (p === path) return false;
    const o = dentry(s, p);
    return o !== null && !isDir(o) && realInode(o).id === id;
  });
}

/** Names no step touched yet, if there are any: still as the stack has them (lower-only, say). */
function untouchedFirst(names: string[], reach: Reach): string[] {
  const fresh = names.filter((p) => !reach.touched.includes(p));
  return fresh.length ? fresh : names;
}

function choose<T>(xs: readonly T[], pick: number): T | undefined {
  return xs.length ? xs[pick % xs.length] : undefined;
}

/** A relative pick: the path `back` touches ago, or one related to it. */
function resolveNear(p: PathPick, base: string, c: Candidates, reach: Reach, s?: OvlState): string {
  const pick = p.pick;
  switch (p.near) {
    case 'parent': return parentPath(base);
    case 'child': return choose(untouchedFirst(childrenOf(base, c, reach), reach), pick) ?? base;
    case 'sibling': return choose(untouchedFirst(childrenOf(parentPath(base), c, reach).filter((x) => x !== base), reach), pick) ?? base;
    case 'link': return choose(otherLinks(base, c, reach, s), pick) ?? base;
    default: return base;
  }
}

function resolvePath(p: PathPick, c: Candidates, reach?: Reach, s?: OvlState): string {
  const touched = reach?.touched ?? [];
  if (p.near !== undefined && touched.length > 0) {
    const base = touched[touched.length - 1 - ((p.back ?? 0) % touched.length)];
    const near = resolveNear(p, base, c, reach!, s);
    if (p.fresh !== undefined) return join(isDirAt(near, c, s) ? near : parentPath(near), p.fresh);
    return near === '/' ? base : near; // never the root itself, as uniform picks (the model is not checked there)
  }
  if (p.fresh === undefined) return c.all[p.pick % c.all.length];
  return join(c.dirs[p.pick % c.dirs.length], p.fresh);
}

/**
 * The concrete step. `reach` and `s` (the model state) are for relative picks: without
 * them those are uniform picks, as for callers that resolve a step on its own.
 */
export function resolveOp(a: AbstractOp, c: Candidates, reach?: Reach, s?: OvlState): Op {
  const op = resolveKind(a, c, reach, s);
  const caller = a.caller ? CALLERS[a.caller % CALLERS.length] : undefined;
  return caller ? { ...op, as: caller } : op;
}

function resolveKind(a: AbstractOp, c: Candidates, reach?: Reach, s?: OvlState): Op {
  const [p, q] = a.paths.map((x) => resolvePath(x, c, reach, s));
  const nofollow = a.flags.includes('nofollow') ? { nofollow: true } : {};
  if (a.op.startsWith('fd')) return resolveFdOp(a, p, c, s);
  switch (a.op) {
    case 'open': return { op: 'open', path: p, flags: a.flags as OpenFlag[], mode: a.mode, ...(a.data !== undefined && !a.flags.includes('O_RDONLY') ? { data: a.data } : {}) };
    case 'truncate': return { op: 'truncate', path: p, size: a.size };
    case 'pwrite': return { op: 'pwrite', path: p, offset: a.size, data: a.data ?? 'p' };
    case 'unlink': return { op: 'unlink', path: p };
    case 'mkdir': return { op: 'mkdir', path: p, mode: a.mode };
    case 'rmdir': return { op: 'rmdir', path: p };
    case 'rename': return { op: 'rename', src: p, dst: q, ...(a.flags.length ? { flags: a.flags as RenameFlag[] } : {}) };
    case 'symlink': return { op: 'symlink', target: q.slice(1), path: p };
    case 'link': return { op: 'link', src: p, dst: q };
    case 'chmod': return { op: 'chmod', path: p, mode: a.mode };
    case 'mknod': return { op: 'mknod', path: p, kind: a.flags[0] as 'fifo' | 'whiteout', mode: a.mode };
    case 'setxattr': return { op: 'setxattr', path: p, name: a.name, value: a.value, ...(a.flags[0] !== 'none' ? { flags: a.flags[0] as XattrFlag } : {}) };
    case 'removexattr': return { op: 'removexattr', path: p, name: a.name };
    case 'lsetxattr': return { op: 'lsetxattr', path: p, name: a.name, value: a.value, ...(a.flags[0] !== 'none' ? { flags: a.flags[0] as XattrFlag } : {}) };
    case 'chown': return { op: 'chown', path: p, uid: a.owner?.[0] ?? -1, gid: a.owner?.[1] ?? -1, ...nofollow };
    case 'utimes': return { op: 'utimes', path: p, atime: a.times?.[0] ?? 'now', mtime: a.times?.[1] ?? 'now', ...nofollow };
    case 'remount': return a.flags[0] === 'options' && s ? remountWithOptions(s, a.size) : { op: 'remount' };
    case 'rotate': return { op: 'rotate' };
    case 'opendir': return { op: 'opendir', path: dirNear(p, c, s), dir: slotOf(a) };
    case 'readdir': return { op: 'readdir', dir: slotOf(a), n: a.size };
    case 'seekdir': return { op: 'seekdir', dir: slotOf(a), to: a.size };
    case 'closedir': return { op: 'closedir', dir: slotOf(a) };
    default: throw new Error(`resolveOp: ${a.op}`);
  }
}

/**
 * A remount of the same layers with another of the option sets the kernel accepts (run
 * --option-sets): one that keeps what a remount must (model/params.ts profileForRemount),
 * and the case's uuid and volatile.
 */
function remountWithOptions(s: OvlState, pick: number): Op {
  const keep = [s.profile.uuid !== DEFAULT_PROFILE.uuid ? `uuid=${s.profile.uuid}` : '', s.profile.volatile ? 'volatile' : ''].filter(Boolean);
  const sets = optionCombinations(s.kernel).map((c) => [c, ...keep].filter(Boolean).join(',')).filter((o) => {
    try {
      profileForRemount(s.profile, o, s.kernel);
      return true;
    } catch (e) {
      if (e instanceof ParamError) return false;
      throw e;
    }
  });
  return sets.length ? { op: 'remount', options: sets[pick % sets.length] } : { op: 'remount' };
}

function slotOf(a: AbstractOp): DirSlot {
  return ((a.dir ?? 0) % 3) as DirSlot;
}

/** A dir to open: the picked path if it is one (or a name that is not one, now and then: ENOTDIR, ENOENT), else its parent. */
function dirNear(p: string, c: Candidates, s?: OvlState): string {
  if (isDirAt(p, c, s) || p.length % 4 === 0) return p;
  return parentPath(p);
}

/**
 * An fd step: its slot picked among the open ones (an open among the closed ones), so that
 * most steps use an fd an earlier step opened; a closed slot now and then (EBADF).
 */
function resolveFdOp(a: AbstractOp, p: string, c: Candidates, s?: OvlState): Op {
  const open = [0, 1, 2, 3].filter((i) => s?.fds?.[i]);
  const closed = [0, 1, 2, 3].filter((i) => !open.includes(i));
  const pick = a.slot ?? 0;
  const fromOpen = a.op === 'fdopen' ? pick >= 6 : pick < 7; // 1 in 8 the other way
  // A step on an fd when none is open opens one instead (7 in 8): uses need an open first.
  const op = a.op !== 'fdopen' && open.length === 0 && pick < 7 ? 'fdopen' : a.op;
  // linkat(AT_EMPTY_PATH) is for an O_TMPFILE: the slot that holds one, if any (S4.10).
  const tmpfile = open.filter((i) => s?.fds?.[i]?.held?.tmpfile);
  // Writes prefer an fd open for writing.
  const writable = ['fdwrite', 'fdpwrite', 'fdtruncate'].includes(op) ? open.filter((i) => s?.fds?.[i]?.writable) : [];
  const slot = (op === 'fdlink' && tmpfile.length ? choose(tmpfile, pick)
    : writable.length && pick < 6 ? choose(writable, pick)
    : choose(fromOpen || op !== a.op ? (op === 'fdopen' ? closed : open) : op === 'fdopen' ? open : closed, pick)
      ?? choose(op === 'fdopen' ? open : closed, pick) ?? 0) as FdSlot;
  // No fd on a fifo: its pipe buffer, and a copy-up through it after its name went (which
  // brings the name back, S17.9), are not in the model; its dir instead. open(2) follows a symlink to one.
  const isFifo = (path: string) => !!s && (realInodeType(s, path) === 'fifo' || followedType(s, path) === 'fifo');
  // What fdopen opens without O_CREAT: a name that exists now, most of the time.
  const existing = (path: string) => (!s || dentry(s, path) || pick === 0 ? path : choose(c.all.filter((x) => dentry(s, x)), a.mode + pick) ?? path);
  if (op !== a.op) {
    const path = existing(p);
    const at = isFifo(path) ? parentPath(path) : path;
    return { op: 'fdopen', slot, path: at, flags: isDirAt(at, c, s) ? ['O_RDONLY', 'O_DIRECTORY'] : pick % 2 ? ['O_RDONLY'] : ['O_RDWR'] };
  }
  switch (a.op) {
    case 'fdopen': {
      let flags = a.flags as FdOpenFlag[];
      if (!flags.includes('O_CREAT')) p = existing(p);
      if (!flags.includes('O_TMPFILE') && isFifo(p)) [p, flags] = [parentPath(p), ['O_RDONLY', 'O_DIRECTORY']];
      // O_TMPFILE names the dir the file is made in.
      const path = flags.includes('O_TMPFILE') && !isDirAt(p, c, s) ? parentPath(p) : p;
      return { op: 'fdopen', slot, path, flags, ...(flags.includes('O_CREAT') || flags.includes('O_TMPFILE') ? { mode: a.mode } : {}) };
    }
    case 'fdread': return { op: 'fdread', slot };
    case 'fdwrite': return { op: 'fdwrite', slot, data: a.data ?? 'p' };
    case 'fdpwrite': return { op: 'fdpwrite', slot, data: a.data ?? 'p', offset: a.size };
    case 'fdstat': return { op: 'fdstat', slot };
    case 'fdchmod': return { op: 'fdchmod', slot, mode: a.mode };
    case 'fdchown': return { op: 'fdchown', slot };
    case 'fdsetxattr': return { op: 'fdsetxattr', slot, name: a.name, value: a.value };
    case 'fdtruncate': return { op: 'fdtruncate', slot, size: a.size };
    case 'fdlink': return { op: 'fdlink', slot, path: p };
    case 'fdclose': return { op: 'fdclose', slot };
    default: throw new Error(`resolveFdOp: ${a.op}`);
  }
}

function realInodeType(s: OvlState, path: string): string | undefined {
  const d = dentry(s, path);
  return d ? realInode(d).type : undefined;
}

/** What a path names once symlinks are followed, as open(2) finds it (found by run: an fd on a fifo through a symlink). */
function followedType(s: OvlState, path: string): string | undefined {
  const w = walkPath(s, path, true);
  return w.ok && isPositive(w.child) && !w.child.error ? realInode(w.child).type : undefined;
}

/** Steps resolved in order, relative picks following the earlier ones (no model state). */
export function resolveOps(as: AbstractOp[], c: Candidates): Op[] {
  const reach: Reach = { touched: [] };
  return as.map((a) => {
    const op = resolveOp(a, c, reach);
    touch(reach, op);
    return op;
  });
}

/** The paths a step names. */
export function opPaths(op: Op): string[] {
  switch (op.op) {
    case 'rename': case 'link': return [op.src, op.dst];
    case 'remount': case 'rotate': return [];
    case 'readdir': case 'seekdir': case 'closedir': return [];
    case 'fdopen': case 'fdlink': return [op.path];
    default: return 'path' in op ? [op.path] : [];
  }
}

/** Record a step's paths (or one path) as the latest touched. */
export function touch(reach: Reach, what: Op | string): void {
  for (const p of typeof what === 'string' ? [what] : opPaths(what)) {
    if (p === '/') continue; // an opendir of the root: relative picks never name the mount point itself
    const i = reach.touched.indexOf(p);
    if (i >= 0) reach.touched.splice(i, 1);
    reach.touched.push(p);
  }
}

// ---------------------------------------------------------------- scenarios

/** A scenario's view of the case while it runs. */
class Ctx {
  readonly done: Op[] = [];
  constructor(readonly r: Real, readonly reach: Reach) {}
  get s(): OvlState {
    return this.r.session.state;
  }
  async step(op: Op): Promise<void> {
    touch(this.reach, op);
    this.done.push(op);
    await this.r.session.step(op);
  }
  d(path: string): OvlDentry | null {
    return dentry(this.s, path);
  }
  isDir(path: string): boolean {
    const d = this.d(path);
    return d !== null && isDir(d);
  }
  /** The model's merged listing of a dir now (full paths). */
  list(path: string): string[] {
    const d = this.d(path);
    if (!d || !isDir(d)) return [];
    try {
      return readDir(this.s, d).map((n) => join(path, n));
    } catch {
      return [];
    }
  }
  /** Known names (not the root) that exist now and fit. */
  names(fits: (d: OvlDentry) => boolean): string[] {
    return known(this.r.candidates, this.reach).filter((p) => {
      if (p === '/') return false;
      const d = this.d(p);
      return d !== null && fits(d);
    });
  }
  /** A name under dir that does not exist now. */
  freshIn(dir: string): string {
    const free = FRESH.map((n) => join(dir, n)).find((p) => !this.d(p));
    return free ?? join(dir, FRESH[0]);
  }
}

const fromLower = (d: OvlDentry) => d.lowers.length > 0;
const isFile = (d: OvlDentry) => !isDir(d) && realInode(d).type === 'file';

/** rm -r down to `depth` levels: the children the model lists now, removed one by one. */
async function removeTree(x: Ctx, dir: string, depth: number): Promise<void> {
  for (const child of x.list(dir)) {
    if (x.isDir(child)) {
      if (depth > 1) await removeTree(x, child, depth - 1);
      await x.step({ op: 'rmdir', path: child });
    } else await x.step({ op: 'unlink', path: child });
  }
}

/** The index of the write among change()'s ways for a non-dir. */
const WRITE = 2;

/** A step that changes a name, chosen by `way`: chmod, setxattr; for a non-dir also a write, a truncate. */
function change(a: AbstractScenario, path: string, way: number, isDirectory: boolean): Op {
  const ways: Op[] = [
    { op: 'chmod', path, mode: a.mode },
    { op: 'setxattr', path, name: a.name, value: a.value },
  ];
  if (!isDirectory) ways.push({ op: 'open', path, flags: ['O_WRONLY', 'O_APPEND'], data: a.data }, { op: 'truncate', path, size: 1 });
  return ways[way % ways.length];
}

type Run = (x: Ctx, a: AbstractScenario) => Promise<void>;

const RUNS: Record<AbstractScenario['scenario'], Run> = {
  /**
   * Empty a lower or merged dir through the overlay, then remove it or rename a dir onto it:
   * its upper holds only whiteouts then (S4.8: they do not count; S5.9).
   */
  async 'empty-then-remove'(x, a) {
    const dirs = x.names((d) => isDir(d) && fromLower(d));
    const full = dirs.filter((p) => x.list(p).length > 0);
    const dir = choose(full.length ? full : dirs, a.pick);
    if (!dir) return;
    await removeTree(x, dir, 2);
    const end = a.way % 4;
    if (end === 2) {
      const other = x.freshIn(parentPath(dir));
      await x.step({ op: 'mkdir', path: other, mode: 0o755 });
      await x.step({ op: 'rename', src: other, dst: dir });
    } else if (end === 3) {
      const other = choose(x.list(parentPath(dir)).filter((p) => p !== dir), a.way >> 2) ?? x.freshIn(parentPath(dir));
      await x.step({ op: 'rename', src: other, dst: dir });
    } else await x.step({ op: 'rmdir', path: dir });
  },

  /** Change a child (write, chmod, setxattr, create, unlink), then rename or copy up its parent (S6.2, S5.2). */
  async 'child-then-parent'(x, a) {
    const dirs = x.names((d) => isDir(d) && fromLower(d));
    const dir = choose(dirs.length ? dirs : x.names(isDir), a.pick);
    if (!dir) return;
    const kind = a.way % 5;
    const children = x.list(dir);
    if (kind === 3 || children.length === 0) {
      await x.step({ op: 'open', path: x.freshIn(dir), flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644, data: a.data });
    } else {
      const child = choose(children, a.way >> 3)!;
      const childIsDir = x.isDir(child);
      if (kind === 4) await x.step(childIsDir ? { op: 'rmdir', path: child } : { op: 'unlink', path: child });
      else await x.step(change(a, child, kind === 0 ? WRITE : kind - 1, childIsDir));
    }
    const end = (a.way >> 8) % 4;
    if (end < 2) await x.step({ op: 'rename', src: dir, dst: x.freshIn(parentPath(dir)) });
    else await x.step(change(a, dir, end - 2, true));
  },

  /** A call that fails on a name from a lower layer, then steps on that name, its parent or a child. */
  async 'fail-then-look'(x, a) {
    // Names only in lower layers first: a failed call can leave their copy-up behind.
    const names = x.names(fromLower);
    const lowerOnly = names.filter((p) => !x.d(p)!.upper && ['file', 'dir'].includes(realInode(x.d(p)!).type));
    const target = choose(lowerOnly.length ? lowerOnly : names, a.pick);
    if (!target) return;
    const d = x.d(target)!;
    const sibling = x.freshIn(parentPath(target));
    // S22.4: the upper fs checks the flags after the copy-up, so the failed call leaves a copy.
    const leaves: Op = a.name in realInode(d).xattrs
      ? { op: 'setxattr', path: target, name: a.name, value: a.value, flags: 'XATTR_CREATE' } // EEXIST
      : { op: 'setxattr', path: target, name: a.name, value: a.value, flags: 'XATTR_REPLACE' }; // ENODATA
    const ways: Op[] = isDir(d)
      ? [
        x.list(target).length ? { op: 'rmdir', path: target } : { op: 'unlink', path: target }, // ENOTEMPTY (S4.8, S4.9), EISDIR
        { op: 'rename', src: target, dst: sibling }, // EXDEV without redirect_dir=on (S5.2)
        { op: 'mkdir', path: target, mode: 0o755 }, // EEXIST
        { op: 'rename', src: target, dst: join(target, 'n1') }, // EINVAL: into itself
      ]
      : [
        { op: 'rmdir', path: target }, // ENOTDIR
        { op: 'open', path: target, flags: ['O_WRONLY', 'O_CREAT', 'O_EXCL'], mode: 0o644 }, // EEXIST
        { op: 'rename', src: target, dst: sibling, flags: ['RENAME_WHITEOUT'] }, // EINVAL (S5.1)
        { op: 'open', path: join(target, 'n1'), flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644 }, // ENOTDIR
      ];
    ways.push(leaves, leaves, leaves);
    await x.step(ways[a.way % ways.length]);
    touch(x.reach, target); // the follow-up steps start from the name
    if (a.then.length === 0) await x.step({ op: 'chmod', path: target, mode: a.mode });
    await thenSteps(x, a);
  },

  /** Delete a lower name, then create it again: a whiteout replaced, an opaque dir (S4.2, S3.6). */
  async 'delete-then-recreate'(x, a) {
    const target = choose(x.names(fromLower), a.pick);
    if (!target) return;
    if (x.isDir(target)) {
      await removeTree(x, target, 1);
      await x.step({ op: 'rmdir', path: target });
    } else await x.step({ op: 'unlink', path: target });
    const other = choose(x.names(isFile), a.way >> 3);
    const ways: Op[] = [
      { op: 'mkdir', path: target, mode: 0o755 },
      { op: 'open', path: target, flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644, data: a.data },
      { op: 'symlink', target: 'n1', path: target },
      { op: 'mknod', path: target, kind: 'fifo', mode: 0o644 },
      ...(other ? [{ op: 'link', src: other, dst: target } as Op, { op: 'rename', src: other, dst: target } as Op] : []),
    ];
    await x.step(ways[a.way % ways.length]);
    await thenSteps(x, a);
  },

  /** Rename a dir (a new one half the time: it may move), then create or remove inside it (S5.3, S5.8). */
  async 'rename-dir-then-inside'(x, a) {
    let dir = choose(x.names(isDir), a.pick);
    if (!dir || a.way % 2 === 0) {
      dir = x.freshIn(dir ?? '/');
      await x.step({ op: 'mkdir', path: dir, mode: 0o755 });
    }
    const into = (a.way >> 1) % 2 ? parentPath(dir) : choose(x.names(isDir).filter((p) => p !== dir && !p.startsWith(dir + '/')), a.pick >> 4) ?? '/';
    const dst = x.freshIn(into);
    await x.step({ op: 'rename', src: dir, dst });
    const inside = x.d(dst) ? dst : dir;
    const child = choose(x.list(inside), a.way >> 4);
    const ways: Op[] = [
      { op: 'open', path: x.freshIn(inside), flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644, data: a.data },
      { op: 'mkdir', path: x.freshIn(inside), mode: 0o755 },
      ...(child ? [x.isDir(child) ? { op: 'rmdir', path: child } as Op : { op: 'unlink', path: child } as Op] : []),
    ];
    await x.step(ways[(a.way >> 2) % ways.length]);
    await thenSteps(x, a);
  },

  /** Hard-link a file, then change it through one of its names (S4.6, S6.6). */
  async 'link-then-modify'(x, a) {
    const files = x.names(isFile);
    const lower = files.filter((p) => fromLower(x.d(p)!));
    const src = choose(lower.length ? lower : files, a.pick);
    if (!src) return;
    const dst = x.freshIn(a.way % 2 ? parentPath(src) : choose(x.names(isDir), a.way >> 6) ?? '/');
    await x.step({ op: 'link', src, dst });
    await x.step(change(a, (a.way >> 1) % 2 ? src : dst, a.way >> 2, false));
    await thenSteps(x, a);
  },

  /** Copy up a lower dir by chmod or setxattr (the dir alone, S6.2), then change a name inside it. */
  async 'dir-copy-up-then-inside'(x, a) {
    const dirs = x.names((d) => isDir(d) && fromLower(d));
    const untouched = dirs.filter((p) => !x.d(p)!.upper);
    const dir = choose(untouched.length ? untouched : dirs, a.pick);
    if (!dir) return;
    await x.step(change(a, dir, a.way, true));
    const child = choose(untouchedFirst(x.list(dir), x.reach), a.way >> 2);
    if (!child || (a.way >> 1) % 4 === 0) await x.step({ op: 'open', path: x.freshIn(dir), flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644, data: a.data });
    else if (x.isDir(child)) await x.step(change(a, child, a.way >> 5, true));
    else await x.step(change(a, child, (a.way >> 5) % 2 ? WRITE : a.way >> 6, false)); // the child's own copy-up, by a write half the time
    await thenSteps(x, a);
  },

  /**
   * Open a dir, read part of it, change it (a name created, removed or renamed, a child or the
   * dir itself copied up), maybe read it through a second open, read on, seek back, read
   * again (S9.1, S9.6-S9.8).
   */
  async 'read-dir-while-changing'(x, a) {
    const dirs = x.names(isDir);
    const lower = dirs.filter((p) => fromLower(x.d(p)!));
    const dir = (a.way >> 10) % 4 === 0 ? choose(['/', ...dirs], a.pick) ?? '/' : choose(lower.length ? lower : ['/', ...dirs], a.pick) ?? '/';
    const slot = (a.way % 3) as DirSlot;
    const other = ((slot + 1) % 3) as DirSlot;
    await x.step({ op: 'opendir', path: dir, dir: slot });
    await x.step({ op: 'readdir', dir: slot, n: 1 + ((a.way >> 2) % 3) });
    const child = choose(x.list(dir), a.way >> 4);
    const fresh = x.freshIn(dir);
    const ways: Op[] = [
      { op: 'open', path: fresh, flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644, data: a.data },
      { op: 'mkdir', path: fresh, mode: 0o755 },
      change(a, dir, a.way >> 6, true), // the dir itself copied up: a pure lower dir becomes merged (S9.7)
      ...(child ? [
        x.isDir(child) ? { op: 'rmdir', path: child } as Op : { op: 'unlink', path: child } as Op,
        { op: 'rename', src: child, dst: fresh } as Op,
        { op: 'rename', src: child, dst: x.freshIn(parentPath(dir)) } as Op,
        change(a, child, a.way >> 6, x.isDir(child)),
      ] : []),
    ];
    await x.step(ways[(a.way >> 7) % ways.length]);
    if ((a.way >> 3) % 2) {
      await x.step({ op: 'opendir', path: dir, dir: other }); // S9.8: its own listing
      await x.step({ op: 'readdir', dir: other, n: 99 });
    }
    await x.step({ op: 'readdir', dir: slot, n: 99 });
    await x.step({ op: 'seekdir', dir: slot, to: (a.way >> 9) % 2 });
    await x.step({ op: 'readdir', dir: slot, n: 99 });
    await thenSteps(x, a);
  },

  /**
   * Open a lower file (or dir) read-only, change its name by another step (a write that
   * copies it up, chmod, rename, unlink), then use the fd: it sees the copy (S17.1), keeps
   * the object after rename or unlink (S17.7), and fchmod/fsetxattr copy it up (S17.5). Three
   * steps, so that a broken rule shrinks to them.
   */
  async 'fd-across-change'(x, a) {
    const lower = x.names((d) => fromLower(d) && !d.upper && (isFile(d) || isDir(d)));
    const path = choose(lower.length ? lower : x.names((d) => isFile(d) || isDir(d)), a.pick);
    if (!path) return;
    const slot = (a.way % 4) as FdSlot;
    const dir = x.isDir(path);
    await x.step({ op: 'fdopen', slot, path, flags: dir ? ['O_RDONLY', 'O_DIRECTORY'] : (a.way & 12) === 12 ? ['O_RDWR'] : ['O_RDONLY'] });
    const write: Op = dir ? { op: 'chmod', path, mode: a.mode } : { op: 'open', path, flags: ['O_WRONLY', 'O_APPEND'], data: a.data };
    const ways: Op[] = [
      write, write,
      { op: 'rename', src: path, dst: x.freshIn(parentPath(path)) },
      dir ? { op: 'rmdir', path } : { op: 'unlink', path },
      { op: 'setxattr', path, name: a.name, value: a.value },
    ];
    await x.step(ways[(a.way >> 3) % ways.length]);
    const uses: Op[] = [
      { op: 'fdstat', slot }, { op: 'fdstat', slot }, { op: 'fdread', slot }, { op: 'fdchmod', slot, mode: a.mode },
      { op: 'fdsetxattr', slot, name: a.name, value: a.value }, { op: 'fdwrite', slot, data: a.data },
    ];
    await x.step(uses[(a.way >> 5) % uses.length]);
    await thenSteps(x, a); // (fdstat may follow among them)
  },
};

/** The scenario's last steps: on the name it ended on, its parent or a child. */
async function thenSteps(x: Ctx, a: AbstractScenario): Promise<void> {
  for (const t of a.then) await x.step(resolveOp(t, x.r.candidates, x.reach, x.s));
}

export class ScenarioCommand implements fc.AsyncCommand<object, Real> {
  private done: Op[] | null = null;
  constructor(readonly abstract: AbstractScenario) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    const x = new Ctx(r, (r.reach ??= { touched: [] }));
    this.done = x.done;
    await RUNS[this.abstract.scenario](x, this.abstract);
  }
  toString(): string {
    if (!this.done) return `${this.abstract.scenario}(...)`;
    return `${this.abstract.scenario}: ${this.done.length ? this.done.map(formatOp).join('; ') : '(nothing fits)'}`;
  }
}

/** A step the way a C programmer would write it. */
export function formatOp(op: Op): string {
  if (!op.as) return formatKind(op);
  const { uid, gid, groups, umask } = op.as;
  const who = `${uid}:${gid}${groups ? ` groups ${groups.join(',')}` : ''}${umask !== undefined ? ` umask 0${umask.toString(8)}` : ''}`;
  return `as ${who}: ${formatKind(op)}`;
}

function formatKind(op: Op): string {
  const q = (s: string) => JSON.stringify(s);
  const o = (m: number) => '0' + m.toString(8);
  switch (op.op) {
    case 'open': return `open(${q(op.path)}, ${op.flags.join('|')}${op.flags.includes('O_CREAT') ? ', ' + o(op.mode ?? 0o644) : ''})${op.data !== undefined ? ` + write(${q(op.data)})` : ''}`;
    case 'truncate': return `truncate(${q(op.path)}, ${op.size})`;
    case 'pwrite': return `open(${q(op.path)}, O_WRONLY) + pwrite(${q(op.data)}, ${op.offset})`;
    case 'unlink': return `unlink(${q(op.path)})`;
    case 'mkdir': return `mkdir(${q(op.path)}, ${o(op.mode)})`;
    case 'rmdir': return `rmdir(${q(op.path)})`;
    case 'rename': return `renameat2(${q(op.src)}, ${q(op.dst)}, ${op.flags?.length ? op.flags.join('|') : '0'})`;
    case 'symlink': return `symlink(${q(op.target)}, ${q(op.path)})`;
    case 'link': return `link(${q(op.src)}, ${q(op.dst)})`;
    case 'chmod': return `chmod(${q(op.path)}, ${o(op.mode)})`;
    case 'mknod': return `mknod(${q(op.path)}, ${op.kind === 'fifo' ? 'S_IFIFO' : 'S_IFCHR 0/0'}|${o(op.mode)})`;
    case 'setxattr': return `setxattr(${q(op.path)}, ${q(op.name)}, ${q(op.value)}, ${op.flags ?? '0'})`;
    case 'removexattr': return `removexattr(${q(op.path)}, ${q(op.name)})`;
    case 'lsetxattr': return `lsetxattr(${q(op.path)}, ${q(op.name)}, ${q(op.value)}, ${op.flags ?? '0'})`;
    case 'chown': return `${op.nofollow ? 'lchown' : 'chown'}(${q(op.path)}, ${op.uid}, ${op.gid})`;
    case 'utimes': {
      const t = (x: number | string) => (x === 'now' ? 'UTIME_NOW' : x === 'omit' ? 'UTIME_OMIT' : `{${x}, 0}`);
      return `utimensat(AT_FDCWD, ${q(op.path)}, [${t(op.atime)}, ${t(op.mtime)}], ${op.nofollow ? 'AT_SYMLINK_NOFOLLOW' : '0'})`;
    }
    case 'remount': return op.options === undefined ? 'umount + mount' : `umount + mount with ${JSON.stringify(op.options)}`;
    case 'rotate': return 'rotate: umount, the upper becomes the top lower, mount with a new upper';
    case 'opendir': return `dir${op.dir} = opendir(${q(op.path)})`;
    case 'readdir': return op.n >= 99 ? `readdir(dir${op.dir}) to the end` : `readdir(dir${op.dir}) x${op.n}`;
    case 'seekdir': return op.to === 0 ? `rewinddir(dir${op.dir})` : `seekdir(dir${op.dir}, after read ${op.to})`;
    case 'closedir': return `closedir(dir${op.dir})`;
    case 'fdopen': return `fd${op.slot} = open(${q(op.path)}, ${op.flags.join('|')}${op.mode !== undefined ? ', ' + o(op.mode) : ''})`;
    case 'fdread': return `read(fd${op.slot}, 4096)`;
    case 'fdwrite': return `write(fd${op.slot}, ${q(op.data)})`;
    case 'fdpwrite': return `pwrite(fd${op.slot}, ${q(op.data)}, ${op.offset})`;
    case 'fdstat': return `fstat(fd${op.slot})`;
    case 'fdchmod': return `fchmod(fd${op.slot}, ${o(op.mode)})`;
    case 'fdchown': return `fchown(fd${op.slot}, 0, 0)`;
    case 'fdsetxattr': return `fsetxattr(fd${op.slot}, ${q(op.name)}, ${q(op.value)}, 0)`;
    case 'fdtruncate': return `ftruncate(fd${op.slot}, ${op.size})`;
    case 'fdlink': return `linkat(fd${op.slot}, "", AT_FDCWD, ${q(op.path)}, AT_EMPTY_PATH)`;
    case 'fdclose': return `close(fd${op.slot})`;
  }
}
