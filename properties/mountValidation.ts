// The mount-time validation property: random mount requests against a fixed world of
// directories; the errno of mount(2) must be the model's (S1.8-S1.15, S15). Shrinks to a
// minimal request. And the mount-sequence property: mounts that depend on earlier ones.
// Both are asynchronous: between runs a signal is handled, and a deadline ends them (also
// while shrinking); an interrupted property is not a failure.

import fc from 'fast-check';
import { predictMount, requestOptions, type MountRequest } from '../model/mountCheck.js';
import type { KernelVersion, Outcome } from '../model/types.js';
import { buildSequenceWorld, buildWorld, closeSequenceWorld, closeWorld, layerFootprint, mountAt, SEQUENCE_DIRS, tryRequest, type MountWorld } from '../harness/mountWorld.js';
import { emptySequence, footprint, footprintRule, MOUNT_POINTS, seqOptions, stepSequence, type SeqAction, type SeqMount, type StepSequence } from '../model/mountSequence.js';
import { hasFeature } from '../model/versions.js';
import { kernelOf, type Sys } from '../harness/sys.js';
import { mountRequest } from './arb/mountRequest.js';

export interface MountFailure {
  request: MountRequest;
  options: string;
  expected: Outcome;
  rule: string;
  actual: Outcome;
}

interface Budgeted {
  seed: number;
  path?: string;
  /** uname -r of the kernel it ran on. */
  kernel: string;
  /** The deadline ended it (while trying or while shrinking); not a failure. */
  interrupted: boolean;
}

export interface MountSummary extends Budgeted {
  requests: number;
  outcomes: Record<string, number>;
  failure: MountFailure | null;
}

export interface MountRunOptions {
  /** Date.now() in ms at which to stop, also while shrinking. */
  deadline?: number;
  /** The model under test (a broken one shows the property has teeth). */
  predict?: typeof predictMount;
}

/** One request against the world: the kernel's outcome, and the divergence if the model's differs. */
export function checkRequest(sys: Sys, w: MountWorld, r: MountRequest, kernel: KernelVersion, predict = predictMount): { actual: Outcome; failure: MountFailure | null } {
  const want = predict(w.world, r, kernel);
  const actual = tryRequest(sys, w, r);
  if (actual === want.outcome) return { actual, failure: null };
  return { actual, failure: { request: r, options: requestOptions(r), expected: want.outcome, rule: want.rule, actual } };
}

export async function runMountValidation(sys: Sys, runs: number, seed: number, o: MountRunOptions = {}): Promise<MountSummary> {
  const kernel = kernelOf(sys);
  const outcomes: Record<string, number> = {};
  let requests = 0;
  let failure: MountFailure | null = null;
  if (expired(o.deadline)) return { requests, outcomes, failure, seed, kernel: sys.release(), interrupted: true };
  const w = buildWorld(sys);
  try {
    const r = await checkUntil(mountRequest, (req) => {
      requests++;
      const c = checkRequest(sys, w, req, kernel, o.predict);
      outcomes[c.actual] = (outcomes[c.actual] ?? 0) + 1;
      if (c.failure) failure = c.failure; // the last failing run is the counterexample
      return c.failure === null;
    }, runs, seed, o.deadline);
    return { requests, outcomes, failure: r.failed ? failure : null, seed, path: r.path, kernel: sys.release(), interrupted: r.interrupted };
  } finally {
    closeWorld(sys, w);
  }
}

export function formatMountFailure(f: MountFailure, seed: number | string, path?: string): string {
  const opts = f.options.length > 300 ? `${f.options.slice(0, 300)}... (${f.request.lowers.length} lower layers)` : f.options;
  return [
    `DIVERGENCE kernel vs model: mount-time validation  seed=${seed} path=${JSON.stringify(path ?? '')}`,
    `world: dirs l0 l1 l2 l3 l0/sub u u/sub w w2 "c:1" m0..m500, file "file", another tmpfs at "other" (other/u, other/w); paths relative to it`,
    `mount -t overlay overlay -o '${opts}' mnt`,
    `  expected: ${f.expected} [${f.rule}]  actual: ${f.actual}`,
  ].join('\n');
}

/** One line that names the kind of divergence, the same wherever it is found again. */
export function mountSignature(f: MountFailure): string {
  return `mount-request: expected ${f.expected} [${f.rule}] actual ${f.actual}`;
}

// ------------------------------------------------------------------ mount sequences

const pick = <T>(...xs: [T, number][]) => fc.oneof(...xs.map(([x, weight]) => ({ weight, arbitrary: fc.constant(x) })));

/**
 * Mostly the plain dirs; now and then one layer inside another (u0/d, u1/w), a volatile or a
 * userxattr mount, and uuid=off (uuid=null too from 6.6, where the option exists).
 */
function seqAction(kernel: KernelVersion): fc.Arbitrary<SeqAction> {
  const mount = fc.record({
    do: fc.constant('mount' as const),
    lower: pick<string>(['l0', 3], ['l1', 3], ['u0', 2], ['u1', 2], ['u0/d', 1]),
    upper: pick<string>(['u0', 4], ['u1', 4], ['u0/d', 1]),
    work: pick<string>(['w0', 4], ['w1', 4], ['u1/w', 1]),
    index: fc.boolean(),
    volatile: pick<boolean>([false, 7], [true, 1]),
    userxattr: pick<boolean>([false, 7], [true, 1]),
    uuid: pick<SeqMount['uuid']>([undefined, 8], ['off', 1], ...(hasFeature(kernel, 'uuidAutoNull') ? [['null', 1] as [SeqMount['uuid'], number]] : [])),
  });
  return fc.oneof(
    { weight: 3, arbitrary: mount },
    { weight: 1, arbitrary: fc.record({ do: fc.constant('umount' as const), pick: fc.nat(2) }) },
  );
}

/** One action that did something, as the model predicted and the kernel did it. */
export interface SeqTraceStep {
  action: SeqAction;
  /** The mount point it acted on. */
  at: number;
  expected: Outcome;
  rule: string;
  actual: Outcome;
  /** After a mount: what the layer dirs hold, on the kernel and in the model (layerFootprint, footprint). */
  leaves?: string[];
  modelLeaves?: string[];
}

export interface SequenceFailure {
  actions: SeqAction[];
  /** What ran, up to and including the divergent step. */
  trace: SeqTraceStep[];
  /** What each action did up to the divergence: "m1: lowerdir=...  ok". */
  done: string[];
  /** What differs: the mount's errno, or what the layer dirs hold after it. */
  field: 'outcome' | 'layers';
  expected: string;
  rule: string;
  actual: string;
  /** field layers: what the model has that the kernel's layers lack, and the other way round. */
  missing?: string[];
  unexpected?: string[];
}

export interface SequenceSummary extends Budgeted {
  sequences: number;
  outcomes: Record<string, number>;
  failure: SequenceFailure | null;
}

export interface SequenceRunOptions {
  deadline?: number;
  /** The model under test (a broken one shows the property has teeth). */
  step?: StepSequence;
}

/**
 * One sequence on a fresh world, synchronously: every mount's errno and, after it, what the
 * layer dirs hold must be the model's. Stops at the first divergence. An action that does
 * nothing (no free mount point, nothing to unmount) is skipped, after telling idle.
 */
export function runSequence(
  sys: Sys, actions: SeqAction[], kernel: KernelVersion, step: StepSequence = stepSequence, idle?: (i: number, a: SeqAction) => void,
): { trace: SeqTraceStep[]; failure: SequenceFailure | null } {
  const root = buildSequenceWorld(sys, MOUNT_POINTS);
  let st = emptySequence();
  const trace: SeqTraceStep[] = [];
  const done: string[] = [];
  const diverge = (f: Omit<SequenceFailure, 'actions' | 'trace' | 'done'>) => ({ trace, failure: { actions, trace, done, ...f } });
  try {
    for (const [i, a] of actions.entries()) {
      const want = step(st, a, kernel);
      if (want.at === null) {
        idle?.(i, a); // no free mount point, or nothing (there) to unmount
        continue;
      }
      if (a.do === 'umount') {
        sys.sandbox.unmount(`${root}/m${want.at}`);
        done.push(`umount m${want.at}`);
        trace.push({ action: a, at: want.at, expected: 'ok', rule: want.rule, actual: 'ok' });
        st = want.state;
        continue;
      }
      const got = mountAt(sys, root, want.at, seqOptions(a));
      if (got === 'ok' && want.outcome !== 'ok') sys.sandbox.unmount(`${root}/m${want.at}`);
      const leaves = layerFootprint(sys, root);
      const modelLeaves = footprint(want.state);
      done.push(`mount m${want.at}: ${seqOptions(a)}  ${got}`);
      trace.push({ action: a, at: want.at, expected: want.outcome, rule: want.rule, actual: got, leaves, modelLeaves });
      if (got !== want.outcome) return diverge({ field: 'outcome', expected: want.outcome, rule: want.rule, actual: got });
      st = want.state;
      const missing = modelLeaves.filter((x) => !leaves.includes(x));
      const unexpected = leaves.filter((x) => !modelLeaves.includes(x));
      if (missing.length || unexpected.length) {
        const rule = [...new Set([...missing, ...unexpected].map(footprintRule))].join(' ');
        return diverge({ field: 'layers', expected: modelLeaves.join(' '), rule, actual: leaves.join(' '), missing, unexpected });
      }
    }
    return { trace, failure: null };
  } finally {
    closeSequenceWorld(sys, root, st.live.keys());
  }
}

/**
 * Mounts that depend on earlier ones (S12.1, S12.2, S14.3, S15.2): random sequences of mounts
 * and unmounts over two lowers, two uppers (one with a dir inside) and two workdirs, each on
 * a fresh tmpfs, with index=on, volatile, userxattr and uuid=off now and then. Shrinks to the
 * shortest sequence.
 */
export async function runMountSequences(sys: Sys, runs: number, seed: number, o: SequenceRunOptions = {}): Promise<SequenceSummary> {
  const kernel = kernelOf(sys);
  const outcomes: Record<string, number> = {};
  let sequences = 0;
  let failure: SequenceFailure | null = null;
  const r = await checkUntil(fc.array(seqAction(kernel), { minLength: 1, maxLength: 6 }), (actions) => {
    sequences++;
    const s = runSequence(sys, actions, kernel, o.step);
    for (const t of s.trace) if (t.action.do === 'mount') outcomes[t.actual] = (outcomes[t.actual] ?? 0) + 1;
    if (s.failure) failure = s.failure;
    return s.failure === null;
  }, runs, seed, o.deadline);
  return { sequences, outcomes, failure: r.failed ? failure : null, seed, path: r.path, kernel: sys.release(), interrupted: r.interrupted };
}

export function formatSequenceFailure(f: SequenceFailure, seed: number | string, path?: string): string {
  const tail = f.field === 'outcome'
    ? [`  expected: ${f.expected} [${f.rule}]  actual: ${f.actual}`]
    : [
      `  layers after step ${f.done.length} [${f.rule}]:`,
      `    missing (the model's, not on the kernel's layers): ${f.missing?.join(' ') || '-'}`,
      `    unexpected (on the kernel's layers, not the model's): ${f.unexpected?.join(' ') || '-'}`,
    ];
  return [
    `DIVERGENCE kernel vs model: mount sequence  seed=${seed} path=${JSON.stringify(path ?? '')}`,
    `world: empty dirs ${SEQUENCE_DIRS.join(' ')} on a fresh tmpfs, mount points m0..m${MOUNT_POINTS - 1}; each mount stays until unmounted`,
    ...f.done.map((d, i) => `  ${i + 1}. ${d}`),
    ...tail,
  ].join('\n');
}

/** One line naming the kind of divergence; dir names by role (U upper, W workdir, L lower). */
export function sequenceSignature(f: SequenceFailure): string {
  const role = (s: string) => s.replace(/\bu0\/d\b/g, 'D').replace(/\bu1\/w\b/g, 'V').replace(/\b[luw]\d\b/g, (d) => d[0].toUpperCase());
  if (f.field === 'outcome') return `mount-sequence: expected ${f.expected} [${f.rule}] actual ${f.actual}`;
  return role(`mount-sequence: layers [${f.rule}] missing ${f.missing?.join(',') || '-'} unexpected ${f.unexpected?.join(',') || '-'}`);
}

// ------------------------------------------------------------------ running a property to a deadline

const expired = (deadline?: number) => deadline !== undefined && Date.now() >= deadline;
/** fast-check counts runs in a double, but a run count past 2^31 cannot end anyway. */
const MAX_RUNS = 2 ** 31 - 1;

/**
 * fc.check of a synchronous predicate, one macrotask per run so that a signal is handled
 * between runs. At the deadline the run in progress is not started: fast-check is told to
 * stop (PreconditionFailure with interruptExecution), trying and shrinking alike; what it had
 * shrunk to by then is the failure. A predicate that throws is a bug of ovlcheck: rethrown.
 */
async function checkUntil<T>(arb: fc.Arbitrary<T>, body: (v: T) => boolean, runs: number, seed: number, deadline?: number): Promise<{ failed: boolean; interrupted: boolean; path?: string }> {
  let interrupted = false;
  let crash: unknown = null;
  const result = await fc.check(fc.asyncProperty(arb, async (v) => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (expired(deadline)) {
      interrupted = true;
      throw new fc.PreconditionFailure(true);
    }
    try {
      const ok = body(v);
      if (!ok) crash = null;
      return ok;
    } catch (e) {
      crash = e; // the counterexample is the last run that failed: this one, until another does
      throw e;
    }
  }), { numRuns: Math.max(0, Math.min(Math.floor(runs), MAX_RUNS)), seed });
  const failed = result.failed && result.counterexample !== null; // interrupted before any run passed is not a failure
  if (failed && crash !== null) throw crash;
  return { failed, interrupted: interrupted || result.interrupted, path: result.counterexamplePath ?? undefined };
}
