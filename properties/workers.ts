// ovlcheck run --jobs N: the suite's cases shared among N worker processes, each in a mount
// namespace of its own with its own sandbox, and one merged result. Every worker runs every
// profile and option set, but only its share of their cases (CaseSlice in conformance.ts), so
// the result does not depend on N: the same cases run, and a failure is the one with the
// lowest case index, shrunk as a single worker would shrink it.

import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { addCoverage, coverageOn, type CoverageCounts } from '../model/coverage.js';
import { beforeSignalExit } from '../harness/sandbox.js';
import { probeLayerFs } from '../harness/probe.js';
import type { Sys } from '../harness/sys.js';
import type { Progress } from './conformance.js';
import { unitKey, type ProfileResult, type PropertyResult, type SuiteOptions, type SuiteResult } from './suite.js';

/** What a worker is given: the suite's options without the callbacks, and its share. */
export interface WorkerTask {
  options: Omit<SuiteOptions, 'onCase' | 'onResult' | 'reopen' | 'slice'>;
  index: number;
  count: number;
  coverage: boolean;
}

export type ToWorker = { kind: 'task'; task: WorkerTask } | { kind: 'found'; unit: string; caseIndex: number };
export type ToParent =
  | { kind: 'case'; profile: string; progress: Progress }
  | { kind: 'result'; result: ProfileResult | PropertyResult }
  | { kind: 'found'; unit: string; caseIndex: number }
  | { kind: 'done'; coverage?: CoverageCounts };

/** A worker that ended without saying it was done: its stderr has said why. */
export class WorkerFailed extends Error {}

/** A worker killed from outside (SIGKILL, the OOM killer): the run stops, as if it had been. */
export class WorkerKilled extends Error {
  constructor(readonly signal: NodeJS.Signals, message: string) {
    super(message);
  }
}

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** runSuite's result, run by `jobs` workers; the callbacks of o are called here, in unit order. */
export async function runSuiteInWorkers(sys: Sys, o: SuiteOptions, jobs: number): Promise<SuiteResult> {
  const result: SuiteResult = { kernel: sys.release(), where: sys.where, layerFs: probeLayerFs(sys), profiles: [], properties: [] };
  const { onCase, onResult, reopen: _reopen, slice: _slice, ...options } = o;
  const workers: ChildProcess[] = [];
  const perWorker: ProfileResult[][] = Array.from({ length: jobs }, () => []);
  const properties: PropertyResult[] = [];
  const progress = new Map<string, Progress[]>();
  const bounds = new Map<string, number>();
  let merged = 0;
  let stopping = false; // the workers are being ended from here: their exits say nothing
  const emitReady = () => {
    while (perWorker.every((rs) => rs.length > merged)) {
      const r = mergeUnit(perWorker.map((rs) => rs[merged]));
      merged++;
      result.profiles.push(r);
      onResult?.(r);
    }
  };
  // A signal to this process (pid 1 of the run's namespace) ends the workers too; each takes its mounts down.
  const stopAll = () => {
    stopping = true;
    for (const w of workers) w.kill('SIGTERM');
  };
  const forget = beforeSignalExit(stopAll);
  try {
    await Promise.all(Array.from({ length: jobs }, (_, index) => new Promise<void>((resolve, reject) => {
      const env = { ...process.env };
      delete env.OVLCHECK_STARTED_FD; // the launcher's pipe is the CLI's, not a worker's
      const w = spawn('unshare', ['--mount', '--propagation', 'private', process.execPath, ...process.execArgv, WORKER], {
        stdio: ['ignore', process.stderr, process.stderr, 'ipc'], serialization: 'advanced', env,
      });
      workers.push(w);
      let done = false;
      w.on('message', (m: ToParent) => {
        switch (m.kind) {
          case 'case': {
            const all = progress.get(m.profile) ?? Array<Progress>(jobs);
            all[index] = m.progress;
            progress.set(m.profile, all);
            onCase?.(m.profile, sumProgress(all));
            return;
          }
          case 'result':
            if (m.result.kind === 'property') properties.push(m.result);
            else {
              perWorker[index].push(m.result);
              emitReady();
            }
            return;
          case 'found':
            if (m.caseIndex >= (bounds.get(m.unit) ?? Infinity)) return;
            bounds.set(m.unit, m.caseIndex);
            for (const other of workers) if (other !== w && other.connected) other.send({ kind: 'found', unit: m.unit, caseIndex: m.caseIndex } satisfies ToWorker);
            return;
          case 'done':
            if (m.coverage && coverageOn()) addCoverage(m.coverage);
            done = true;
            return;
        }
      });
      w.on('error', reject);
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        // A worker ended by a signal (or by its handler: 128 + n) went with this run's signal: stop as it does.
        const by = EXIT_SIGNALS.find((s) => s === signal || code === 128 + constants.signals[s]);
        if ((done && code === 0) || stopping) resolve();
        else if (by) process.kill(process.pid, by);
        else if (signal) reject(new WorkerKilled(signal, `worker ${index + 1} of ${jobs} was killed (${signal}): the run stops`));
        else reject(new WorkerFailed(`worker ${index + 1} of ${jobs} ended with ${signal ?? `exit ${code}`} before it was done`));
      };
      // A clean exit is judged at 'close', after the last message ('done' may come after 'exit'); any other
      // at once: 'close' also waits for the IPC channel, which a process the worker started may still hold.
      w.on('exit', (code, signal) => {
        if (code !== 0 || signal) end(code, signal);
      });
      w.on('close', end);
      w.send({ kind: 'task', task: { options, index, count: jobs, coverage: coverageOn() } } satisfies ToWorker);
    })));
  } catch (e) {
    stopAll();
    throw e;
  } finally {
    forget();
  }
  for (const p of properties) {
    result.properties.push(p);
    onResult?.(p);
  }
  return result;
}

/** The progress of one profile over the workers that have reported on it. */
function sumProgress(all: Progress[]): Progress {
  const seen = all.filter(Boolean);
  const sum = (k: 'cases' | 'knownStops' | 'continued' | 'generated' | 'steps') => seen.reduce((n, p) => n + p[k], 0);
  return {
    cases: sum('cases'), knownStops: sum('knownStops'), continued: sum('continued'), generated: sum('generated'), steps: sum('steps'),
    shrinking: seen.some((p) => p.shrinking), elapsedMs: Math.max(...seen.map((p) => p.elapsedMs)), deepest: Math.max(...seen.map((p) => p.deepest)),
  };
}

const FAILED: ProfileResult['status'][] = ['fail', 'crash', 'not-modelled', 'hang', 'gone'];

/**
 * One profile's or option set's result from every worker's share: the counts added up, and
 * the outcome of the lowest failing case (the one a single worker would have met first).
 */
export function mergeUnit(parts: ProfileResult[]): ProfileResult {
  const keys = new Set(parts.map(unitKey));
  if (keys.size !== 1) throw new Error(`workers disagree on the order of the run: ${[...keys].join(' / ')}`);
  const [first] = parts;
  if (first.status === 'skipped' || first.status === 'refused') return first;
  const failing = parts.filter((p) => FAILED.includes(p.status)).sort((a, b) => (a.failedCase ?? Infinity) - (b.failedCase ?? Infinity));
  const outcome = failing[0] ?? first;
  return {
    ...outcome,
    cases: parts.reduce((n, p) => n + p.cases, 0),
    steps: parts.reduce((n, p) => n + p.steps, 0),
    elapsedMs: Math.max(...parts.map((p) => p.elapsedMs)),
    deepest: Math.max(...parts.map((p) => p.deepest)),
    interrupted: parts.some((p) => p.interrupted),
  };
}
