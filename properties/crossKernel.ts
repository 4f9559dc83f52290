// The cross-kernel property: the upper directory is an on-disk format that must survive a kernel
// upgrade or downgrade. Kernel A builds the layers on an ext4 image, mounts them, runs the
// steps (each outcome against the model at A's version), unmounts, mounts again and compares
// every view; kernel B then mounts the same layers (upper and workdir) from a copy of that
// image, and every view must be what the model says a kernel of B's version shows there.
//
// Views are compared at those two moments only, each with its own inode bijection: ext4 hands
// freed inode numbers out again, so numbers are compared within a moment, never across steps
// (the property on tmpfs, which never reuses them, holds every step to that).

import fc from 'fast-check';
import { applyOp, createState, lowerView, mergedView, mount, namedProfile, privatePrefix, upperView, walkEffects } from '../model/index.js';
import type { KernelVersion, Op, Outcome, Profile, Snapshot, StackSpec } from '../model/index.js';
import type { OvlState } from '../model/state.js';
import { unsupportedBy } from '../model/versions.js';
import { opCall } from '../harness/calls.js';
import { diffSnapshots, formatDifference, InodeMap, maskedXattrs, type Difference } from '../harness/compare.js';
import { mountFlags, overlayOptions } from '../harness/drivers/kernelOptions.js';
import { layerPlan } from '../harness/materialize.js';
import { kernelOf, type Sys } from '../harness/sys.js';
import { opArbitrary } from './arb/ops.js';
import { layerStack } from './arb/layerStack.js';
import { candidatePaths, formatOp, resolveOps } from './commands.js';
import { formatStack } from './report.js';

/** Profiles the cases take in turn: every one a container engine uses whose upper outlives a mount. */
export const CROSS_PROFILES = ['default', 'index', 'redirect-on', 'metacopy', 'nfs-export', 'userxattr', 'redirect-nofollow', 'uuid-off'];

export interface CrossCase {
  i: number;
  profile: string;
  stack: StackSpec;
  steps: Op[];
}

export interface WrittenCase extends CrossCase {
  /** A's outcome of each step. */
  outcomes: Outcome[];
  /** null: A did what the model says; else where it did not (then B does not read this case). */
  divergence: string | null;
  /** Why A could not hold the case at all (its profile), if so. */
  skipped?: string;
}

/** What kernel A wrote: the cases and how A did; the layers are in c<i>/ on the image. */
export interface CrossManifest {
  kernel: string;
  version: KernelVersion;
  cases: WrittenCase[];
}

export interface CrossReadCase {
  i: number;
  profile: string;
  /** skipped: A diverged already, or B cannot mount the profile. */
  status: 'pass' | 'fail' | 'skipped';
  why?: string;
  /** For a failure: the case and what B showed, as printed. */
  text?: string;
}

/** The same cases for every kernel: seed, stacks, steps (no remount or rotation: they belong to the property on one kernel). */
export function crossCases(n: number, seed: number, profiles = CROSS_PROFILES): CrossCase[] {
  const shape = { maxLowers: 3, maxEntriesPerLayer: 10, minLowers: 1, upper: true };
  const samples = fc.sample(fc.tuple(layerStack(shape), fc.array(opArbitrary(0, 0), { maxLength: 10 })), { numRuns: n, seed });
  return samples.map(([stack, abstractOps], i) => {
    const candidates = candidatePaths(stack);
    return { i, profile: profiles[i % profiles.length], stack, steps: resolveOps(abstractOps, candidates) };
  });
}

interface CaseDirs {
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
}

function dirsOf(base: string, c: CrossCase): CaseDirs {
  const root = `${base}/c${c.i}`;
  return { lowers: c.stack.lowers.map((_, i) => `${root}/l${i}`), upper: `${root}/u`, work: `${root}/w`, merged: `${root}/m` };
}

function mountCase(sys: Sys, d: CaseDirs, p: Profile, kernel: KernelVersion): Outcome {
  return sys.mount('overlay', d.merged, 'overlay', mountFlags(p), overlayOptions(d.lowers, d.upper, d.work, p, kernel));
}

/** What the model holds, and what a listing sees, after a mount or a step and the walk that follows it. */
class ModelRun {
  listed: OvlState;
  state: OvlState;
  constructor(s: OvlState) {
    this.listed = s;
    this.state = walkEffects(s);
  }
  settle(s: OvlState): void {
    this.listed = s;
    this.state = walkEffects(s);
  }
}

/** Every view now against the model, with a bijection of its own. */
function compareViews(sys: Sys, d: CaseDirs, m: ModelRun, p: Profile): Difference[] {
  const inodes = new InodeMap();
  const masked = maskedXattrs(privatePrefix(p));
  const views: [string, Snapshot, Snapshot][] = [
    ['merged', mergedView(m.state, m.listed), sys.walk(d.merged)], // the walk first: it is what writes (S22.1)
    ['upper', upperView(m.state), sys.walk(d.upper)],
    ...d.lowers.map((l, i): [string, Snapshot, Snapshot] => [`lower${i}`, lowerView(m.state, i), sys.walk(l)]),
  ];
  // st_blocks: the model holds tmpfs's 4 KiB pages (model/sparse.ts); these layers are on ext4.
  return views.flatMap(([view, expected, actual]) => diffSnapshots(view, expected, withoutBlocks(actual), inodes, masked));
}

function withoutBlocks(snap: Snapshot): Snapshot {
  return new Map([...snap].map(([path, e]) => [path, e.blocks === undefined ? e : (({ blocks: _b, ...rest }) => rest)(e)]));
}

/** Kernel A: builds and runs each case under base (an ext4 image's mount point), leaves the layers there. */
export function writeCrossCases(sys: Sys, base: string, cases: CrossCase[], onCase?: (done: number) => void): CrossManifest {
  const kernel = kernelOf(sys);
  const written: WrittenCase[] = [];
  for (const c of cases) {
    const p = namedProfile(c.profile);
    const d = dirsOf(base, c);
    const outcomes: Outcome[] = [];
    const skipped = unsupportedBy(p, kernel);
    if (skipped) {
      written.push({ ...c, outcomes, divergence: null, skipped });
      onCase?.(written.length);
      continue;
    }
    for (const dir of [`${base}/c${c.i}`, ...d.lowers, d.upper, d.work, d.merged]) sys.run({ c: 'mkdir', path: dir, mode: 0o755 });
    const prefix = privatePrefix(p);
    sys.build([...c.stack.lowers.flatMap((l, i) => layerPlan(d.lowers[i], l, prefix)), ...layerPlan(d.upper, c.stack.upper, prefix)]);
    const divergence = runOnA(sys, c, d, p, kernel, outcomes);
    written.push({ ...c, outcomes, divergence });
    onCase?.(written.length);
  }
  return { kernel: sys.release(), version: kernel, cases: written };
}

function runOnA(sys: Sys, c: CrossCase, d: CaseDirs, p: Profile, kernel: KernelVersion, outcomes: Outcome[]): string | null {
  const mounted = mountCase(sys, d, p, kernel);
  if (mounted !== 'ok') return `mount: ${mounted}`;
  try {
    const m = new ModelRun(createState(c.stack, p, kernel));
    sys.walk(d.merged); // as the model's walk after every step: lookups write (S22.1)
    for (const [k, op] of c.steps.entries()) {
      const want = applyOp(m.state, op);
      const got = sys.run(opCall(d.merged, op));
      outcomes.push(got);
      if (got !== want.outcome) return `step ${k + 1} ${formatOp(op)}: expected ${want.outcome} [${want.rule}], actual ${got}`;
      m.settle(want.state);
      sys.walk(d.merged);
    }
    sys.sandbox.unmount(d.merged);
    const again = mountCase(sys, d, p, kernel);
    if (again !== 'ok') return `remount: ${again}`;
    m.settle(mount(m.state));
    const differences = compareViews(sys, d, m, p);
    return differences.length ? `after remount on this kernel: ${formatDifference(differences[0])}` : null;
  } finally {
    sys.sandbox.unmount(d.merged);
  }
}

/** The model after A: the stack mounted, each step with its walk, the remount, all at A's version. */
function modelAfterWriter(c: WrittenCase, p: Profile, writer: KernelVersion): OvlState {
  const m = new ModelRun(createState(c.stack, p, writer));
  for (const op of c.steps) m.settle(applyOp(m.state, op).state);
  m.settle(mount(m.state));
  return m.state;
}

/** Kernel B: mounts each case A wrote (and did right) under base, and compares every view with the model at B's version. */
export function readCrossCases(sys: Sys, base: string, written: CrossManifest, onCase?: (done: number) => void): CrossReadCase[] {
  const kernel = kernelOf(sys);
  return written.cases.map((c, n) => {
    onCase?.(n + 1);
    const p = namedProfile(c.profile);
    const skip = (why: string): CrossReadCase => ({ i: c.i, profile: c.profile, status: 'skipped', why });
    if (c.skipped) return skip(`${written.kernel} could not hold it: ${c.skipped}`);
    if (c.divergence) return skip(`${written.kernel} diverged already (its own row says how)`);
    const cannot = unsupportedBy(p, kernel);
    if (cannot) return skip(cannot);
    const d = dirsOf(base, c);
    const mounted = mountCase(sys, d, p, kernel);
    const m = new ModelRun(mount({ ...modelAfterWriter(c, p, written.version), kernel }));
    try {
      const differences = mounted === 'ok' ? compareViews(sys, d, m, p) : [];
      if (mounted === 'ok' && differences.length === 0) return { i: c.i, profile: c.profile, status: 'pass' };
      const what = mounted === 'ok' ? differences.map((x) => '  ' + formatDifference(x)) : [`  the mount: expected ok, actual ${mounted}`];
      return { i: c.i, profile: c.profile, status: 'fail', text: formatCrossKernelFailure(c, written.kernel, sys.release(), what) };
    } finally {
      if (mounted === 'ok') sys.sandbox.unmount(d.merged);
    }
  });
}

/** A case on which the writing kernel itself diverged, as printed. */
export function formatWriterDivergence(c: WrittenCase, writer: string): string {
  return [
    `CROSS-KERNEL CASE DIVERGED ON THE WRITER: ${writer}, layers on ext4  profile=${c.profile} case=${c.i}`,
    'layers:', ...formatStack(c.stack),
    'steps:', ...(c.steps.length ? c.steps.map((op, k) => `  ${String(k + 1).padStart(2)}. ${formatOp(op).padEnd(44)} ${c.outcomes[k] ?? ''}`) : ['  (none)']),
    `  ${c.divergence}`,
  ].join('\n');
}

export function formatCrossKernelFailure(c: WrittenCase, writer: string, reader: string, what: string[]): string {
  return [
    `CROSS-KERNEL DIVERGENCE: upper written by ${writer}, mounted by ${reader}  profile=${c.profile} case=${c.i}`,
    'layers:', ...formatStack(c.stack),
    `steps (on ${writer}):`, ...(c.steps.length ? c.steps.map((op, k) => `  ${String(k + 1).padStart(2)}. ${formatOp(op).padEnd(44)} ${c.outcomes[k]}`) : ['  (none)']),
    `then unmounted, and mounted by ${reader}: expected (the model at ${reader}'s version) vs actual:`,
    ...what,
  ].join('\n');
}
