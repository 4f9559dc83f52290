// The cross-implementation property: an upper directory written by one implementation,
// mounted by another over the same lowers, shows the same merged view. Docker and Podman
// move layers between engines (the kernel, fuse-overlayfs for rootless), so the upper
// directory is an exchange format.
//
// A case: random lowers and steps, applied through the writer; its merged view and its raw
// upper are taken; the raw upper is copied byte for byte (names, kinds, modes, contents,
// every xattr, hard links) into a fresh case for the reader, which mounts it. The two merged
// views are compared in abstract terms (harness/codecs.ts: no inode numbers, link counts or
// devices). Where they differ, the report says how the formats differ: the writer's upper
// read by the writer's codec and by the reader's, name by name.
// Not carried over: xattrs on symlinks and fifos (the layer spec has none), timestamps.

import fc from 'fast-check';
import type { EntrySpec, LayerSpec, Op, Profile, Snapshot, StackSpec } from '../model/index.js';
import { DEFAULT_PROFILE } from '../model/index.js';
import { diffSnapshots, formatDifference, InodeMap, withoutTimes, type Difference } from '../harness/compare.js';
import { kernelCodec, type LayerCodec } from '../harness/codecs.js';
import type { Driver, StepFamily } from '../harness/driver.js';
import { layerStack } from './arb/layerStack.js';
import { opArbitrary } from './arb/ops.js';
import { candidatePaths, formatOp, resolveOps } from './commands.js';
import { formatStack } from './report.js';

export interface CrossOptions {
  writer: Driver;
  reader: Driver;
  runs: number;
  steps: number;
  seed: number;
}

export interface CrossFailure {
  stack: StackSpec;
  steps: Op[];
  outcomes: string[];
  differences: Difference[];
  /** How the reader's format reads the writer's upper, where the writer's own reading differs. */
  formatDifferences: Difference[];
}

export interface CrossResult {
  cases: number;
  /** Cases whose initial stack the two already show differently (left to `compare`). */
  skipped: number;
  failure: CrossFailure | null;
  seed: number;
  path?: string;
}

const NATIVE = kernelCodec('trusted.overlay.');

/** A raw upper snapshot as a layer spec that rebuilds it: every xattr, whiteouts, hard links. */
export function layerOfSnapshot(raw: Snapshot): LayerSpec {
  const layer: LayerSpec = {};
  const firstName = new Map<string | number, string>();
  for (const [path, e] of raw) {
    let spec: EntrySpec | null = null;
    if (e.kind === 'dir') spec = { type: 'dir', mode: e.mode, xattrs: { ...e.xattrs } };
    else if (e.kind === 'file') {
      const first = e.nlink > 1 ? firstName.get(e.ino) : undefined;
      if (first) spec = { type: 'link', to: first };
      else {
        if (e.nlink > 1) firstName.set(e.ino, path);
        spec = { type: 'file', mode: e.mode, data: e.data ?? '', xattrs: { ...e.xattrs } };
      }
    } else if (e.kind === 'symlink') spec = { type: 'symlink', target: e.target ?? '' };
    else if (e.kind === 'whiteout') spec = { type: 'whiteout' };
    else if (e.kind === 'fifo') spec = { type: 'fifo', mode: e.mode };
    if (spec && spec.type !== 'link') Object.assign(spec, { uid: e.uid, gid: e.gid }); // S11: owners carry over
    if (spec) layer[path] = spec;
  }
  return layer;
}

/** Mount the stack through driver, apply the steps, take the views, tear down. */
export async function mountedView(
  driver: Driver, stack: StackSpec, steps: Op[] = [], outcomes?: string[], profile: Profile = DEFAULT_PROFILE,
): Promise<{ before: Snapshot; merged: Snapshot; upper: Snapshot }> {
  try {
    await driver.setup(stack, profile);
    const before = driver.snapshot('merged');
    for (const op of steps) outcomes?.push(await driver.apply(op));
    return { before, merged: steps.length ? driver.snapshot('merged') : before, upper: driver.snapshot('upper') };
  } finally {
    await driver.teardown();
  }
}

/** A merged view in abstract terms: it holds no private xattrs, so this drops ino, nlink and dev. */
/** A view in abstract terms, without times: both sides are real mounts, made at different moments. */
export const abstractView = (s: Snapshot) => withoutTimes(NATIVE.decode(s));

/**
 * One case: null if the reader shows what the writer showed, 'skip' if the two already
 * differ on the initial stack (a difference in behaviour, which `compare` reports; this
 * property is about what the writer writes).
 */
export async function crossCase(o: Pick<CrossOptions, 'writer' | 'reader'>, stack: StackSpec, steps: Op[]): Promise<CrossFailure | null | 'skip'> {
  const initial = await mountedView(o.reader, stack);
  const outcomes: string[] = [];
  const written = await mountedView(o.writer, stack, steps, outcomes);
  if (diffSnapshots('merged', abstractView(written.before), abstractView(initial.merged), new InodeMap(), new Set()).length) return 'skip';
  const read = await mountedView(o.reader, { lowers: stack.lowers, upper: layerOfSnapshot(written.upper) });
  const differences = diffSnapshots('merged', abstractView(written.merged), abstractView(read.merged), new InodeMap(), new Set());
  if (differences.length === 0) return null;
  const writerCodec: LayerCodec = o.writer.codec ?? NATIVE;
  const readerCodec: LayerCodec = o.reader.codec ?? NATIVE;
  const formatDifferences = diffSnapshots('upper', writerCodec.decode(written.upper), readerCodec.decode(written.upper), new InodeMap(), new Set());
  return { stack, steps, outcomes, differences, formatDifferences };
}

export async function runCrossUpper(o: CrossOptions): Promise<CrossResult> {
  let failure: CrossFailure | null = null;
  let cases = 0;
  let skipped = 0;
  const shape = { maxLowers: 2, maxEntriesPerLayer: 8, minLowers: 1, upper: true };
  // Steps only of the families both implementations can run (Driver.cannot).
  const can = (f: StepFamily) => !o.writer.cannot?.[f] && !o.reader.cannot?.[f];
  const families = { callers: can('callers'), chown: can('chown'), utimes: can('utimes'), whiteoutDevices: can('whiteoutDevices') };
  const property = fc.asyncProperty(layerStack(shape), fc.array(opArbitrary(0, 1, true, true, families), { maxLength: o.steps }), async (stack, abstractOps) => {
    cases++;
    const candidates = candidatePaths(stack);
    // Not lsetxattr: a symlink's xattrs are not carried over (above).
    const steps = resolveOps(abstractOps, candidates).filter((op) => op.op !== 'rotate' && op.op !== 'remount' && op.op !== 'lsetxattr');
    const f = await crossCase(o, stack, steps);
    if (f === 'skip') {
      if (!failure) skipped++;
      return true;
    }
    if (f) failure = f;
    return f === null;
  });
  const r = await fc.check(property, { numRuns: o.runs, seed: o.seed });
  return { cases, skipped, failure: r.failed ? failure : null, seed: o.seed, path: r.counterexamplePath ?? undefined };
}

export function formatCrossFailure(f: CrossFailure, o: { writer: string; reader: string; seed: number | 'replay'; path?: string }): string {
  return [
    `CROSS-IMPLEMENTATION DIVERGENCE: upper written by ${o.writer}, mounted by ${o.reader}  seed=${o.seed} path=${JSON.stringify(o.path ?? '')}`,
    'layers:', ...formatStack(f.stack),
    `steps (through ${o.writer}):`, ...(f.steps.length ? f.steps.map((op, i) => `  ${String(i + 1).padStart(2)}. ${formatOp(op).padEnd(44)} ${f.outcomes[i]}`) : ['  (none)']),
    `merged view under ${o.reader} (expected = as ${o.writer} showed it):`,
    ...f.differences.map((d) => '  ' + formatDifference(d)),
    `the formats: ${o.writer}'s upper as ${o.writer} reads it (expected) and as ${o.reader} reads it (actual):`,
    ...(f.formatDifferences.length ? f.formatDifferences.map((d) => '  ' + formatDifference(d)) : ['  (read alike: the difference is in behaviour, not format)']),
  ].join('\n');
}
