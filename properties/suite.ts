// The suite on one kernel, reached through a Sys: every profile that kernel can hold, each
// with the model-based property, then the mount-time and mount-sequence properties.
// `ovlcheck run` prints it for the running kernel; `ovlcheck matrix` collects it per kernel.

import { NotModelled, type Profile } from '../model/index.js';
import { coverageContext } from '../model/coverage.js';
import { KernelDriver } from '../harness/drivers/kernel.js';
import { probeLayerFs, type LayerFsFacts } from '../harness/probe.js';
import { kernelOf, type Sys } from '../harness/sys.js';
import { formatOp } from './commands.js';
import { runConformance, type Progress } from './conformance.js';
import { mountFailureCase, sequenceFailureCase } from './mountCase.js';
import { formatMountFailure, formatSequenceFailure, mountSignature, runMountSequences, runMountValidation, sequenceSignature } from './mountValidation.js';
import { MUTATIONS } from './mutations.js';
import { casesPerSet } from './optionSets.js';
import { profileRefusal } from './probeReport.js';
import { formatStack, type Failure } from './report.js';
import { GuestGone, GuestTimeout } from '../harness/guest/channel.js';

export interface SuiteOptions {
  runs: number;
  steps: number;
  maxLowers: number;
  entries: number;
  seed: number;
  path?: string;
  /**
   * Date.now() in ms at which the whole suite stops: the profiles share the first 90% of the
   * time left (each taking an equal part of what remains when it starts), the mount
   * properties the rest, and stop at the deadline, shrinking included. Without it every
   * property runs its full count.
   */
  deadline?: number;
  /** The same as a deadline this many ms after the suite starts (deadline wins if both are given). */
  timeBudgetMs?: number;
  rotate: number;
  /** A mutation of the model (properties/mutations.ts): the mount properties are left out. */
  mutate?: string;
  profiles: Profile[];
  /**
   * Option sets (properties/optionSets.ts), after the profiles: `cases` spread evenly over
   * them. A set the model accepts and the kernel refuses is a divergence (status 'refused').
   */
  optionSets?: { profiles: Profile[]; cases: number };
  /** Mount sequences to try: default a third of runs. */
  sequences?: number;
  onCase?: (profile: string, p: Progress) => void;
  /** Each result as soon as it is known. */
  onResult?: (r: ProfileResult | PropertyResult) => void;
  /** A guest that hung or went away is booted anew through this, and the run goes on with the next profile. */
  reopen?: () => Promise<Sys>;
  /**
   * Run only shard `index` (from 1) of `count`: the profiles and option sets in their order,
   * dealt round-robin, each with the run's own seed (so each runs the cases it runs unsharded);
   * the mount properties go with the last shard.
   */
  shard?: { index: number; count: number };
  /**
   * Run only this worker's share of each property's cases (--jobs; properties/workers.ts): see
   * CaseSlice in conformance.ts, here with the unit (unitKey) each call is about. The mount
   * properties go with the last worker.
   */
  slice?: { index: number; count: number; bound?: (unit: string) => number; onFound?: (unit: string, caseIndex: number) => void };
}

/** A profile or option set of the run, as workers name it to each other. */
export function unitKey(r: { profile: Profile; optionSet?: boolean }): string {
  return `${r.optionSet ? 'options' : 'profile'} ${r.profile.name}`;
}

/** Whether the k-th profile or option set (from 0) belongs to the shard. */
function inShard(k: number, shard: SuiteOptions['shard']): boolean {
  return !shard || k % shard.count === shard.index - 1;
}

export interface ProfileResult {
  kind: 'profile';
  profile: Profile;
  /**
   * skipped: this kernel or its layer filesystem cannot hold the profile (why says so); hang:
   * the guest stopped answering during a case; gone: the guest went away (a panic).
   */
  status: 'pass' | 'fail' | 'skipped' | 'refused' | 'not-modelled' | 'crash' | 'hang' | 'gone';
  /** One of the run's option sets, not a named profile. */
  optionSet?: boolean;
  why?: string;
  cases: number;
  steps: number;
  elapsedMs: number;
  deepest: number;
  interrupted: boolean;
  failure?: Failure;
  /** A crash (a bug in ovlcheck) or a rule the model does not hold: the error and the case that met it. */
  error?: string;
  errorCase?: string;
  counterexamplePath?: string;
  /** The generated case (from 0) that failed or crashed first: with --jobs, the lowest one wins. */
  failedCase?: number;
}

export interface PropertyResult {
  kind: 'property';
  name: 'mount-time validation' | 'mount sequences';
  status: 'pass' | 'fail';
  /** One line: how many tries, which outcomes. */
  summary: string;
  /** The minimal failing request or sequence. */
  failureText?: string;
  /** The failure as a mount case file (properties/mountCase.ts): a JSON object to save and replay. */
  caseFile?: unknown;
  /** The kind of divergence, in one line (as replayMountCase gives it). */
  signature?: string;
  /** The deadline ended it: how many ran is in summary. Not a failure. */
  interrupted?: boolean;
}

/** The part of the time left that the profiles share; the mount properties have the rest. */
export const PROFILES_SHARE = 0.9;

export interface SuiteResult {
  kernel: string;
  where: string;
  layerFs: LayerFsFacts;
  profiles: ProfileResult[];
  properties: PropertyResult[];
}

export async function runSuite(first: Sys, o: SuiteOptions): Promise<SuiteResult> {
  const started = Date.now();
  let sys = first;
  const kernelRelease = sys.release();
  const kernel = kernelOf(sys);
  const layerFs = probeLayerFs(sys);
  const result: SuiteResult = { kernel: kernelRelease, where: sys.where, layerFs, profiles: [], properties: [] };
  const emit = <T extends ProfileResult | PropertyResult>(r: T): T => {
    o.onResult?.(r);
    return r;
  };
  const empty = { cases: 0, steps: 0, elapsedMs: 0, deepest: 0, interrupted: false };
  const runnable: { profile: Profile; runs: number; optionSet?: boolean }[] = [];
  let unit = 0; // the position of each profile and option set, for --shard
  for (const p of o.profiles) {
    if (!inShard(unit++, o.shard)) continue;
    const { why } = profileRefusal(sys, p, layerFs);
    if (why) result.profiles.push(emit({ kind: 'profile', profile: p, status: 'skipped', why, ...empty }));
    else runnable.push({ profile: p, runs: o.runs });
  }
  const sets = o.optionSets?.profiles ?? [];
  const setRuns = casesPerSet(o.optionSets?.cases ?? 0, sets.length);
  for (const [i, p] of sets.entries()) {
    if (setRuns[i] === 0 || !inShard(unit++, o.shard)) continue;
    const r = profileRefusal(sys, p, layerFs);
    // The model accepts every set (optionSets.ts): a kernel that refuses to mount one disagrees with it.
    if (r.mounts !== '-' && r.why) result.profiles.push(emit({ kind: 'profile', profile: p, status: 'refused', why: r.why, optionSet: true, ...empty }));
    else if (r.why) result.profiles.push(emit({ kind: 'profile', profile: p, status: 'skipped', why: r.why, optionSet: true, ...empty }));
    else runnable.push({ profile: p, runs: setRuns[i], optionSet: true });
  }
  let runsLeft = runnable.reduce((n, r) => n + r.runs, 0);
  const deadline = o.deadline ?? (o.timeBudgetMs ? started + o.timeBudgetMs : undefined);
  const profilesEnd = deadline === undefined ? undefined : started + Math.max(0, deadline - started) * PROFILES_SHARE;
  let driver = new KernelDriver(sys);
  try {
    for (const { profile: asNamed, runs, optionSet } of runnable) {
      // Rootless mode: the layers give no file handles, a fact the model takes with the profile.
      const profile = layerFs.fileHandles === false ? { ...asNamed, noFileHandles: true } : asNamed;
      // A part of what is left to the profiles by their share of the cases left, at least 1 ms (0 would mean no budget).
      const share = profilesEnd === undefined ? undefined : Math.max(1, ((profilesEnd - Date.now()) * runs) / runsLeft);
      runsLeft -= runs;
      const unit = unitKey({ profile, optionSet });
      coverageContext(unit); // counted only while coverage is on (run --coverage)
      const slice = o.slice && {
        index: o.slice.index, count: o.slice.count,
        bound: o.slice.bound && (() => o.slice!.bound!(unit)), onFound: o.slice.onFound && ((k: number) => o.slice!.onFound!(unit, k)),
      };
      const s = await runConformance({
        runs, steps: o.steps, maxLowers: o.maxLowers, maxEntriesPerLayer: o.entries, seed: o.seed, path: o.path,
        timeBudgetMs: share, profile, kernel, kernelRelease, driver,
        onCase: (p) => o.onCase?.(profile.name, p), modelStep: o.mutate ? MUTATIONS[o.mutate].step : undefined,
        rotateWeight: o.rotate, userXattrs: layerFs.userXattrs, trustedXattrs: layerFs.trustedXattrs !== false, slice,
      });
      const base = {
        kind: 'profile' as const, profile, ...(optionSet ? { optionSet } : {}), cases: s.cases, steps: s.steps, elapsedMs: s.elapsedMs, deepest: s.deepest,
        interrupted: s.interrupted, counterexamplePath: s.counterexamplePath, ...(s.failedCase !== undefined ? { failedCase: s.failedCase } : {}),
      };
      if (s.crash) {
        // Say where, so the next model rule (or the bug) has its minimal case.
        const errorCase = s.crashCase
          ? ['case:', ...formatStack(s.crashCase.stack), 'steps:', ...s.crashCase.steps.map((op, i) => `  ${i + 1}. ${formatOp(op)}`)].join('\n')
          : undefined;
        const status = s.crash instanceof NotModelled ? 'not-modelled' : s.crash instanceof GuestTimeout ? 'hang' : s.crash instanceof GuestGone ? 'gone' : 'crash';
        const plain = s.crash instanceof NotModelled || status === 'hang' || status === 'gone';
        result.profiles.push(emit({ ...base, status, error: plain ? s.crash.message : (s.crash.stack ?? String(s.crash)), errorCase }));
        if ((status === 'hang' || status === 'gone') && o.reopen) {
          sys = await o.reopen();
          driver = new KernelDriver(sys);
        } else if (status === 'hang' || status === 'gone') {
          return result; // nothing more can be asked of this kernel
        }
      } else if (s.failure) {
        result.profiles.push(emit({ ...base, status: 'fail', failure: s.failure }));
      } else {
        result.profiles.push(emit({ ...base, status: 'pass' }));
      }
    }
  } finally {
    await driver.teardown().catch((e) => {
      if (!(e as { fatal?: boolean }).fatal) throw e;
    });
  }
  if (o.mutate || (o.shard && o.shard.index !== o.shard.count) || (o.slice && o.slice.index !== o.slice.count - 1)) return result;
  // Rootless mode: the mount properties mount without userxattr, which needs trusted.* xattrs (harness/probe.ts).
  if (layerFs.trustedXattrs === false) return result;
  await runMountProperties(sys, o, deadline, (r) => result.properties.push(emit(r)));
  return result;
}

/** The mount-time and mount-sequence properties; the first half of the time left to the first. */
async function runMountProperties(sys: Sys, o: SuiteOptions, deadline: number | undefined, push: (r: PropertyResult) => void): Promise<void> {
  const tally = (outcomes: Record<string, number>) => Object.entries(outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ');
  const stopped = (interrupted: boolean) => (interrupted ? ', interrupted at the deadline' : '');
  const date = () => new Date().toISOString();
  const half = deadline === undefined ? undefined : Date.now() + Math.max(0, deadline - Date.now()) / 2;
  coverageContext('mount-time validation');
  const m = await runMountValidation(sys, o.runs, o.seed, { deadline: half });
  push({
    kind: 'property', name: 'mount-time validation', status: m.failure ? 'fail' : 'pass', interrupted: m.interrupted,
    summary: `${m.requests} requests (${tally(m.outcomes)}), ${m.failure ? 1 : 0} divergences${stopped(m.interrupted)}; seed ${o.seed}`,
    ...(m.failure ? {
      failureText: formatMountFailure(m.failure, m.seed, m.path), signature: mountSignature(m.failure),
      caseFile: mountFailureCase(m.failure, { seed: m.seed, path: m.path, kernel: m.kernel, date: date() }),
    } : {}),
  });
  coverageContext('mount sequences');
  const q = await runMountSequences(sys, o.sequences ?? Math.max(1, Math.round(o.runs / 3)), o.seed, { deadline });
  push({
    kind: 'property', name: 'mount sequences', status: q.failure ? 'fail' : 'pass', interrupted: q.interrupted,
    summary: `${q.sequences} sequences (${tally(q.outcomes)}), ${q.failure ? 1 : 0} divergences${stopped(q.interrupted)}; seed ${o.seed}`,
    ...(q.failure ? {
      failureText: formatSequenceFailure(q.failure, q.seed, q.path), signature: sequenceSignature(q.failure),
      caseFile: sequenceFailureCase(q.failure, { seed: q.seed, path: q.path, kernel: q.kernel, date: date() }),
    } : {}),
  });
}
