#!/usr/bin/env node
// ovlcheck: run the conformance property against the running kernel, or replay case files.
// Exit codes: 0 conforms, 1 divergence, 2 bad input or unusable environment, 3 ovlcheck bug.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { namedProfile, NotModelled, notModelled, ParamError, PROFILES, resolveProfile, type Profile } from '../model/index.js';
import { KernelDriver, probeOverlaySupport } from '../harness/drivers/kernel.js';
import { localSys, runningKernel } from '../harness/sys.js';
import { runSuite } from './suite.js';
import { inPrivateNamespace, runInPrivateNamespace } from '../harness/namespace.js';
import { beforeSignalExit, openSandbox, type Sandbox } from '../harness/sandbox.js';
import { CaseError, parseCase, type CaseFile } from './caseFile.js';
import type { Progress } from './conformance.js';
import { failureCase, formatFailure, type Failure } from './report.js';
import { MUTATIONS } from './mutations.js';
import { formatProbe, probe } from './probeReport.js';
import { replayCase, replayOnKernel, toleratedBy } from './replay.js';
import { openTarget, type Target } from '../harness/guest/target.js';
import { probeLayerFs } from '../harness/probe.js';
import { SetupError } from '../harness/guest/executor.js';
import { runMatrix } from './matrix/run.js';
import { patternStats } from './stats.js';
import { unexplained } from './matrix/report.js';
import { workerMain } from './matrix/worker.js';
import { DRIVER_NAMES, makeDriver, probeDriver, CODECS, type DriverArgs, type DriverName } from '../harness/drivers/index.js';
import type { Driver } from '../harness/driver.js';
import { byHarm, ExpectationsError, loadExpectations, runCompare, type CompareResult, type Expectation } from './compareRun.js';
import { HARM_CLASSES, isHarmClass, type HarmClass } from './harm.js';
import { PLANTED } from '../harness/drivers/planted.js';
import { writeCompareReport } from './compareReport.js';
import { formatCrossFailure, runCrossUpper } from './crossUpper.js';
import { implementationVersion } from '../harness/drivers/versions.js';

const USAGE = `usage:
  ovlcheck run [--profile NAME|all | --options "k=v,..."] [--runs N] [--steps N] [--max-lowers N]
               [--entries N] [--seed N] [--path P] [--time-budget SECONDS] [--out DIR] [--rotate W]
               [--mutate NAME]
  ovlcheck compare --driver NAME [--against model|kernel] [--runs N] [--steps N] [--seed N]
               [--time-budget SECONDS] [--out DIR] [--expectations FILE] [--max-findings N]
               [--fail-on CLASS,...] [--profile NAME] [--plant FAULT,...]
               [--mount-cmd CMD [--umount-cmd CMD] [--codec FORMAT]]
  ovlcheck cross --from NAME --to NAME [--runs N] [--steps N] [--seed N]
  ovlcheck replay [--kernel SPEC | --driver NAME [--against model|kernel]] FILE...
  ovlcheck probe [--json]
  ovlcheck stats [--cases N] [--steps N] [--seed N] [--profile NAME]
  ovlcheck matrix [--kernels host,6.1,6.12] [--runs N] [--steps N] [--seed N] [--jobs N]
               [--cross N] [--cli-runs N] [--profile NAME|all] [--out DIR] [--worker-limit MINUTES]

run     random layer stacks and operation sequences against the model and the running
        kernel's overlayfs; a divergence is shrunk, printed and saved as a case file.
        Defaults: --profile all --runs 300 (per profile) --steps 25 --max-lowers 4 --entries 12
        --out ./ovlcheck-out. Profiles: ${Object.keys(PROFILES).join(', ')};
        --options gives exactly your engine's options instead (e.g. "userxattr,xino=on").
        --rotate W: how often a step turns the upper into a new lower layer, as image builds
        do (weight among ~40; default 1, 0 never; 20 makes stacks 10+ layers deep).
        --mutate NAME breaks one rule of the model on purpose (a self-test: the run must
        fail fast with a tiny case); NAME is one of: ${Object.keys(MUTATIONS).join(', ')}
compare every distinct divergence of an implementation (drivers: ${DRIVER_NAMES.join(', ')}),
        each shrunk to a minimal case, classed by harm (data, hang, outcome, metadata,
        bookkeeping) and written, worst first, to DIR/report.md, report.json and cases/ as
        soon as it is found (default DIR reports/<driver>[-vs-kernel]); a signal or the time
        budget ends it with the report complete. Signatures in the --expectations file
        (default expectations/<driver>.json if present; "*" patterns allowed within a class)
        are tolerated. --max-findings caps each class; --fail-on sets the classes whose new
        findings exit 1 (default all). Defaults: --runs 300 --steps 25 --time-budget 300
        --max-findings 20 --against model --profile default.
        planted: the kernel with faults planted on purpose (--plant, one of:
        ${Object.keys(PLANTED).join(', ')}), the suite's own check that it finds them.
        exec: --mount-cmd runs through sh with {lowerdir} {upperdir} {workdir} {merged}
        {options} filled in; --umount-cmd likewise (default: umount(2)); --codec kernel,
        fuse-overlayfs or unionfs-fuse names its layer format (default kernel).
cross   an upper dir written through one implementation (--from), mounted by another
        (--to) over the same lowers: the merged views must agree; where they do not, the
        shrunk case and how the two read the upper's format. Defaults: --runs 100 --steps 15.
replay  run case files (see README, "Case files"), checking their known answers too;
        --driver/--against as for compare (default: kernel vs model). --kernel SPEC
        replays them on another kernel, booted under qemu: a line (6.1, 6.12) or a
        linux-image-* package from Debian's lists; cases a kernel cannot hold are skipped,
        each with the reason.
stats   how often generated cases reach each multi-step scenario and single-step
        situation (properties/patterns.ts), per 1000 cases, with the generator's locality
        and scenarios and without them; on the model alone (no mounts). Defaults: --cases
        2000 --steps 25 --seed 1 --profile default.
probe   the kernel's version, module defaults, and which profiles and option combinations
        mount and what /proc/mounts shows for them.
matrix  the suite on several kernels, one report (DIR/report.md, .json, .html; default
        reports/matrix): each profile the kernel can hold, the mount properties, every
        known-answer case, the cross-kernel property (each kernel mounts the layers every
        other one wrote) and \`ovlcheck run\` inside each guest. Guest kernels are Debian's,
        downloaded once (apt-get download) and booted under qemu, two side by side.
        Defaults: --kernels host,6.1,6.12 --runs 300 --steps 25 --jobs 2 --cross 40
        --cli-runs 3 --worker-limit 40.
exit: 0 conforms, 1 divergence, 2 bad input or environment, 3 internal error`;

class UsageError extends Error {}

interface RunArgs {
  runs: number; steps: number; maxLowers: number; entries: number; seed: number; path?: string;
  timeBudget?: number; out: string; mutate?: string; profile: string; options?: string; rotate: number;
}

/** The "--flag value" (or "--flag=value") pairs of argv. */
function* flagPairs(argv: string[]): Generator<[string, string]> {
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    yield [flag, value];
  }
}

/** An integer option: at least 1, or 0 for --steps and --rotate; a seed may be negative. */
function intOption(flag: string, value: string): number {
  const n = Number(value);
  const min = flag === '--seed' ? -(2 ** 31) : flag === '--steps' || flag === '--rotate' ? 0 : 1;
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got "${value}"`);
  return n;
}

function parseRunArgs(argv: string[]): RunArgs {
  const a: RunArgs = {
    runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: (Date.now() ^ (Math.random() * 2 ** 31)) | 0, out: 'ovlcheck-out', profile: 'all', rotate: 1,
  };
  const ints: Record<string, keyof RunArgs> = {
    '--runs': 'runs', '--steps': 'steps', '--rotate': 'rotate', '--max-lowers': 'maxLowers', '--entries': 'entries', '--seed': 'seed', '--time-budget': 'timeBudget',
  };
  for (const [flag, value] of flagPairs(argv)) {
    if (flag in ints) (a as unknown as Record<string, number>)[ints[flag]] = intOption(flag, value);
    else if (flag === '--path') a.path = value;
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
  const sys = localSys(sandbox);
  const kernelRelease = sys.release();
  let divergences = 0;
  let notModelledSeen = false;
  let crashed = false;
  const printers = new Map<string, (p: Progress) => void>();
  try {
    await runSuite(sys, {
      runs: a.runs, steps: a.steps, maxLowers: a.maxLowers, entries: a.entries, seed: a.seed, path: a.path, rotate: a.rotate, mutate: a.mutate,
      timeBudgetMs: a.timeBudget ? a.timeBudget * 1000 : undefined, profiles: profilesToRun(a),
      onCase: (name, p) => {
        if (!printers.has(name)) printers.set(name, progressPrinter(a.runs, name));
        printers.get(name)!(p);
      },
      onResult: (r) => {
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        if (r.kind === 'property') {
          console.log(`ovlcheck: ${r.name === 'mount sequences' ? 'mount sequences (index=on exclusivity and origin)' : r.name}: ${r.summary}`);
          if (r.failureText) {
            divergences++;
            console.log(r.failureText);
          }
          return;
        }
        if (r.status === 'skipped') {
          console.log(`ovlcheck: profile ${r.profile.name} skipped: ${r.why}`);
          return;
        }
        const rate = r.elapsedMs ? Math.round((r.steps * 1000) / r.elapsedMs) : 0;
        console.log(`ovlcheck: profile ${r.profile.name}: ${r.cases} cases, ${r.steps} steps, ${r.failure ? 1 : 0} divergences in ` +
          `${(r.elapsedMs / 1000).toFixed(1)} s (${rate} checked steps/s), stacks up to ${r.deepest} lower layers; kernel ${kernelRelease}, driver kernel, seed ${a.seed}` +
          (r.interrupted ? ' (time budget reached)' : '') +
          (a.mutate ? `; MUTATED MODEL ${a.mutate} (${MUTATIONS[a.mutate].breaks})` : ''));
        if (r.status === 'not-modelled') {
          notModelledSeen = true;
          if (r.errorCase) console.log(r.errorCase);
          console.error(`ovlcheck: ${r.error}`);
        } else if (r.status === 'crash') {
          crashed = true;
          console.error(`ovlcheck: internal error (a bug in ovlcheck, not a divergence), profile ${r.profile.name} seed ${a.seed} path ${r.counterexamplePath}:`);
          if (r.errorCase) console.error(r.errorCase);
          console.error(r.error);
        } else if (r.failure) {
          divergences++;
          console.log(formatFailure(r.failure, saveFailure(r.failure, a.out)));
        }
      },
    });
    return crashed ? 3 : divergences ? 1 : notModelledSeen ? 2 : 0;
  } finally {
    sandbox.close();
  }
}

async function cmdProbe(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const bad = argv.find((x) => x !== '--json');
  if (bad) throw new UsageError(`unknown option "${bad}"`);
  const sandbox = openSandbox();
  try {
    const r = probe(localSys(sandbox));
    console.log(json ? JSON.stringify(r, null, 2) : formatProbe(r));
    return 0;
  } finally {
    sandbox.close();
  }
}

interface DriverChoice extends DriverArgs {
  driver: DriverName;
  against: 'model' | 'kernel';
}

/** --driver, --against and the exec flags; returns the other arguments. */
function takeDriverArgs(argv: string[], defaults: DriverChoice): { choice: DriverChoice; rest: string[] } {
  const choice = { ...defaults };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const known = ['--driver', '--against', '--mount-cmd', '--umount-cmd', '--codec', '--plant'];
    if (!known.includes(flag)) {
      rest.push(argv[i]);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--driver') {
      if (!(DRIVER_NAMES as readonly string[]).includes(value)) throw new UsageError(`--driver: unknown driver "${value}" (one of: ${DRIVER_NAMES.join(', ')})`);
      choice.driver = value as DriverName;
    } else if (flag === '--against') {
      if (value !== 'model' && value !== 'kernel') throw new UsageError(`--against: expected model or kernel, got "${value}"`);
      choice.against = value;
    } else if (flag === '--plant') {
      const names = value.split(',').map((x) => x.trim()).filter(Boolean);
      const unknown = names.filter((n) => !(n in PLANTED));
      if (unknown.length || !names.length) throw new UsageError(`--plant: unknown fault "${unknown[0] ?? value}" (one of: ${Object.keys(PLANTED).join(', ')})`);
      choice.plant = names;
    } else if (flag === '--mount-cmd') choice.mountCmd = value;
    else if (flag === '--umount-cmd') choice.umountCmd = value;
    else {
      if (!(value in CODECS)) throw new UsageError(`--codec: unknown layer format "${value}" (one of: ${Object.keys(CODECS).join(', ')})`);
      choice.codec = value;
    }
  }
  if (choice.driver !== 'exec' && (choice.mountCmd || choice.umountCmd || choice.codec)) throw new UsageError('--mount-cmd, --umount-cmd and --codec are for --driver exec');
  if ((choice.driver === 'planted') !== (choice.plant !== undefined)) throw new UsageError('--driver planted needs --plant FAULT[,FAULT] (and --plant is for it only)');
  if (choice.against === 'kernel' && choice.driver === 'kernel') throw new UsageError('--against kernel needs another --driver than kernel');
  const why = probeDriver(choice.driver, choice) ?? (choice.against === 'kernel' ? probeDriver('kernel') : null);
  if (why) throw new UsageError(`driver ${choice.driver}: ${why}`);
  return { choice, rest };
}

interface CompareArgs extends DriverChoice {
  runs: number; steps: number; seed: number; timeBudget: number; out?: string; expectations?: string; maxFindings: number;
  profile: string; maxLowers: number; entries: number; rotate: number; failOn: HarmClass[];
}

function parseCompareArgs(argv: string[]): CompareArgs {
  const { choice, rest } = takeDriverArgs(argv, { driver: 'kernel', against: 'model' });
  if (!argv.some((a) => a === '--driver' || a.startsWith('--driver='))) throw new UsageError(`compare needs --driver NAME (one of: ${DRIVER_NAMES.join(', ')})`);
  const a: CompareArgs = {
    ...choice, runs: 300, steps: 25, seed: (Date.now() ^ (Math.random() * 2 ** 31)) | 0, maxFindings: 20, profile: 'default', maxLowers: 4, entries: 12, rotate: 1,
    timeBudget: 300, failOn: [...HARM_CLASSES],
  };
  const ints: Record<string, keyof CompareArgs> = {
    '--runs': 'runs', '--steps': 'steps', '--seed': 'seed', '--time-budget': 'timeBudget', '--max-findings': 'maxFindings',
    '--max-lowers': 'maxLowers', '--entries': 'entries', '--rotate': 'rotate',
  };
  for (const [flag, value] of flagPairs(rest)) {
    if (flag in ints) (a as unknown as Record<string, number>)[ints[flag]] = intOption(flag, value);
    else if (flag === '--out') a.out = value;
    else if (flag === '--expectations') a.expectations = value;
    else if (flag === '--profile') a.profile = value;
    else if (flag === '--fail-on') {
      const classes = value.split(',').map((x) => x.trim()).filter(Boolean);
      const bad = classes.find((c) => !isHarmClass(c));
      if (bad !== undefined || !classes.length) throw new UsageError(`--fail-on: "${bad ?? value}" is not a harm class (${HARM_CLASSES.join(', ')})`);
      a.failOn = classes as HarmClass[];
    } else throw new UsageError(`unknown option "${flag}"`);
  }
  profilesToRun({ profile: a.profile } as RunArgs);
  return a;
}

async function cmdCompare(argv: string[]): Promise<number> {
  const a = parseCompareArgs(argv);
  const profile = profilesToRun({ profile: a.profile } as RunArgs)[0];
  const expectationsFile = a.expectations ?? (existsSync(`expectations/${a.driver}.json`) ? `expectations/${a.driver}.json` : undefined);
  const expected: Expectation[] = expectationsFile ? loadExpectations(expectationsFile).expected : [];
  const out = a.out ?? join('reports', a.driver + (a.against === 'kernel' ? '-vs-kernel' : ''));
  const sandbox = openSandbox();
  const driver = makeDriver(a.driver, sandbox, a);
  const reference = a.against === 'kernel' ? makeDriver('kernel', sandbox) : undefined;
  // Where the implementation writes the kernel's format, each case ends with the kernel mounting its layers.
  const kernelReader = a.driver !== 'kernel' ? makeDriver('kernel', sandbox) : undefined;
  const kernelRelease = release();
  try {
    const why = driver.supports?.(profile) ?? reference?.supports?.(profile);
    if (why) throw new UsageError(`driver ${driver.name}: ${why}`);
    const implementation = implementationVersion(a.driver);
    const ctx = {
      driver: a.driver, implementation, against: a.against, kernelRelease, profile: profile.name,
      command: ['ovlcheck compare', ...argv.map(shellWord), ...(argv.some((x) => x.startsWith('--seed')) ? [] : [`--seed ${a.seed}`])].join(' '),
      date: new Date().toISOString(), expectationsFile,
    };
    // The report is written whenever it changes, and once more, synchronously, if a signal ends the run.
    let latest: CompareResult | undefined;
    const forget = beforeSignalExit((signal) => {
      if (!latest) return;
      latest.stoppedBy = 'signal';
      writeCompareReport(out, ctx, latest);
      console.error(`ovlcheck: ${signal}: stopped; ${latest.findings.length} findings so far in ${join(out, 'report.md')}`);
    });
    const elapsed = (ms: number) => `[${(ms / 1000).toFixed(0).padStart(4)} s]`;
    const r = await runCompare({
      driver, reference, kernelReader, profile, kernel: runningKernel(), kernelRelease, runs: a.runs, steps: a.steps,
      maxLowers: a.maxLowers, entries: a.entries, rotate: a.rotate, seed: a.seed, timeBudgetMs: a.timeBudget * 1000,
      expectations: expected, maxPerClass: a.maxFindings,
      crossCheck: a.against === 'model' && a.driver !== 'kernel' ? (f) => kernelVerdict(f, sandbox, kernelRelease) : undefined,
      onUpdate: (partial) => {
        latest = partial;
        writeCompareReport(out, ctx, partial);
      },
      onRound: ({ round, cases, findings, elapsedMs, latest: f, repeated }) => process.stderr.write(`${elapsed(elapsedMs)} ${driver.name}: round ${round}, ${cases} cases, ` +
        `${findings} findings; ${f ? `new: ${f.signature}` : `ended on the known "${repeated}" again`}\n`),
    });
    forget();
    const report = writeCompareReport(out, ctx, r);
    const failing = r.findings.filter((f) => a.failOn.includes(f.harm));
    const perClass = HARM_CLASSES.map((c) => `${c} ${r.findings.filter((f) => f.harm === c).length}`).join(', ');
    console.log(`ovlcheck: compare ${implementation} vs ${a.against}: ${r.cases} cases, ${r.steps} steps, ${r.findings.length} new findings (${perClass})` +
      `${expectationsFile ? `, ${r.expectedSeen.length} expected ones seen` : ''} in ${(r.elapsedMs / 1000).toFixed(1)} s (stopped: ${r.stoppedBy}); seed ${a.seed}; report ${report}`);
    for (const [i, f] of byHarm(r.findings).entries()) console.log(`  ${String(i + 1).padStart(2)}. ${f.signature}`);
    if (r.crash) {
      console.error(`ovlcheck: internal error (a bug in ovlcheck, not a divergence):\n${r.crash.stack ?? r.crash}`);
      return 3;
    }
    if (failing.length < r.findings.length) console.log(`ovlcheck: ${failing.length} of them in the classes that fail (--fail-on ${a.failOn.join(',')})`);
    return failing.length ? 1 : 0;
  } finally {
    await driver.teardown();
    await reference?.teardown();
    await kernelReader?.teardown();
    sandbox.close();
  }
}

/** A finding's minimal case, replayed on the running kernel against the model. */
async function kernelVerdict(f: Failure, sandbox: Sandbox, kernelRelease: string): Promise<string> {
  const kernel = new KernelDriver(sandbox);
  try {
    const c = failureCase(f, new Date().toISOString());
    const r = await replayCase(c, kernel, runningKernel(), kernelRelease);
    return r.failure ? `diverges too (${r.failure.info.signature})` : 'agrees with the model';
  } catch (e) {
    return `cannot run it (${(e as Error).message.split('\n')[0]})`;
  } finally {
    await kernel.teardown();
  }
}

function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

interface CrossArgs {
  from: DriverName; to: DriverName; runs: number; steps: number; seed: number;
}

function parseCrossArgs(argv: string[]): CrossArgs {
  const a: Partial<CrossArgs> = { runs: 100, steps: 15, seed: (Date.now() ^ (Math.random() * 2 ** 31)) | 0 };
  for (const [flag, value] of flagPairs(argv)) {
    if (flag === '--from' || flag === '--to') {
      if (!['kernel', 'fuse-overlayfs', 'unionfs-fuse'].includes(value)) throw new UsageError(`${flag}: expected kernel, fuse-overlayfs or unionfs-fuse, got "${value}"`);
      a[flag === '--from' ? 'from' : 'to'] = value as DriverName;
      const why = probeDriver(value as DriverName);
      if (why) throw new UsageError(`driver ${value}: ${why}`);
    } else if (flag === '--runs' || flag === '--steps' || flag === '--seed') {
      a[flag.slice(2) as 'runs' | 'steps' | 'seed'] = intOption(flag, value);
    } else throw new UsageError(`unknown option "${flag}"`);
  }
  if (!a.from || !a.to) throw new UsageError('cross needs --from NAME and --to NAME');
  if (a.from === a.to) throw new UsageError('cross needs two different implementations');
  return a as CrossArgs;
}

async function cmdCross(argv: string[]): Promise<number> {
  const a = parseCrossArgs(argv);
  const sandbox = openSandbox();
  const writer = makeDriver(a.from, sandbox);
  const reader = makeDriver(a.to, sandbox);
  const started = Date.now();
  try {
    const r = await runCrossUpper({ writer, reader, runs: a.runs, steps: a.steps, seed: a.seed });
    console.log(`ovlcheck: cross ${implementationVersion(a.from)} -> ${implementationVersion(a.to)}: ${r.cases} cases, ` +
      `${r.skipped} skipped (the two differ on the initial stack already), ${r.failure ? 1 : 0} divergences in ${((Date.now() - started) / 1000).toFixed(1)} s; seed ${a.seed}`);
    if (r.failure) console.log(formatCrossFailure(r.failure, { writer: a.from, reader: a.to, seed: a.seed, path: r.path }));
    return r.failure ? 1 : 0;
  } finally {
    await writer.teardown();
    await reader.teardown();
    sandbox.close();
  }
}

interface MatrixArgs {
  kernels: string[]; runs: number; steps: number; seed: number; jobs: number; cross: number; cliRuns: number;
  profile: string; out: string; workerLimit: number; rotate: number;
}

function parseMatrixArgs(argv: string[]): MatrixArgs {
  const a: MatrixArgs = {
    kernels: ['host', '6.1', '6.12'], runs: 300, steps: 25, seed: (Date.now() ^ (Math.random() * 2 ** 31)) | 0, jobs: 2, cross: 40, cliRuns: 3,
    profile: 'all', out: join('reports', 'matrix'), workerLimit: 40, rotate: 1,
  };
  const ints: Record<string, keyof MatrixArgs> = {
    '--runs': 'runs', '--steps': 'steps', '--seed': 'seed', '--jobs': 'jobs', '--cross': 'cross', '--cli-runs': 'cliRuns', '--worker-limit': 'workerLimit', '--rotate': 'rotate',
  };
  for (const [flag, value] of flagPairs(argv)) {
    if (flag === '--cross' || flag === '--cli-runs') {
      if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: expected an integer >= 0, got "${value}"`);
      (a as unknown as Record<string, number>)[ints[flag]] = Number(value);
    } else if (flag in ints) (a as unknown as Record<string, number>)[ints[flag]] = intOption(flag, value);
    else if (flag === '--kernels') a.kernels = value.split(',').map((k) => k.trim()).filter(Boolean);
    else if (flag === '--profile') a.profile = value;
    else if (flag === '--out') a.out = value;
    else throw new UsageError(`unknown option "${flag}"`);
  }
  if (a.kernels.length === 0) throw new UsageError('--kernels: name at least one (host, 6.1, 6.12, or a linux-image-* package)');
  for (const k of a.kernels) if (k !== 'host' && !/^\d+\.\d+$/.test(k) && !k.startsWith('linux-image-')) throw new UsageError(`--kernels: "${k}" is not host, a line such as 6.1, or a linux-image-* package`);
  profilesToRun({ profile: a.profile } as RunArgs);
  return a;
}

async function cmdMatrix(argv: string[], whole: string[]): Promise<number> {
  const a = parseMatrixArgs(argv);
  const workDir = join(process.env.OVLCHECK_TMP ?? '/tmp', 'matrix');
  mkdirSync(workDir, { recursive: true });
  const r = await runMatrix({
    kernels: a.kernels, runs: a.runs, steps: a.steps, seed: a.seed, rotate: a.rotate, jobs: a.jobs, out: a.out, crossCases: a.cross, cliRuns: a.cliRuns,
    workerLimitMs: a.workerLimit * 60_000, workDir, profiles: profilesToRun({ profile: a.profile } as RunArgs).map((p) => p.name),
    command: ['ovlcheck', ...whole.map(shellWord), ...(whole.some((x) => x.startsWith('--seed')) ? [] : [`--seed ${a.seed}`])].join(' '),
  });
  const bad = unexplained(r);
  console.log(`ovlcheck: matrix of ${r.kernels.length} kernels (${r.kernels.map((k) => k.release ?? k.spec).join(', ')}) in ${(r.elapsedMs / 60000).toFixed(1)} min: ` +
    `${bad.length} unexplained; report ${join(a.out, 'report.md')} (also .html, .json); seed ${a.seed}`);
  for (const b of bad) console.log(`  ${b.kernel}: ${b.row}: ${b.short}`);
  if (r.kernels.some((k) => k.status === 'error')) return 3; // a worker failed: a bug in ovlcheck
  if (r.kernels.some((k) => k.status === 'hang') || bad.some((b) => !/^kernel status/.test(b.row))) return 1;
  return bad.length ? 2 : 0; // a kernel that did not boot, or a worker past its limit
}

async function cmdStats(argv: string[]): Promise<number> {
  const a = { cases: 2000, steps: 25, seed: 1, profile: 'default' };
  for (const [flag, value] of flagPairs(argv)) {
    if (flag === '--cases' || flag === '--steps' || flag === '--seed') a[flag.slice(2) as 'cases' | 'steps' | 'seed'] = intOption(flag, value);
    else if (flag === '--profile') a.profile = value;
    else throw new UsageError(`unknown option "${flag}"`);
  }
  const profile = profilesToRun({ profile: a.profile } as RunArgs)[0];
  const o = { cases: a.cases, steps: a.steps, seed: a.seed, profile, kernel: runningKernel() };
  const [off, on] = [await patternStats({ ...o, locality: false }), await patternStats(o)];
  console.log(`ovlcheck stats: ${on.cases} cases of up to ${a.steps} steps, seed ${a.seed}, profile ${profile.name}; per 1000 cases`);
  console.log(`${'pattern'.padEnd(32)} ${'kind'.padEnd(12)} ${'without locality'.padStart(16)} ${'with'.padStart(6)}`);
  for (const [i, r] of on.rates.entries()) {
    console.log(`${r.pattern.padEnd(32)} ${r.kind.padEnd(12)} ${String(off.rates[i].perThousand).padStart(16)} ${String(r.perThousand).padStart(6)}`);
  }
  console.log(`${'(steps per case)'.padEnd(45)} ${(off.steps / off.cases).toFixed(1).padStart(16)} ${(on.steps / on.cases).toFixed(1).padStart(6)}`);
  return 0;
}

/** --kernel SPEC: where replay and run send their syscalls (the running kernel, or a guest). */
function takeKernelArg(argv: string[]): { kernel: string; rest: string[] } {
  const rest: string[] = [];
  let kernel = 'host';
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    if (flag !== '--kernel') {
      rest.push(argv[i]);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError('--kernel needs a value (host, a line such as 6.1, or a linux-image-* package)');
    kernel = value;
  }
  return { kernel, rest };
}

function readCases(files: string[]): { file: string; c: CaseFile }[] {
  return files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new UsageError(`${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return { file: f, c: parseCase(text, f) };
  });
}

async function cmdReplay(argv: string[]): Promise<number> {
  const { kernel: target, rest: args } = takeKernelArg(argv);
  const { choice, rest: files } = takeDriverArgs(args, { driver: 'kernel', against: 'model' });
  const flag = files.find((f) => f.startsWith('--'));
  if (flag) throw new UsageError(`unknown option "${flag}"`);
  if (files.length === 0) throw new UsageError('replay needs at least one case file');
  if (target !== 'host' && (choice.driver !== 'kernel' || choice.against !== 'model')) throw new UsageError('--kernel replays the kernel against the model');
  const cases = readCases(files);
  if (choice.driver === 'kernel' && choice.against === 'model') return replayOnKernelTarget(target, cases);
  const sandbox = openSandbox();
  const driver: Driver = makeDriver(choice.driver, sandbox, choice);
  const reference = choice.against === 'kernel' ? makeDriver('kernel', sandbox) : undefined;
  const kernelReader = choice.driver !== 'kernel' ? makeDriver('kernel', sandbox) : undefined; // used where the layers are in its format
  const kernelRelease = release();
  let bad = 0;
  try {
    for (const { file, c } of cases) {
      // A case compare found against this driver replays with what compare tolerated then.
      const r = await replayCase(c, driver, runningKernel(), kernelRelease, reference, toleratedBy(c), kernelReader);
      if (r.failure) console.log(formatFailure(r.failure));
      for (const e of r.knownAnswerErrors) console.log(`known answer: ${e}`);
      const verdict = r.failure ? 'DIVERGES' : r.knownAnswerErrors.length ? 'WRONG KNOWN ANSWER' : 'ok';
      const found = (c.divergence as { signature?: string } | undefined)?.signature;
      const same = r.failure && found ? (r.failure.info.signature === found ? ' (as when found)' : ` (found as: ${found})`) : '';
      console.log(`${verdict}${same}  ${file}${c.name ? `  (${c.name})` : ''}`);
      if (verdict !== 'ok') bad++;
    }
  } finally {
    await driver.teardown();
    await reference?.teardown();
    sandbox.close();
  }
  return bad ? 1 : 0;
}

/** Case files on the running kernel or a guest, each against the model at that kernel's version. */
async function replayOnKernelTarget(spec: string, cases: { file: string; c: CaseFile }[]): Promise<number> {
  const sandbox = openSandbox();
  let t: Target | undefined;
  let driver: KernelDriver | undefined;
  let bad = 0;
  let errors = 0;
  try {
    t = await openTarget(spec, sandbox, { workDir: join(sandbox.root, 'replay'), say: (l) => console.error(`ovlcheck: ${l}`) });
    driver = new KernelDriver(t.sys);
    const layerFs = probeLayerFs(t.sys);
    for (const { file, c } of cases) {
      const v = await replayOnKernel(c, driver, layerFs);
      if (v.detail) console.log(v.detail);
      const found = (c.divergence as { signature?: string } | undefined)?.signature;
      const same = v.signature && found ? (v.signature === found ? ' (as when found)' : ` (found as: ${found})`) : '';
      const label = v.status === 'skipped' ? `skipped (${v.why})` : v.status === 'error' ? `CANNOT RUN (${v.why})` : v.status === 'ok' ? 'ok' : v.status.toUpperCase();
      console.log(`${label}${same}  ${file}${c.name ? `  (${c.name})` : ''}`);
      if (v.status === 'diverges' || v.status === 'wrong known answer') bad++;
      if (v.status === 'error') errors++;
    }
  } finally {
    await driver?.teardown().catch(() => {});
    await t?.close();
    sandbox.close();
  }
  return bad ? 1 : errors ? 2 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      console.log(USAGE);
      return cmd ? 0 : 2;
    }
    if (!['run', 'replay', 'probe', 'compare', 'cross', 'matrix', 'matrix-worker', 'stats'].includes(cmd)) throw new UsageError(`unknown command "${cmd}" (try --help)`);
    if (cmd === 'stats') return await cmdStats(rest); // the model only: no root, no namespace
    if (cmd === 'matrix') parseMatrixArgs(rest);
    // Reject bad options and unusable drivers before anything else.
    if (cmd === 'run') parseRunArgs(rest);
    if (cmd === 'compare') parseCompareArgs(rest);
    if (cmd === 'cross') parseCrossArgs(rest);
    if (cmd === 'replay') takeDriverArgs(takeKernelArg(rest).rest, { driver: 'kernel', against: 'model' });
    if (cmd === 'run' || cmd === 'probe') checkEnvironment();
    else if (process.getuid?.() !== 0) throw new UsageError('must run as root: the drivers mount in a private namespace');
    if (!inPrivateNamespace()) {
      // Every mount lives in a private mount namespace that dies with the process.
      return await runInPrivateNamespace(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv]);
    }
    if (cmd === 'probe') return await cmdProbe(rest);
    if (cmd === 'matrix') return await cmdMatrix(rest, argv);
    if (cmd === 'matrix-worker') return await workerMain(rest[0]);
    if (cmd === 'compare') return await cmdCompare(rest);
    if (cmd === 'cross') return await cmdCross(rest);
    return cmd === 'run' ? await cmdRun(rest) : await cmdReplay(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof CaseError || e instanceof NotModelled || e instanceof ExpectationsError || e instanceof SetupError) {
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
