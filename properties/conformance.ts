// The model-based property: random stacks, random steps, every step compared,
// then a final remount compared; fast-check shrinks a divergence to a minimal case.

import fc from 'fast-check';
import type { KernelVersion, Op, Profile, StackSpec } from '../model/index.js';
import type { Driver } from '../harness/driver.js';
import { aclPlanArb, dataOnlyStack, layerStack, withAcls } from './arb/layerStack.js';
import { candidatePaths, commandArbitrary } from './commands.js';
import { minimizeFailure } from './minimize.js';
import type { StepFn } from './mutations.js';
import type { Failure } from './report.js';
import { Divergence, KnownDivergence, Session } from './session.js';
import type { Tolerance } from './signature.js';
import { harmRank, type HarmClass } from './harm.js';

export interface RunOptions {
  runs: number;
  steps: number;
  maxLowers: number;
  maxEntriesPerLayer: number;
  seed: number;
  path?: string;
  timeBudgetMs?: number;
  profile: Profile;
  kernel: KernelVersion;
  kernelRelease: string;
  driver: Driver;
  onCase?: (p: Progress) => void;
  /** Weight of the rotate step among the others (about 40 in all); default 1. */
  rotateWeight?: number;
  /** A deliberately broken model step (see mutations.ts). */
  modelStep?: StepFn;
  /** Another implementation as the reference instead of the model (compare --against kernel). */
  reference?: Driver;
  /** The kernel driver, to mount the implementation's layers at the end of each case (Session). */
  kernelReader?: Driver;
  /** false: the layers' filesystem has no user.* xattrs (tmpfs before 6.6): ordinary xattrs are trusted.* (S20.1). */
  userXattrs?: boolean;
  /** false: the layers' filesystem refuses trusted.* xattrs (rootless mode): none in layers or steps. */
  trustedXattrs?: boolean;
  /** Divergences already known: left out of the comparison (see Session). */
  known?: Tolerance;
  /** Collects the known divergences that cases showed (compare reports which expectations held). */
  seen?: Set<string>;
  /**
   * How long fast-check may shrink a failure. Past it, the remaining candidates pass without
   * running, so it ends with the smallest failure so far: a hung FUSE daemon costs a whole
   * step deadline per candidate. Default 120 s; Infinity also leaves minimizing after it unbounded.
   */
  shrinkBudgetMs?: number;
  /** How many smaller cases fast-check may try, a count (default: no limit); then minimize.ts goes on from the smallest. */
  maxShrinks?: number;
  /** Checked before each case: true ends the run as a time budget does (a signal, compare's stop). */
  stop?: () => boolean;
  /** The first failure, before it is shrunk: a report written now holds it even if the run is killed while shrinking. */
  onFailure?: (f: Failure) => void;
  /** Run only this worker's share of the cases (--jobs): see CaseSlice. */
  slice?: CaseSlice;
}

/**
 * One worker's share of a property's cases (ovlcheck run --jobs N). Every worker draws every
 * case from the one seed, in the same order, and runs case k only if k % count === index, so
 * the workers together run exactly the cases of a run without --jobs. The run's failure is the
 * one with the lowest case index, which is the one a single worker would have met first:
 * a worker need not run cases past a lower failure another worker has found (bound).
 */
export interface CaseSlice {
  index: number;
  count: number;
  /** The lowest failing case index another worker has found (Infinity: none yet). */
  bound?: () => number;
  /** This worker's first failing case, before it is shrunk. */
  onFound?: (caseIndex: number) => void;
}

export interface Progress {
  cases: number;
  /** Cases that ended early at a known divergence (compare). */
  knownStops: number;
  /** Tolerated outcomes that cases went on past (compare; Session.followActual). */
  continued: number;
  /** Cases generated (cases counts the shrinker's runs too). */
  generated: number;
  steps: number;
  shrinking: boolean;
  elapsedMs: number;
  /** The most lower layers a case reached (rotation deepens stacks). */
  deepest: number;
}

export interface RunSummary extends Progress {
  failure: Failure | null;
  /** A harness crash (not a divergence): a bug in ovlcheck, reported with its stack. */
  crash: Error | null;
  /** For a crash: the (shrunk) case that caused it. */
  crashCase?: { stack: StackSpec; steps: Op[] };
  interrupted: boolean;
  counterexamplePath?: string;
  /** Which generated case (from 0, counting every worker's) failed or crashed first. */
  failedCase?: number;
}

export async function runConformance(o: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const progress: Progress = { cases: 0, knownStops: 0, continued: 0, generated: 0, steps: 0, shrinking: false, elapsedMs: 0, deepest: 0 };
  let failure: Failure | null = null;
  let crash: Error | null = null;
  let crashCase: RunSummary['crashCase'];
  const noUpper = o.profile.readonly === 'no-upper';
  const rotate = noUpper ? 0 : o.rotateWeight ?? 1;
  const userXattrs = o.userXattrs ?? true;
  const cannot = o.driver.cannot ?? {};
  const families = {
    callers: !cannot.callers, chown: !cannot.chown, utimes: !cannot.utimes, whiteoutDevices: !cannot.whiteoutDevices,
    // Dir streams and remounts with other options only where every side of the run can hold them.
    dirStreams: [o.driver, o.reference].every((d) => !d?.cannotRun?.('readdir')),
    // Not without file handles (rootless mode): the kernel drops index, nfs_export and xino=auto silently there.
    optionRemounts: o.driver.remountOptions === true && (o.reference?.remountOptions ?? true) && !o.profile.noFileHandles,
    // Steps on open fds where the driver (and the reference) can run them (Driver.observed).
    fds: typeof o.driver.observed === 'function' && (!o.reference || typeof o.reference.observed === 'function'),
    trustedXattrs: o.trustedXattrs ?? true,
  };
  const commands = fc.commands([commandArbitrary({ rotate, userXattrs, families })], { maxCommands: o.steps, size: 'max' });
  const shape = { maxLowers: Math.max(o.maxLowers, noUpper ? 2 : 1), maxEntriesPerLayer: o.maxEntriesPerLayer, minLowers: noUpper ? 2 : 1, upper: !noUpper, userXattrs, nested: o.profile.nested === true, mtimes: families.utimes, trustedXattrs: families.trustedXattrs };
  const stacks = o.profile.dataOnly ? dataOnlyStack(shape) : layerStack(shape);
  // Drawn last, so that ACLs leave the stacks and steps of every seed as they were.
  const aclPlans = families.callers ? aclPlanArb : fc.constant([]);

  let shrinkingSince = 0;
  /** The time budget bounds shrinking too, so that a run ends near it (a CI job's size). */
  const deadline = o.timeBudgetMs ? started + o.timeBudgetMs : Infinity;
  /** The class of the failure being shrunk (properties/harm.ts). */
  let firstHarm: HarmClass = 'data';
  /** An error that leaves nothing to run the next case on (a hung or dead guest): no shrinking. */
  let fatal = false;
  /** Cases fast-check has generated, every worker's (--jobs): the index of the next one. */
  let drawn = 0;
  let failedCase: number | undefined;
  /** Another worker found an earlier failing case: this one's failure will not be reported, so it need not be shrunk. */
  const outranked = () => failedCase !== undefined && (o.slice?.bound?.() ?? Infinity) < failedCase;
  // fast-check's time limit stops waiting for a case, not the case: it runs on (its session
  // closing) while fc.check returns, and nothing else may use the driver until it is done.
  let running: Promise<unknown> = Promise.resolve();
  const tracked = <A extends unknown[]>(run: (...args: A) => Promise<void>) => (...args: A): Promise<void> => {
    const p = run(...args);
    running = p.catch(() => undefined);
    return p;
  };
  /** The run was ended from here for a reason a time budget does not explain (see endRun). */
  let endedQuietly = false;
  /**
   * Ends fast-check's run at once, keeping any failure found (shrinking stops at the smallest
   * so far). Returning instead would let fast-check draw (or shrink) every remaining case:
   * up to all --runs of them, synchronously, deaf to signals. 'as interrupted' says so in
   * the result, as a time budget's end does.
   */
  const endRun = (how: 'quietly' | 'as interrupted'): never => {
    if (how === 'quietly') endedQuietly = true;
    throw new fc.PreconditionFailure(true);
  };
  const property = fc.asyncProperty(stacks, commands, aclPlans, tracked(async (bare, cmds, acls) => {
    const caseIndex = progress.shrinking ? failedCase : drawn++;
    if (o.slice && !progress.shrinking && caseIndex! > (o.slice.bound?.() ?? Infinity)) endRun('quietly'); // past a failure another worker found
    if (o.slice && !progress.shrinking && caseIndex! % o.slice.count !== o.slice.index) {
      // Another worker's case. Only a macrotask lets a signal's handler run: without it, a
      // worker whose own cases all ended stays deaf to signals as long as fast-check draws.
      await new Promise((resolve) => setImmediate(resolve));
      return;
    }
    const stack = withAcls(bare, acls);
    const shrinkOver = progress.shrinking && (Date.now() - shrinkingSince > (o.shrinkBudgetMs ?? 120_000) || Date.now() > deadline || outranked() ||
      progress.cases - progress.generated >= (o.maxShrinks ?? Infinity));
    if (o.stop?.()) endRun('as interrupted');
    if (fatal || shrinkOver) endRun('quietly');
    progress.cases++;
    if (!progress.shrinking) progress.generated++;
    const session = new Session(o.driver, o.profile, o.kernel, { modelStep: o.modelStep, reference: o.reference, known: o.known, kernelReader: o.kernelReader });
    try {
      await session.start(stack);
      await fc.asyncModelRun(() => ({ model: {}, real: { session, candidates: candidatePaths(stack) } }), cmds);
      await session.finish();
    } catch (e) {
      if (e instanceof KnownDivergence) {
        o.seen?.add(e.signature);
        if (!progress.shrinking) progress.knownStops++;
        return; // the rest of this case would only compare two states known to differ
      }
      if (e instanceof Divergence && progress.shrinking && harmRank(e.info.harm ?? 'data') > harmRank(firstHarm)) {
        return; // a lesser divergence than the one being shrunk: shrinking must not trade it away
      }
      if (e instanceof Divergence) {
        if (!progress.shrinking) firstHarm = e.info.harm ?? 'data';
        failure = {
          driver: o.driver.name, ...(o.driver.version ? { implementation: `${o.driver.name} ${o.driver.version}` } : {}), against: session.against, kernel: o.kernelRelease, profile: o.profile, options: session.facts?.options ?? '', moduleDefaults: session.facts?.moduleDefaults ?? {},
          stack, history: [...session.history], info: e.info,
        };
      } else {
        crash = e as Error;
        crashCase = { stack, steps: session.history.map((h) => h.op) };
        fatal = (e as { fatal?: boolean }).fatal === true;
      }
      if (!progress.shrinking && failure) o.onFailure?.(failure);
      if (!progress.shrinking) {
        shrinkingSince = Date.now();
        failedCase = caseIndex;
        o.slice?.onFound?.(caseIndex!);
      }
      progress.shrinking = true;
      throw e;
    } finally {
      for (const k of session.knownSeen) o.seen?.add(k);
      progress.steps += session.history.length;
      if (!progress.shrinking) progress.continued += session.continued;
      if (session.history.length || !progress.shrinking) progress.deepest = Math.max(progress.deepest, session.state?.lowers.length ?? 0);
      if (!fatal) await session.close();
      progress.elapsedMs = Date.now() - started;
      o.onCase?.(progress);
      // Every step is a synchronous syscall: let the event loop run (signals, Ctrl-C).
      await new Promise((resolve) => setImmediate(resolve));
    }
  }));

  const result = await fc.check(property, {
    numRuns: o.runs,
    seed: o.seed,
    ...(o.path ? { path: o.path } : {}),
    ...(o.timeBudgetMs ? { interruptAfterTimeLimit: o.timeBudgetMs, markInterruptAsFailure: false } : {}),
  });
  await running;
  progress.elapsedMs = Date.now() - started;
  let f = failure as Failure | null;
  // fast-check counts a run interrupted before any case passed as failed (numSuccesses 0):
  // when a time budget ends that way, with nothing found, it is an interruption.
  const failed = result.failed && !(result.interrupted && !f && !crash);
  if (f && failed && !outranked()) {
    // As long as shrinking may take, up to 20 s (unbounded with it: tests that must not depend on the machine's speed).
    const minimizeMs = o.shrinkBudgetMs === Infinity ? Infinity : Math.max(2_000, Math.min(20_000, deadline - Date.now()));
    f = await minimizeFailure(f, o.driver, o.kernel, { modelStep: o.modelStep, reference: o.reference, known: o.known, kernelReader: o.kernelReader }, minimizeMs);
    f.seed = o.seed;
    f.path = result.counterexamplePath ?? undefined;
  }
  progress.elapsedMs = Date.now() - started;
  return {
    ...progress,
    failure: failed ? f : null,
    crash: failed && !f ? (crash ?? new Error(String(result.errorInstance))) : null,
    crashCase,
    interrupted: result.interrupted && !endedQuietly,
    counterexamplePath: result.counterexamplePath ?? undefined,
    ...(failed ? { failedCase } : {}),
  };
}
