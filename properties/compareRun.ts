// `ovlcheck compare`: every distinct divergence of an implementation, not just the first.
// Rounds of the conformance property: each round's failure is shrunk to a minimal case and
// recorded under its signature and harm class, which is then tolerated (a difference left
// out of the comparison; after an outcome the case goes on where the reference can follow,
// Session.followActual), so that the next round can find another one. The expectations
// file's signatures (or patterns) are tolerated from the start: only new ones are findings.
// Each class has its own cap, so that cosmetic findings cannot use the run up.

import { readFileSync } from 'node:fs';
import type { KernelVersion, Profile } from '../model/index.js';
import type { Driver } from '../harness/driver.js';
import { runConformance } from './conformance.js';
import type { Failure } from './report.js';
import { HARM_CLASSES, harmOf, harmRank, type HarmClass } from './harm.js';
import { toleranceOf } from './signature.js';

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
    if (!harmOf(x.signature)) {
      throw new ExpectationsError(`${source}: expected[${i}]: a signature starts with its class (${HARM_CLASSES.join(', ')}), as in the report: "${x.signature}"`);
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
  /** The kernel driver, to mount the implementation's layers at the end of each case (Session). */
  kernelReader?: Driver;
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
  /**
   * Findings per harm class: past it, the class's further divergences are tolerated
   * unrecorded, so that bookkeeping can never use up the run before data surfaces.
   */
  maxPerClass: number;
  /** Checked between cases: true ends the run (a signal), with everything found so far. */
  stop?: () => boolean;
  /** After each round: its new finding, or the known one it ended on again (`repeated`). */
  onRound?: (r: { round: number; cases: number; findings: number; elapsedMs: number; latest?: Finding; repeated?: string }) => void;
  /** Whenever the result changes (a finding, a divergence being shrunk): to write the report as it grows. */
  onUpdate?: (r: CompareResult) => void;
  /**
   * Replays a minimal case on another implementation (the kernel, against the model) and
   * says how it fared: a finding the kernel agrees with the model on is the implementation's.
   */
  crossCheck?: (f: Failure) => Promise<string>;
}

export interface Finding {
  signature: string;
  harm: HarmClass;
  /** Within its class, lower ranks first (properties/harm.ts). */
  rank: number;
  failure: Failure;
  /** The seed of the round that found it: `ovlcheck compare ... --seed S` finds it again. */
  seed: number;
  round: number;
  /** Time from the start of the run until it was found (before shrinking). */
  foundAfterMs: number;
  /** The minimal case replayed on the kernel (see CompareOptions.crossCheck). */
  kernel?: string;
}

export interface CompareResult {
  findings: Finding[];
  /** A divergence found but not yet shrunk when the run ended (a signal): its case unshrunk. */
  pending?: Finding;
  /** Expected divergences that cases showed (signature -> reason). */
  expectedSeen: Expectation[];
  expectedUnseen: Expectation[];
  /** Classes whose cap was reached: their further divergences went unrecorded. */
  capped: HarmClass[];
  cases: number;
  steps: number;
  knownStops: number;
  /** Tolerated outcomes that cases went on past instead of ending. */
  continued: number;
  rounds: number;
  elapsedMs: number;
  crash: Error | null;
  /** Why the run stopped: budget, time, clean (a round passed every case), every class capped, a signal. */
  stoppedBy: 'cases' | 'time' | 'clean' | 'max-findings' | 'repeat' | 'crash' | 'signal';
}

/**
 * The seed of round r: round 0 is the seed itself (so a finding's seed finds it again), later
 * rounds are hashed so that the rounds of --seed N and --seed N+1 do not overlap.
 */
export function roundSeed(seed: number, round: number): number {
  if (round === 0) return seed;
  let h = (seed ^ Math.imul(round, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) | 0;
}

/** Findings worst first: by class, then by rank within it, then in the order found. */
export function byHarm(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => harmRank(a.harm) - harmRank(b.harm) || a.rank - b.rank);
}

export async function runCompare(o: CompareOptions): Promise<CompareResult> {
  const started = Date.now();
  const expected = toleranceOf(o.expectations.map((x) => x.signature));
  const each = o.expectations.map((x) => toleranceOf([x.signature])); // which expectation a seen signature matched
  const found = new Set<string>();
  const capped = new Set<HarmClass>();
  const tolerated = (sig: string) => expected.has(sig) || found.has(sig) || capped.has(harmOf(sig) ?? 'data');
  const seen = new Set<string>();
  const findings: Finding[] = [];
  const r: CompareResult = {
    findings, expectedSeen: [], expectedUnseen: [], capped: [], cases: 0, steps: 0, knownStops: 0, continued: 0, rounds: 0, elapsedMs: 0, crash: null, stoppedBy: 'cases',
  };
  const update = () => {
    r.expectedSeen = o.expectations.filter((_, i) => [...seen].some((sig) => each[i].has(sig)));
    r.expectedUnseen = o.expectations.filter((x) => !r.expectedSeen.includes(x));
    r.capped = [...capped];
    r.elapsedMs = Date.now() - started;
    o.onUpdate?.(r);
  };
  update(); // a report from the start: a signal before the first finding still leaves one
  let repeats = 0;
  while (true) {
    const left = o.runs - r.cases;
    const timeLeft = o.timeBudgetMs === undefined ? undefined : o.timeBudgetMs - (Date.now() - started);
    if (left <= 0) break;
    if (o.stop?.()) {
      r.stoppedBy = 'signal';
      break;
    }
    if (timeLeft !== undefined && timeLeft <= 0) {
      r.stoppedBy = 'time';
      break;
    }
    if (capped.size === HARM_CLASSES.length) {
      r.stoppedBy = 'max-findings';
      break;
    }
    const round = r.rounds;
    const seed = roundSeed(o.seed, round);
    r.rounds++;
    let foundAfterMs = 0;
    const s = await runConformance({
      runs: left, steps: o.steps, maxLowers: o.maxLowers, maxEntriesPerLayer: o.entries, seed, timeBudgetMs: timeLeft,
      profile: o.profile, kernel: o.kernel, kernelRelease: o.kernelRelease, driver: o.driver, reference: o.reference, kernelReader: o.kernelReader,
      rotateWeight: o.rotate, known: { has: tolerated }, seen, shrinkBudgetMs: 45_000, stop: o.stop,
      onFailure: (f) => {
        foundAfterMs = Date.now() - started;
        r.pending = asFinding(f, seed, round, foundAfterMs);
        update();
      },
    });
    r.cases += s.generated;
    r.steps += s.steps;
    r.knownStops += s.knownStops;
    r.continued += s.continued;
    if (s.crash) {
      r.crash = s.crash;
      r.stoppedBy = 'crash';
      break;
    }
    if (!s.failure) {
      if (o.stop?.()) r.stoppedBy = 'signal';
      else r.stoppedBy = s.interrupted ? 'time' : 'clean';
      break;
    }
    r.pending = undefined;
    const f = asFinding(s.failure, seed, round, foundAfterMs);
    if (tolerated(f.signature)) {
      // The shrunk case shows a known divergence only (tolerance keyed on a situation that
      // shrinking changed): try again with the next seed, but not forever.
      o.onRound?.({ round: r.rounds, cases: r.cases, findings: findings.length, elapsedMs: Date.now() - started, repeated: f.signature });
      if (++repeats >= 3) {
        r.stoppedBy = 'repeat';
        break;
      }
      continue;
    }
    found.add(f.signature);
    if (o.crossCheck) f.kernel = await o.crossCheck(s.failure);
    findings.push(f);
    if (findings.filter((x) => x.harm === f.harm).length >= o.maxPerClass) capped.add(f.harm);
    update();
    o.onRound?.({ round: r.rounds, cases: r.cases, findings: findings.length, elapsedMs: Date.now() - started, latest: f });
  }
  update();
  return r;
}

function asFinding(failure: Failure, seed: number, round: number, foundAfterMs: number): Finding {
  const signature = failure.info.signature ?? '(no signature)';
  const harm = failure.info.harm ?? harmOf(signature) ?? 'data';
  return { signature, harm, rank: failure.info.rank ?? 0, failure, seed, round, foundAfterMs };
}
