// The suite on one kernel, reached through a Sys: every profile that kernel can hold, each
// with the model-based property, then the mount-time and mount-sequence properties.
// `ovlcheck run` prints it for the running kernel; `ovlcheck matrix` collects it per kernel.

import { NotModelled, type Profile } from '../model/index.js';
import { KernelDriver } from '../harness/drivers/kernel.js';
import { probeLayerFs, type LayerFsFacts } from '../harness/probe.js';
import { kernelOf, type Sys } from '../harness/sys.js';
import { formatOp } from './commands.js';
import { runConformance, type Progress } from './conformance.js';
import { formatMountFailure, formatSequenceFailure, runMountSequences, runMountValidation } from './mountValidation.js';
import { MUTATIONS } from './mutations.js';
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
  /** For the random cases of all profiles together. */
  timeBudgetMs?: number;
  rotate: number;
  /** A mutation of the model (properties/mutations.ts): the mount properties are left out. */
  mutate?: string;
  profiles: Profile[];
  /** Mount sequences to try: default a third of runs. */
  sequences?: number;
  onCase?: (profile: string, p: Progress) => void;
  /** Each result as soon as it is known. */
  onResult?: (r: ProfileResult | PropertyResult) => void;
  /** A guest that hung or went away is booted anew through this, and the run goes on with the next profile. */
  reopen?: () => Promise<Sys>;
}

export interface ProfileResult {
  kind: 'profile';
  profile: Profile;
  /**
   * skipped: this kernel or its layer filesystem cannot hold the profile (why says so); hang:
   * the guest stopped answering during a case; gone: the guest went away (a panic).
   */
  status: 'pass' | 'fail' | 'skipped' | 'not-modelled' | 'crash' | 'hang' | 'gone';
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
}

export interface PropertyResult {
  kind: 'property';
  name: 'mount-time validation' | 'mount sequences';
  status: 'pass' | 'fail';
  /** One line: how many tries, which outcomes. */
  summary: string;
  /** The minimal failing request or sequence. */
  failureText?: string;
}

export interface SuiteResult {
  kernel: string;
  where: string;
  layerFs: LayerFsFacts;
  profiles: ProfileResult[];
  properties: PropertyResult[];
}

export async function runSuite(first: Sys, o: SuiteOptions): Promise<SuiteResult> {
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
  const runnable: Profile[] = [];
  for (const p of o.profiles) {
    const { why } = profileRefusal(sys, p, layerFs);
    if (why) result.profiles.push(emit({ kind: 'profile', profile: p, status: 'skipped', why, ...empty }));
    else runnable.push(p);
  }
  let driver = new KernelDriver(sys);
  try {
    for (const profile of runnable) {
      const s = await runConformance({
        runs: o.runs, steps: o.steps, maxLowers: o.maxLowers, maxEntriesPerLayer: o.entries, seed: o.seed, path: o.path,
        timeBudgetMs: o.timeBudgetMs ? o.timeBudgetMs / runnable.length : undefined, profile, kernel, kernelRelease, driver,
        onCase: (p) => o.onCase?.(profile.name, p), modelStep: o.mutate ? MUTATIONS[o.mutate].step : undefined,
        rotateWeight: o.rotate, userXattrs: layerFs.userXattrs,
      });
      const base = {
        kind: 'profile' as const, profile, cases: s.cases, steps: s.steps, elapsedMs: s.elapsedMs, deepest: s.deepest,
        interrupted: s.interrupted, counterexamplePath: s.counterexamplePath,
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
  if (o.mutate) return result;
  const m = runMountValidation(sys, o.runs, o.seed);
  const tally = Object.entries(m.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ');
  result.properties.push(emit({
    kind: 'property', name: 'mount-time validation', status: m.failure ? 'fail' : 'pass',
    summary: `${m.requests} requests (${tally}), ${m.failure ? 1 : 0} divergences; seed ${o.seed}`,
    ...(m.failure ? { failureText: formatMountFailure(m.failure, m.seed, m.path) } : {}),
  }));
  const q = runMountSequences(sys, o.sequences ?? Math.max(1, Math.round(o.runs / 3)), o.seed);
  const seen = Object.entries(q.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ');
  result.properties.push(emit({
    kind: 'property', name: 'mount sequences', status: q.failure ? 'fail' : 'pass',
    summary: `${q.sequences} sequences (${seen}), ${q.failure ? 1 : 0} divergences; seed ${o.seed}`,
    ...(q.failure ? { failureText: formatSequenceFailure(q.failure, q.seed, q.path) } : {}),
  }));
  return result;
}
