// Run one case file against the model and a driver, checking known answers on both sides.

import { NotModelled, ParamError, profileForRemount, unsupportedBy, type KernelVersion } from '../model/index.js';
import type { KernelDriver } from '../harness/drivers/kernel.js';
import { SpecError } from '../harness/materialize.js';
import { formatFailure } from './report.js';
import type { LayerFsFacts } from '../harness/probe.js';
import { layerFsRefusal } from './probeReport.js';
import type { Driver, StepFamily } from '../harness/driver.js';
import { checkExpectation, outsideKernels, profileOf, type CaseFile, type Expectation } from './caseFile.js';
import type { Failure } from './report.js';
import { Divergence, KnownDivergence, Session, type StepRecord, type Views } from './session.js';

export interface ReplayResult {
  failure: Failure | null;
  /** Known answers that the model or the driver did not give. */
  knownAnswerErrors: string[];
}

/** Whether a case names user.* xattrs, in its layers or its steps. */
function usesUserXattrs(c: CaseFile): boolean {
  const layers = [...c.layers.lowers, c.layers.upper, ...(c.layers.data ?? [])];
  const inLayers = layers.some((l) => Object.values(l).some((e) => 'xattrs' in e && Object.keys(e.xattrs ?? {}).some((n) => n.startsWith('user.'))));
  return inLayers || c.steps.some((s) => (s.op === 'setxattr' || s.op === 'lsetxattr' || s.op === 'removexattr') && s.name.startsWith('user.'));
}

/**
 * Why a case cannot be replayed on this kernel, or null: its known answers are for other
 * versions, the kernel cannot mount its profile, or the layers' filesystem cannot hold it.
 */
export function replayRefusal(c: CaseFile, kernel: KernelVersion, layerFs: LayerFsFacts): string | null {
  const profile = profileOf(c);
  const why = outsideKernels(c, kernel) ?? unsupportedBy(profile, kernel) ?? layerFsRefusal(profile, layerFs);
  if (why) return why;
  if (!layerFs.userXattrs && usesUserXattrs(c)) return 'it uses user.* xattrs, which the layers\' tmpfs cannot hold on this kernel (before 6.6)';
  for (const step of c.steps) {
    if (step.op !== 'remount' || step.options === undefined) continue;
    try {
      profileForRemount(profile, step.options, kernel);
    } catch (e) {
      if (e instanceof ParamError) return `its remount with ${JSON.stringify(step.options)}: ${e.message}`;
      throw e;
    }
  }
  return null;
}

/** Why a driver cannot run one of the case's steps (a dir stream in a guest, Driver.cannotRun), or null. */
export function stepRefusal(c: CaseFile, driver: Driver): string | null {
  for (const s of c.steps) {
    const why = driver.cannotRun?.(s.op);
    if (why) return `${driver.name} cannot run its ${s.op} step: ${why}`;
  }
  return null;
}

/** Why the driver cannot run a step family the case uses (Driver.cannot), or null. */
export function cannotRun(c: CaseFile, driver: Driver): string | null {
  const cannot = driver.cannot ?? {};
  const uses = (f: StepFamily): boolean => {
    if (f === 'callers') return c.steps.some((s) => s.as !== undefined);
    if (f === 'chown') return c.steps.some((s) => s.op === 'chown');
    if (f === 'whiteoutDevices') return c.steps.some((s) => s.op === 'mknod' && s.kind === 'whiteout');
    const layers = [...c.layers.lowers, c.layers.upper, ...(c.layers.data ?? [])];
    return c.steps.some((s) => s.op === 'utimes') || layers.some((l) => Object.values(l).some((e) => e.mtime !== undefined));
  };
  const family = (Object.keys(cannot) as StepFamily[]).find((f) => cannot[f] && uses(f));
  return family ? `${driver.name} cannot run ${family} steps: ${cannot[family]}` : null;
}

/** The divergences a case found by `compare` was found with tolerated (see report.ts). */
export function toleratedBy(c: CaseFile): string[] {
  const known = (c.divergence as { known?: unknown } | undefined)?.known;
  return Array.isArray(known) ? known.filter((k): k is string => typeof k === 'string') : [];
}

/** Replays a case; `tolerate` leaves out known divergences, as compare did when it found the case. */
export async function replayCase(
  c: CaseFile, driver: Driver, kernel: KernelVersion, kernelRelease: string, reference?: Driver, tolerate: string[] = [], kernelReader?: Driver,
): Promise<ReplayResult> {
  const profile = profileOf(c);
  const known = new Set(tolerate);
  const session = new Session(driver, profile, kernel, { reference, kernelReader, ...(known.size ? { known } : {}) });
  const errors: string[] = [];
  // Every point's views (0: the mount, i: after step i), for inoSince.
  const points: Views[] = [];
  const check = (exp: Expectation | undefined, where: string, v: Views, outcome?: { expected: string; actual: string }, h?: StepRecord) => {
    const read = h?.result;
    errors.push(...checkExpectation(exp, outcome?.expected, v.expected, `${where} ${session.against}`, (i) => points[i]?.expected, read && { may: read.expected, before: read.before }));
    errors.push(...checkExpectation(exp, outcome?.actual, v.actual, `${where} ${driver.name}`, (i) => points[i]?.actual, read && { entries: read.actual }));
    points.push(v);
  };
  try {
    check(c.expect, 'after mount', await session.start(c.layers));
    for (const [i, step] of c.steps.entries()) {
      const { expect, ...op } = step;
      const views = await session.step(op);
      const h = session.history[i];
      check(expect, `step ${i + 1}`, views, { expected: h.expected, actual: h.actual }, h);
    }
    check(c.expectAfterRemount, 'after remount', await session.finish());
    return { failure: null, knownAnswerErrors: errors };
  } catch (e) {
    if (e instanceof KnownDivergence) return { failure: null, knownAnswerErrors: errors };
    if (!(e instanceof Divergence)) throw e;
    return {
      failure: {
        driver: driver.name, ...(driver.version ? { implementation: `${driver.name} ${driver.version}` } : {}), against: session.against, kernel: kernelRelease, profile, options: session.facts?.options ?? '', moduleDefaults: session.facts?.moduleDefaults ?? {},
        stack: c.layers, history: [...session.history], info: e.info,
      },
      knownAnswerErrors: errors,
    };
  } finally {
    await session.close();
  }
}

export interface CaseVerdict {
  /** skipped: this kernel cannot hold the case (why); error: it could not be run (why). */
  status: 'ok' | 'diverges' | 'wrong known answer' | 'skipped' | 'error';
  why?: string;
  /** What diverged and how, as printed. */
  detail?: string;
  signature?: string;
  /** The guest hung or went away during the case: nothing more can be asked of it. */
  fatal?: boolean;
}

/** A case file on the kernel a KernelDriver reaches, against the model at that kernel's version. */
export async function replayOnKernel(c: CaseFile, driver: KernelDriver, layerFs: LayerFsFacts): Promise<CaseVerdict> {
  const why = replayRefusal(c, driver.kernel, layerFs) ?? stepRefusal(c, driver) ?? cannotRun(c, driver);
  if (why) return { status: 'skipped', why };
  let r: ReplayResult;
  try {
    r = await replayCase(c, driver, driver.kernel, driver.sys.release());
  } catch (e) {
    const fatal = (e as { fatal?: boolean }).fatal === true;
    if (fatal || e instanceof SpecError || e instanceof NotModelled) return { status: 'error', why: (e as Error).message, ...(fatal ? { fatal } : {}) };
    throw e;
  }
  const detail = [...(r.failure ? [formatFailure(r.failure)] : []), ...r.knownAnswerErrors.map((e) => `known answer: ${e}`)].join('\n');
  if (r.failure) return { status: 'diverges', detail, signature: r.failure.info.signature };
  if (r.knownAnswerErrors.length) return { status: 'wrong known answer', detail };
  return { status: 'ok' };
}
