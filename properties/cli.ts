#!/usr/bin/env node
// ovlcheck: run the conformance property against the running kernel, or replay case files.
// Exit codes: 0 conforms, 1 divergence, 2 bad input or unusable environment, 3 ovlcheck bug.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { namedProfile, NotModelled, notModelled, ParamError, parseKernelVersion, PROFILES, resolveProfile, type Profile } from '../model/index.js';
import { KernelDriver, probeOverlaySupport, profileOptions } from '../harness/drivers/kernel.js';
import { tryMount } from '../harness/probe.js';
import { inPrivateNamespace, runInPrivateNamespace } from '../harness/namespace.js';
import { openSandbox } from '../harness/sandbox.js';
import { CaseError, parseCase } from './caseFile.js';
import { runConformance, type Progress } from './conformance.js';
import { failureCase, formatFailure, formatStack, type Failure } from './report.js';
import { formatOp } from './commands.js';
import { MUTATIONS } from './mutations.js';
import { formatProbe, probe } from './probeReport.js';
import { formatMountFailure, formatSequenceFailure, runMountSequences, runMountValidation } from './mountValidation.js';
import { replayCase } from './replay.js';

const USAGE = `usage:
  ovlcheck run [--profile NAME|all | --options "k=v,..."] [--runs N] [--steps N] [--max-lowers N]
               [--entries N] [--seed N] [--path P] [--time-budget SECONDS] [--out DIR] [--rotate W]
               [--mutate NAME]
  ovlcheck replay FILE...
  ovlcheck probe [--json]

run     random layer stacks and operation sequences against the model and the running
        kernel's overlayfs; a divergence is shrunk, printed and saved as a case file.
        Defaults: --profile all --runs 300 (per profile) --steps 25 --max-lowers 4 --entries 12
        --out ./ovlcheck-out. Profiles: ${Object.keys(PROFILES).join(', ')};
        --options gives exactly your engine's options instead (e.g. "userxattr,xino=on").
        --rotate W: how often a step turns the upper into a new lower layer, as image builds
        do (weight among ~40; default 1, 0 never; 20 makes stacks 10+ layers deep).
        --mutate NAME breaks one rule of the model on purpose (a self-test: the run must
        fail fast with a tiny case); NAME is one of: ${Object.keys(MUTATIONS).join(', ')}
replay  run case files (see README, "Case files"), checking their known answers too.
probe   the kernel's version, module defaults, and which profiles and option combinations
        mount and what /proc/mounts shows for them.
exit: 0 conforms, 1 divergence, 2 bad input or environment, 3 internal error`;

class UsageError extends Error {}

interface RunArgs {
  runs: number; steps: number; maxLowers: number; entries: number; seed: number; path?: string;
  timeBudget?: number; out: string; mutate?: string; profile: string; options?: string; rotate: number;
}

function parseRunArgs(argv: string[]): RunArgs {
  const a: RunArgs = {
    runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: (Date.now() ^ (Math.random() * 2 ** 31)) | 0, out: 'ovlcheck-out', profile: 'all', rotate: 1,
  };
  const ints: Record<string, keyof RunArgs> = {
    '--runs': 'runs', '--steps': 'steps', '--rotate': 'rotate', '--max-lowers': 'maxLowers', '--entries': 'entries', '--seed': 'seed', '--time-budget': 'timeBudget',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag in ints) {
      const n = Number(value);
      const min = flag === '--seed' ? -(2 ** 31) : flag === '--steps' || flag === '--rotate' ? 0 : 1;
      if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got "${value}"`);
      (a as unknown as Record<string, number>)[ints[flag]] = n;
    } else if (flag === '--path') a.path = value;
    else if (flag === '--out') a.out = value;
    else if (flag === '--profile') a.profile = value;
    else if (flag === '--options') a.options = value;
    else if (flag === '--mutate') {
      if (!(value in MUTATIONS)) throw new UsageError(`--mutate: unknown mutation "${value}" (one of: ${Object.keys(MUTATIONS).join(', ')})`);
      a.mutate = value;
    }
    else throw new UsageError(`unknown option "${flag}"`);
  }
  if (a.maxLowers > 400) throw new UsageError('--max-lowers: at most 400');
  if (a.options !== undefined && a.profile !== 'all') throw new UsageError('give --profile or --options, not both');
  if (a.mutate && a.profile === 'all' && a.options === undefined) a.profile = MUTATIONS[a.mutate].profile; // where its rule shows
  profilesToRun(a); // reject unknown profiles and bad options before anything else
  return a;
}

/** The profiles a run covers; one asked for by name or options must be runnable. */
function profilesToRun(a: RunArgs): Profile[] {
  try {
    if (a.options !== undefined) return [explicit(resolveProfile('custom', a.options))];
    if (a.profile !== 'all') return [explicit(namedProfile(a.profile))];
    return Object.keys(PROFILES).map(namedProfile);
  } catch (e) {
    if (e instanceof ParamError) throw new UsageError(e.message);
    throw e;
  }
}

function explicit(p: Profile): Profile {
  const why = notModelled(p);
  if (why) throw new UsageError(`profile ${p.name}: ${why}`);
  return p;
}

function checkEnvironment(): void {
  const why = probeOverlaySupport();
  if (why) throw new UsageError(why);
}

function progressPrinter(runs: number, profile: string): (p: Progress) => void {
  let last = 0;
  const tty = process.stderr.isTTY;
  return (p) => {
    const now = Date.now();
    if (!tty && now - last < 5000 && p.cases < runs) return;
    last = now;
    const rate = p.elapsedMs ? Math.round((p.steps * 1000) / p.elapsedMs) : 0;
    const line = `${profile}: ${p.shrinking ? 'shrinking' : 'cases'} ${p.cases}/${runs}  steps ${p.steps}  ${rate} steps/s  ${(p.elapsedMs / 1000).toFixed(1)} s`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
}

function saveFailure(f: Failure, out: string): string {
  mkdirSync(out, { recursive: true });
  const date = new Date().toISOString();
  const file = join(out, `divergence-${date.replace(/[:.]/g, '-')}-seed${f.seed ?? 'replay'}.json`);
  writeFileSync(file, JSON.stringify(failureCase(f, date), null, 2) + '\n');
  return file;
}

async function cmdRun(argv: string[]): Promise<number> {
  const a = parseRunArgs(argv);
  const sandbox = openSandbox();
  const driver = new KernelDriver(sandbox);
  const kernelRelease = release();
  let divergences = 0;
  try {
    const runnable: Profile[] = [];
    for (const p of profilesToRun(a)) {
      const why = notModelled(p) ?? refusal(tryMount(sandbox, profileOptions(p), p.readonly !== 'no-upper', p.split).outcome);
      if (why) console.log(`ovlcheck: profile ${p.name} skipped: ${why}`);
      else runnable.push(p);
    }
    for (const profile of runnable) {
      const s = await runConformance({
        runs: a.runs, steps: a.steps, maxLowers: a.maxLowers, maxEntriesPerLayer: a.entries, seed: a.seed, path: a.path,
        timeBudgetMs: a.timeBudget ? (a.timeBudget * 1000) / runnable.length : undefined, profile,
        kernel: parseKernelVersion(kernelRelease), kernelRelease, driver, onCase: progressPrinter(a.runs, profile.name),
        modelStep: a.mutate ? MUTATIONS[a.mutate].step : undefined, rotateWeight: a.rotate,
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const rate = s.elapsedMs ? Math.round((s.steps * 1000) / s.elapsedMs) : 0;
      console.log(`ovlcheck: profile ${profile.name}: ${s.cases} cases, ${s.steps} steps, ${s.failure ? 1 : 0} divergences in ` +
        `${(s.elapsedMs / 1000).toFixed(1)} s (${rate} checked steps/s), stacks up to ${s.deepest} lower layers; kernel ${kernelRelease}, driver ${driver.name}, seed ${a.seed}` +
        (s.interrupted ? ' (time budget reached)' : '') +
        (a.mutate ? `; MUTATED MODEL ${a.mutate} (${MUTATIONS[a.mutate].breaks})` : ''));
      if (s.crash instanceof NotModelled) {
        // Say where, so the next model rule has its minimal case.
        if (s.crashCase) console.log(['case:', ...formatStack(s.crashCase.stack), 'steps:', ...s.crashCase.steps.map((op, i) => `  ${i + 1}. ${formatOp(op)}`)].join('\n'));
        throw s.crash;
      }
      if (s.crash) {
        console.error(`ovlcheck: internal error (a bug in ovlcheck, not a divergence), profile ${profile.name} seed ${a.seed} path ${s.counterexamplePath}:`);
        console.error(s.crash.stack ?? String(s.crash));
        return 3;
      }
      if (s.failure) {
        divergences++;
        console.log(formatFailure(s.failure, saveFailure(s.failure, a.out)));
      }
    }
    if (!a.mutate) {
      const m = runMountValidation(sandbox, a.runs, a.seed);
      const tally = Object.entries(m.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`ovlcheck: mount-time validation: ${m.requests} requests (${tally}), ${m.failure ? 1 : 0} divergences; seed ${a.seed}`);
      if (m.failure) {
        divergences++;
        console.log(formatMountFailure(m.failure, m.seed, m.path));
      }
      const q = runMountSequences(sandbox, Math.max(1, Math.round(a.runs / 3)), a.seed);
      const seen = Object.entries(q.outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`ovlcheck: mount sequences (index=on exclusivity and origin): ${q.sequences} sequences (${seen}), ${q.failure ? 1 : 0} divergences; seed ${a.seed}`);
      if (q.failure) {
        divergences++;
        console.log(formatSequenceFailure(q.failure, q.seed, q.path));
      }
    }
    return divergences ? 1 : 0;
  } finally {
    await driver.teardown();
    sandbox.close();
  }
}

function refusal(outcome: string): string | null {
  return outcome === 'ok' ? null : `the kernel refuses to mount it (${outcome})`;
}

async function cmdProbe(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const bad = argv.find((x) => x !== '--json');
  if (bad) throw new UsageError(`unknown option "${bad}"`);
  const sandbox = openSandbox();
  try {
    const r = probe(sandbox);
    console.log(json ? JSON.stringify(r, null, 2) : formatProbe(r));
    return 0;
  } finally {
    sandbox.close();
  }
}

async function cmdReplay(files: string[]): Promise<number> {
  if (files.length === 0) throw new UsageError('replay needs at least one case file');
  const cases = files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new UsageError(`${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return { file: f, c: parseCase(text, f) };
  });
  const sandbox = openSandbox();
  const driver = new KernelDriver(sandbox);
  const kernelRelease = release();
  let bad = 0;
  try {
    for (const { file, c } of cases) {
      const r = await replayCase(c, driver, parseKernelVersion(kernelRelease), kernelRelease);
      if (r.failure) console.log(formatFailure(r.failure));
      for (const e of r.knownAnswerErrors) console.log(`known answer: ${e}`);
      const verdict = r.failure ? 'DIVERGES' : r.knownAnswerErrors.length ? 'WRONG KNOWN ANSWER' : 'ok';
      console.log(`${verdict}  ${file}${c.name ? `  (${c.name})` : ''}`);
      if (verdict !== 'ok') bad++;
    }
  } finally {
    await driver.teardown();
    sandbox.close();
  }
  return bad ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      console.log(USAGE);
      return cmd ? 0 : 2;
    }
    if (cmd !== 'run' && cmd !== 'replay' && cmd !== 'probe') throw new UsageError(`unknown command "${cmd}" (try --help)`);
    if (cmd === 'run') parseRunArgs(rest); // reject bad options before anything else
    checkEnvironment();
    if (!inPrivateNamespace()) {
      // Every mount lives in a private mount namespace that dies with the process.
      return await runInPrivateNamespace(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv]);
    }
    if (cmd === 'probe') return await cmdProbe(rest);
    return cmd === 'run' ? await cmdRun(rest) : await cmdReplay(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof CaseError || e instanceof NotModelled) {
      console.error(`ovlcheck: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`ovlcheck: internal error: ${(e as Error).stack ?? e}`);
      process.exit(3);
    },
  );
}
