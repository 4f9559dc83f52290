// Run one case file against the model and a driver, checking known answers on both sides.

import type { KernelVersion } from '../model/index.js';
import type { Driver } from '../harness/driver.js';
import { checkExpectation, profileOf, type CaseFile, type Expectation } from './caseFile.js';
import type { Failure } from './report.js';
import { Divergence, KnownDivergence, Session, type Views } from './session.js';

export interface ReplayResult {
  failure: Failure | null;
  /** Known answers that the model or the driver did not give. */
  knownAnswerErrors: string[];
}

/** The divergences a case found by `compare` was found with tolerated (see report.ts). */
export function toleratedBy(c: CaseFile): string[] {
  const known = (c.divergence as { known?: unknown } | undefined)?.known;
  return Array.isArray(known) ? known.filter((k): k is string => typeof k === 'string') : [];
}

/** Replays a case; `tolerate` leaves out known divergences, as compare did when it found the case. */
export async function replayCase(
  c: CaseFile, driver: Driver, kernel: KernelVersion, kernelRelease: string, reference?: Driver, tolerate: string[] = [],
): Promise<ReplayResult> {
  const profile = profileOf(c);
  const known = new Set(tolerate);
  const session = new Session(driver, profile, kernel, { reference, ...(known.size ? { known } : {}) });
  const errors: string[] = [];
  const check = (exp: Expectation | undefined, where: string, v: Views, outcome?: { expected: string; actual: string }) => {
    errors.push(...checkExpectation(exp, outcome?.expected, v.expected, `${where} ${session.against}`));
    errors.push(...checkExpectation(exp, outcome?.actual, v.actual, `${where} ${driver.name}`));
  };
  try {
    check(c.expect, 'after mount', await session.start(c.layers));
    for (const [i, step] of c.steps.entries()) {
      const { expect, ...op } = step;
      const views = await session.step(op);
      const h = session.history[i];
      check(expect, `step ${i + 1}`, views, { expected: h.expected, actual: h.actual });
    }
    check(c.expectAfterRemount, 'after remount', await session.finish());
    return { failure: null, knownAnswerErrors: errors };
  } catch (e) {
    if (e instanceof KnownDivergence) return { failure: null, knownAnswerErrors: errors };
    if (!(e instanceof Divergence)) throw e;
    return {
      failure: {
        driver: driver.name, against: session.against, kernel: kernelRelease, profile, options: session.facts?.options ?? '', moduleDefaults: session.facts?.moduleDefaults ?? {},
        stack: c.layers, history: [...session.history], info: e.info,
      },
      knownAnswerErrors: errors,
    };
  } finally {
    await session.close();
  }
}
