// `ovlcheck compare`: every distinct divergence of an implementation, not just the first.
// Rounds of the conformance property: each round's failure is shrunk to a minimal case and
// recorded under its signature, which is then tolerated (left out of the comparison, or the
// case ends there when it is an outcome), so that the next round can find another one. The
// expectations file's signatures are tolerated from the start: only new ones are findings.

import { readFileSync } from 'node:fs';
import type { KernelVersion, Profile } from '../model/index.js';
import type { Driver } from '../harness/driver.js';
import { runConformance } from './conformance.js';
import type { Failure } from './report.js';

export interface Expectation {
  signature: string;
  /** Why the implementation differs on purpose (a pointer to its documentation). */
  reason: string;
}

export interface ExpectationsFile {
  driver: string;
  expected: Expectation[];
}

export class ExpectationsError extends Error {}

export function parseExpectations(text: string, source: string): ExpectationsFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ExpectationsError(`${source}: not JSON (${(e as Error).message})`);
  }
  const f = raw as ExpectationsFile;
  if (!f || typeof f.driver !== 'string' || !Array.isArray(f.expected)) {
    throw new ExpectationsError(`${source}: expected {"driver": "...", "expected": [{"signature": "...", "reason": "..."}]}`);
  }
  for (const [i, x] of f.expected.entries()) {
    if (typeof x?.signature !== 'string' || typeof x?.reason !== 'string' || !x.reason.trim()) {
      throw new ExpectationsError(`${source}: expected[${i}] needs a "signature" and a non-empty "reason"`);
    }
  }
  return f;
}

export function loadExpectations(file: string): ExpectationsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ExpectationsError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseExpectations(text, file);
}

export interface CompareOptions {
  driver: Driver;
  reference?: Driver;
  profile: Profile;
  kernel: KernelVersion;
  kernelRelease: string;
  /** Generated cases in all rounds together. */
  runs: number;
  steps: number;
  maxLowers: number;
  entries: number;
  rotate: number;
  seed: number;
  timeBudgetMs?: number;
  expectations: Expectation[];
  /** Stop after this many findings (an implementation far from overlayfs has many). */
  maxFindings: number;
  /** After each round: its new finding, or the known one it ended on again (`repeated`). */
  onRound?: (r: { round: number; cases: number; findings: number; latest?: string; repeated?: string }) => void;
  /**
   * Replays a minimal case on another implementation (the kernel, against the model) and
   * says how it fared: a finding the kernel agrees with the model on is the implementation's.
   */
  crossCheck?: (f: Failure) => Promise<string>;
}

export interface Finding {
  signature: string;
  failure: Failure;
  /** The seed of the round that found it: `ovlcheck compare ... --seed S` finds it again. */
  seed: number;
  /** The minimal case replayed on the kernel (see CompareOptions.crossCheck). */
  kernel?: string;
}

export interface CompareResult {
  findings: Finding[];
  /** Expected divergences that cases showed (signature -> reason). */
  expectedSeen: Expectation[];
  expectedUnseen: Expectation[];
  cases: number;
  steps: number;
  knownStops: number;
  rounds: number;
  elapsedMs: number;
  crash: Error | null;
  /** Why the run stopped: budget, time, clean (a round passed every case), max findings. */
  stoppedBy: 'cases' | 'time' | 'clean' | 'max-findings' | 'repeat' | 'crash';
}

export async function runCompare(o: CompareOptions): Promise<CompareResult> {
  const started = Date.now();
  const known = new Set(o.expectations.map((x) => x.signature));
  const seen = new Set<string>();
  const findings: Finding[] = [];
  const r: CompareResult = {
    findings, expectedSeen: [], expectedUnseen: [], cases: 0, steps: 0, knownStops: 0, rounds: 0, elapsedMs: 0, crash: null, stoppedBy: 'cases',
  };
  let repeats = 0;
  while (true) {
    const left = o.runs - r.cases;
    const timeLeft = o.timeBudgetMs === undefined ? undefined : o.timeBudgetMs - (Date.now() - started);
    if (left <= 0) break;
    if (timeLeft !== undefined && timeLeft <= 0) {
      r.stoppedBy = 'time';
      break;
    }
    if (findings.length >= o.maxFindings) {
      r.stoppedBy = 'max-findings';
      break;
    }
    const seed = o.seed + r.rounds;
    r.rounds++;
    const s = await runConformance({
      runs: left, steps: o.steps, maxLowers: o.maxLowers, maxEntriesPerLayer: o.entries, seed, timeBudgetMs: timeLeft,
      profile: o.profile, kernel: o.kernel, kernelRelease: o.kernelRelease, driver: o.driver, reference: o.reference,
      rotateWeight: o.rotate, known: { has: (sig) => known.has(sig) }, seen, shrinkBudgetMs: 45_000,
    });
    r.cases += s.generated;
    r.steps += s.steps;
    r.knownStops += s.knownStops;
    if (s.crash) {
      r.crash = s.crash;
      r.stoppedBy = 'crash';
      break;
    }
    if (!s.failure) {
      r.stoppedBy = s.interrupted ? 'time' : 'clean';
      break;
    }
    const sig = s.failure.info.signature ?? '(no signature)';
    if (known.has(sig)) {
      // The shrunk case shows a known divergence only (tolerance keyed on a situation that
      // shrinking changed): try again with the next seed, but not forever.
      o.onRound?.({ round: r.rounds, cases: r.cases, findings: findings.length, repeated: sig });
      if (++repeats >= 3) {
        r.stoppedBy = 'repeat';
        break;
      }
      continue;
    }
    known.add(sig);
    findings.push({ signature: sig, failure: s.failure, seed, ...(o.crossCheck ? { kernel: await o.crossCheck(s.failure) } : {}) });
    o.onRound?.({ round: r.rounds, cases: r.cases, findings: findings.length, latest: sig });
  }
  r.expectedSeen = o.expectations.filter((x) => seen.has(x.signature));
  r.expectedUnseen = o.expectations.filter((x) => !seen.has(x.signature));
  r.elapsedMs = Date.now() - started;
  return r;
}
