// ovlcheck's commands: run the conformance property against the running kernel, compare other
// implementations, replay case files, probe, matrix, merge (the --json of a run's shards).
// Exit codes: 0 conforms, 1 divergence, 2 bad input or unusable environment, 3 ovlcheck bug.

import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants, release } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { NotModelled } from '../model/index.js';
import { coverageContext, startCoverage, takeCoverage } from '../model/coverage.js';
import { totalsLine, writeCoverage } from './coverageReport.js';
import { KernelDriver, probeOverlaySupport } from '../harness/drivers/kernel.js';
import { kernelOf, localSys, runningKernel, type Sys } from '../harness/sys.js';
import { runSuite, type SuiteOptions } from './suite.js';
import { runSuiteInWorkers, WorkerFailed, WorkerKilled } from './workers.js';
import { inPrivateNamespace, markStarted, NamespaceError, runInPrivateNamespace } from '../harness/namespace.js';
import { dieWithParent, hasSysAdmin, NO_SYS_ADMIN } from '../harness/lifeline.js';
import { beforeSignalExit, installHandlers, openSandbox, type Sandbox } from '../harness/sandbox.js';
import { CaseError, parseCase, type CaseFile } from './caseFile.js';
import { isMountCase, parseMountCase, replayMountCase, type MountCase } from './mountCase.js';
import { compareVersions, writeVersionsReport } from './versions.js';
import { fuseTargetOf, issueText, reproInput } from './repro.js';
import { loadUpstream, upstreamEntryFor, UpstreamError } from './upstream.js';
import { reproScript } from './reproScript.js';
import { crossFailureCase, isCrossCase, parseCrossCase, replayCrossCase, type CrossCase } from './crossCase.js';
import {
  checkDriverEnvironment, checkOutDir, driverWords, outDirOf, shellWord, parseCommandLine, profilesToRun, quote, UsageError,
  type CompareArgs, type CrossArgs, type ReproArgs, type VersionsArgs, type MatrixArgs, type MergeArgs, type ProbeArgs, type ReplayArgs, type RunArgs, type StatsArgs,
} from './cliArgs.js';
import type { Progress } from './conformance.js';
import { failureCase, formatFailure, type Failure } from './report.js';
import { MUTATIONS } from './mutations.js';
import { optionSetProfiles } from './optionSets.js';
import { formatProbe, probe } from './probeReport.js';
import { cannotRun, replayCase, replayOnKernel, toleratedBy } from './replay.js';
import { openTarget, type Target } from '../harness/guest/target.js';
import { probeLayerFs } from '../harness/probe.js';
import { SetupError } from '../harness/guest/executor.js';
import { runMatrix } from './matrix/run.js';
import { patternStats } from './stats.js';
import { kernelName, rows as matrixRows, unexplained } from './matrix/report.js';
import { workerMain } from './matrix/worker.js';
import { makeDriver } from '../harness/drivers/index.js';
import type { Driver } from '../harness/driver.js';
import { byHarm, ExpectationsError, loadExpectations, runCompare, type CompareResult, type Expectation } from './compareRun.js';
import { HARM_CLASSES } from './harm.js';
import { findingCaseFile, replayCommand, writeCompareReport } from './compareReport.js';
import { formatCrossFailure, runCrossUpper } from './crossUpper.js';
import { implementationVersion } from '../harness/drivers/versions.js';
import { linkSysctlsProblem } from '../harness/creds.js';
import { mergeResults, readResults } from './merge.js';
import { ResultLog, verdictOf, writeOutputs, type OutputFiles, type TestResult } from './outputs.js';

function checkEnvironment(): void {
  const why = probeOverlaySupport();
  if (why) throw new UsageError(why);
}

function progressPrinter(runs: number, profile: string): (p: Progress) => void {
  let last = 0;
  const tty = process.stderr.isTTY;
  return (p) => {
    const now = Date.now();
    // Every 5 s, and the last generated case (shrinking goes on past it: not every one of those).
    if (!tty && now - last < 5000 && (p.shrinking || p.cases !== runs)) return;
    last = now;
    const rate = p.elapsedMs ? Math.round((p.steps * 1000) / p.elapsedMs) : 0;
    const where = p.shrinking ? `shrinking: ${p.cases - p.generated} smaller cases tried` : `cases ${p.cases}/${runs}`;
    const line = `${profile}: ${where}  steps ${p.steps}  ${rate} steps/s  ${(p.elapsedMs / 1000).toFixed(1)} s`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
}

function saveFailure(f: Failure, out: string): string {
  const date = new Date().toISOString();
  return saveCase(failureCase(f, date), out, `seed${f.seed ?? 'replay'}`);
}

/** A case file under out, named by the time and what found it; returns its path. */
function saveCase(c: unknown, out: string, what: string): string {
  mkdirSync(out, { recursive: true });
  const file = join(out, `divergence-${new Date().toISOString().replace(/[:.]/g, '-')}-${what}.json`);
  writeFileSync(file, JSON.stringify(c, null, 2) + '\n');
  return file;
}

async function cmdRun(a: RunArgs, argv: string[], log: ResultLog): Promise<number> {
  const sandbox = openSandbox();
  const sys = localSys(sandbox);
  const kernelRelease = sys.release();
  const started = Date.now();
  let divergences = 0;
  let notModelledSeen = false;
  let crashed = false;
  const tally = { profiles: 0, optionSets: 0, skipped: 0, cases: 0, steps: 0, properties: 0, interrupted: false };
  const printers = new Map<string, (p: Progress) => void>();
  if (a.coverage) startCoverage();
  log.shard = a.shard;
  // Workers share the cases (--jobs; a replay of one case runs here); their results come back in the suite's order.
  const jobs = a.path !== undefined ? 1 : a.jobs ?? availableParallelism(); // one worker per core by default
  const suite = jobs > 1 ? (s: Sys, o: SuiteOptions) => runSuiteInWorkers(s, o, jobs) : runSuite;
  try {
    await suite(sys, {
      runs: a.runs, steps: a.steps, maxLowers: a.maxLowers, entries: a.entries, seed: a.seed, path: a.path, rotate: a.rotate, mutate: a.mutate,
      deadline: a.timeBudget ? started + a.timeBudget * 1000 : undefined, profiles: a.profile === 'none' ? [] : profilesToRun(a),
      optionSets: a.optionSets > 0 ? { profiles: optionSetProfiles(kernelOf(sys), a.seed), cases: a.optionSets } : undefined, shard: a.shard,
      onCase: (name, p) => {
        if (!printers.has(name)) printers.set(name, progressPrinter(a.runs, name));
        printers.get(name)!(p);
      },
      onResult: (r) => {
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        if (r.kind === 'property') {
          tally.properties++;
          console.log(`ovlcheck: ${r.name === 'mount sequences' ? 'mount sequences (index=on exclusivity and origin)' : r.name}: ${r.summary}`);
          const test: TestResult = { suite: 'property', name: r.name, status: r.failureText ? 'fail' : 'pass', summary: r.signature ?? r.summary };
          if (r.failureText) {
            divergences++;
            console.log(r.failureText);
            test.details = r.failureText;
            if (r.caseFile) {
              test.caseFile = saveCase(r.caseFile, a.out, `${r.name.replace(/\W+/g, '-')}-seed${a.seed}`);
              test.replay = `ovlcheck replay ${test.caseFile}`;
              console.log(`replay: ${test.replay}`);
            }
          }
          log.add(test);
          tally.interrupted ||= r.interrupted ?? false;
          return;
        }
        const what = r.optionSet ? 'options' : 'profile';
        const test: TestResult = { suite: what, name: r.profile.name, status: 'pass' };
        if (r.status === 'skipped') {
          tally.skipped++;
          console.log(`ovlcheck: ${what} ${r.profile.name} skipped: ${r.why}`);
          log.add({ ...test, status: 'skip', summary: r.why });
          return;
        }
        if (r.status === 'refused') {
          divergences++;
          const line = `options ${r.profile.name}: the model accepts them (S1.15), ${r.why}; ovlcheck probe compares such combinations`;
          console.log(`DIVERGENCE: ${line}`);
          log.add({ ...test, status: 'fail', summary: line, harm: 'outcome' });
          return;
        }
        Object.assign(test, { timeMs: r.elapsedMs, cases: r.cases, steps: r.steps });
        if (r.optionSet) tally.optionSets++;
        else tally.profiles++;
        tally.cases += r.cases;
        tally.steps += r.steps;
        tally.interrupted ||= r.interrupted;
        const rate = r.elapsedMs ? Math.round((r.steps * 1000) / r.elapsedMs) : 0;
        console.log(`ovlcheck: ${what} ${r.profile.name}: ${r.cases} cases, ${r.steps} steps, ${r.failure ? 1 : 0} divergences in ` +
          `${(r.elapsedMs / 1000).toFixed(1)} s (${rate} checked steps/s), stacks up to ${r.deepest} lower layers; kernel ${kernelRelease}, driver kernel, seed ${a.seed}` +
          (r.interrupted ? ' (time budget reached)' : '') +
          (a.mutate ? `; MUTATED MODEL ${a.mutate} (${MUTATIONS[a.mutate].breaks})` : ''));
        if (r.status === 'not-modelled') {
          notModelledSeen = true;
          if (r.errorCase) console.log(r.errorCase);
          console.error(`ovlcheck: ${r.error}`);
          Object.assign(test, { status: 'error', summary: `not modelled: ${r.error}`, details: r.errorCase });
        } else if (r.status === 'crash') {
          crashed = true;
          console.error(`ovlcheck: internal error (a bug in ovlcheck, not a divergence), profile ${r.profile.name} seed ${a.seed} path ${r.counterexamplePath}:`);
          if (r.errorCase) console.error(r.errorCase);
          console.error(r.error);
          Object.assign(test, { status: 'error', summary: 'internal error (a bug in ovlcheck)', details: [r.errorCase, r.error].filter(Boolean).join('\n') });
        } else if (r.failure) {
          divergences++;
          const file = saveFailure(r.failure, a.out);
          console.log(formatFailure(r.failure, file));
          Object.assign(test, {
            status: 'fail', summary: r.failure.info.signature, details: formatFailure(r.failure), harm: r.failure.info.harm ?? 'data',
            caseFile: file, replay: `ovlcheck replay ${file}`,
          });
        }
        log.add(test);
      },
    });
    // Every profile and option set skipped (rootless mode without subordinate ids, say): that is no verdict on the kernel.
    const nothingRan = tally.profiles + tally.optionSets === 0 && tally.skipped > 0;
    const code = crashed ? 3 : divergences ? 1 : notModelledSeen || nothingRan ? 2 : 0;
    if (a.coverage) {
      const source = `\`ovlcheck run${argv.slice(1).map((w) => ` ${shellWord(w)}`).join('')}\`, kernel ${kernelRelease}, seed ${a.seed}, ${new Date().toISOString()}: ` +
        `${tally.cases} cases, ${tally.steps} steps${a.mutate ? `, MUTATED MODEL ${a.mutate}` : ''}.`;
      reportCoverage(a.out, source);
    }
    const incomplete = notModelledSeen ? 'INCOMPLETE (a profile the model does not hold)' : 'INCOMPLETE (nothing ran: every profile was skipped here, the reasons are above)';
    const verdict = ['CONFORMS', `DIVERGES (${divergences})`, incomplete, 'INTERNAL ERROR (a bug in ovlcheck)'][code];
    console.log(`ovlcheck: ${verdict}: kernel ${kernelRelease}, ${tally.profiles} profiles${tally.optionSets ? ` and ${tally.optionSets} option sets` : ''} ` +
      `(${tally.skipped} skipped), ${tally.cases} cases, ` +
      `${tally.steps} steps${tally.properties ? ' and the mount properties' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s` +
      `${tally.interrupted ? ' (time budget reached)' : ''}; seed ${a.seed}${a.shard ? `; shard ${a.shard.index}/${a.shard.count}` : ''}` +
      `${jobs > 1 ? `; ${jobs} workers` : ''}; exit ${code}`);
    return code;
  } catch (e) {
    if (e instanceof WorkerKilled) {
      console.error(`ovlcheck: ${e.message}`);
      return 128 + constants.signals[e.signal];
    }
    if (!(e instanceof WorkerFailed)) throw e;
    console.error(`ovlcheck: internal error (a bug in ovlcheck): ${e.message}`); // the worker's own error is above
    return 3;
  } finally {
    sandbox.close();
  }
}

/** Writes the coverage recorded since startCoverage to out, and says where. */
function reportCoverage(out: string, source: string): void {
  const r = writeCoverage(out, takeCoverage(), source);
  console.log(`ovlcheck: coverage: ${totalsLine(r)}; ${join(out, 'coverage.md')} (also coverage.json)`);
}

async function cmdProbe({ json }: ProbeArgs): Promise<number> {
  const sandbox = openSandbox();
  try {
    const r = probe(localSys(sandbox));
    console.log(json ? JSON.stringify(r, null, 2) : formatProbe(r));
    return 0;
  } finally {
    sandbox.close();
  }
}

async function cmdCompare(a: CompareArgs, argv: string[], log: ResultLog): Promise<number> {
  const profile = profilesToRun({ profile: a.profile })[0];
  const expectationsFile = a.expectations ?? (existsSync(`expectations/${a.driver}.json`) ? `expectations/${a.driver}.json` : undefined);
  const expected: Expectation[] = expectationsFile ? loadExpectations(expectationsFile).expected : [];
  const out = a.out;
  loadUpstream(out); // checked before the run: the report reads it whenever it is written
  const sandbox = openSandbox();
  const driver = makeDriver(a.driver, sandbox, a);
  const reference = a.against === 'kernel' ? makeDriver('kernel', sandbox) : undefined;
  // Where the implementation writes the kernel's format, each case ends with the kernel mounting its layers.
  const kernelReader = a.driver !== 'kernel' ? makeDriver('kernel', sandbox) : undefined;
  const kernelRelease = release();
  try {
    const why = driver.supports?.(profile) ?? reference?.supports?.(profile);
    if (why) throw new UsageError(`driver ${driver.name}: ${why}`);
    const implementation = implementationVersion(a.driver, a);
    const ctx = {
      driver: driverWords(a), implementation, against: a.against, kernelRelease, profile: profile.name,
      command: ['ovlcheck', ...argv.map(shellWord), ...(argv.some((x) => x.startsWith('--seed')) ? [] : [`--seed ${a.seed}`])].join(' '),
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
    log.add({
      suite: 'compare', name: `${implementation} vs ${a.against}, profile ${profile.name}`, status: r.crash ? 'error' : failing.length ? 'fail' : 'pass',
      summary: `${r.findings.length} new findings (${perClass}); ${failing.length} in the classes that fail`, timeMs: r.elapsedMs, cases: r.cases, steps: r.steps,
      ...(r.crash ? { details: String(r.crash.stack ?? r.crash) } : {}),
    });
    for (const [i, f] of byHarm(r.findings).entries()) {
      const file = findingCaseFile(out, i);
      const fails = a.failOn.includes(f.harm);
      log.add({
        suite: 'finding', name: `${f.harm}: ${f.signature}`, status: fails ? 'fail' : 'skip', harm: f.harm,
        summary: fails ? f.signature : `not in --fail-on: ${f.signature}`, details: formatFailure(f.failure) + (f.kernel ? `\non the kernel: ${f.kernel}` : ''),
        caseFile: file, replay: replayCommand({ driver: a.driver, against: a.against }, file),
      });
    }
    for (const e of r.expectedSeen) log.add({ suite: 'expected', name: e.signature, status: 'skip', summary: `expected: ${e.reason}` });
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

/** A reproducer run as its own process (exit status; 124 if it ran past 5 minutes). */
async function runScript(script: string, args: string[]): Promise<number> {
  const r = await execa('sh', [script, ...args], { reject: false, timeout: 300_000, env: { OVLCHECK_REPRO_NS: '' } });
  return r.timedOut ? 124 : (r.exitCode ?? 128);
}

/** One script per case (and the issue text with --issue); exit 2 if any case has none. */
async function cmdRepro(a: ReproArgs, cases: LoadedCase[]): Promise<number> {
  const sandbox = openSandbox();
  const driver = makeDriver(a.driver, sandbox, a);
  const kernelReader = makeDriver('kernel', sandbox);
  const target = fuseTargetOf(a);
  let missing = 0;
  try {
    for (const { file, c } of cases) {
      const input = await reproInput(c!, file, driver, target, runningKernel(), kernelReader);
      if (typeof input === 'string') {
        console.log(`no script  ${file}: ${input}`);
        missing++;
        continue;
      }
      const dir = a.out ?? join(dirname(dirname(file)), 'repro');
      mkdirSync(dir, { recursive: true });
      const base = join(dir, basename(file, '.json'));
      writeFileSync(`${base}.sh`, reproScript(input), { mode: 0o755 });
      if (a.verify) {
        // Run alone, as a maintainer would: the fault on the implementation, none on the kernel.
        const [onImpl, onKernel] = [await runScript(`${base}.sh`, []), await runScript(`${base}.sh`, ['kernel'])];
        if (onImpl !== 1 || onKernel !== 0) {
          rmSync(`${base}.sh`);
          console.log(`no script  ${file}: the script does not show it alone (exit ${onImpl} on ${a.driver}, ${onKernel} on the kernel)`);
          missing++;
          continue;
        }
      }
      if (a.issue) writeFileSync(`${base}.issue.md`, issueText(input, upstreamEntryFor(file, a.out, input.signature)));
      console.log(`written    ${base}.sh${a.issue ? ` and ${base}.issue.md` : ''}${a.verify ? ' (exit 1 on it, 0 on the kernel)' : ''}  (${input.signature})`);
    }
  } finally {
    await driver.teardown();
    await kernelReader.teardown();
    sandbox.close();
  }
  return missing ? 2 : 0;
}

async function cmdVersions(a: VersionsArgs): Promise<number> {
  const sandbox = openSandbox();
  try {
    const v = await compareVersions(a.older, a.newer, sandbox, (line) => console.log(`  ${line}`));
    writeVersionsReport(a.out, v);
    const count = (s: string) => v.rows.filter((r) => r.status === s).length;
    console.log(`ovlcheck: versions ${v.older.implementation} -> ${v.newer.implementation}: ${v.rows.length} findings, new ${count('new')}, ` +
      `still there ${count('still there')}, fixed ${count('fixed')}, changed ${count('changed')}, replaying as found on neither ${count('does not replay')}; report ${join(a.out, 'report.md')}`);
    return 0;
  } finally {
    sandbox.close();
  }
}

async function cmdCross(a: CrossArgs): Promise<number> {
  const sandbox = openSandbox();
  const writer = makeDriver(a.from, sandbox);
  const reader = makeDriver(a.to, sandbox);
  const started = Date.now();
  try {
    const r = await runCrossUpper({ writer, reader, runs: a.runs, steps: a.steps, seed: a.seed });
    console.log(`ovlcheck: cross ${implementationVersion(a.from)} -> ${implementationVersion(a.to)}: ${r.cases} cases, ` +
      `${r.skipped} skipped (the two differ on the initial stack already), ${r.failure ? 1 : 0} divergences in ${((Date.now() - started) / 1000).toFixed(1)} s; seed ${a.seed}`);
    if (r.failure) {
      console.log(formatCrossFailure(r.failure, { writer: a.from, reader: a.to, seed: a.seed, path: r.path }));
      const c = crossFailureCase(r.failure, { from: a.from, to: a.to, seed: a.seed, path: r.path, kernelRelease: release(), date: new Date().toISOString() });
      console.log(`replay: ovlcheck replay ${saveCase(c, a.out, `cross-${a.from}-to-${a.to}-seed${a.seed}`)}`);
    }
    return r.failure ? 1 : 0;
  } finally {
    await writer.teardown();
    await reader.teardown();
    sandbox.close();
  }
}

async function cmdMatrix(a: MatrixArgs, whole: string[], log: ResultLog): Promise<number> {
  const workDir = join(process.env.OVLCHECK_TMP ?? '/tmp', 'matrix');
  mkdirSync(workDir, { recursive: true });
  const r = await runMatrix({
    kernels: a.kernels, runs: a.runs, steps: a.steps, seed: a.seed, rotate: a.rotate, jobs: a.jobs, out: a.out, crossCases: a.cross, cliRuns: a.cliRuns,
    workerLimitMs: a.workerLimit * 60_000, workDir, profiles: profilesToRun({ profile: a.profile }).map((p) => p.name),
    command: ['ovlcheck', ...whole.map(shellWord), ...(whole.some((x) => x.startsWith('--seed')) ? [] : [`--seed ${a.seed}`])].join(' '),
  });
  const bad = unexplained(r);
  // One test per cell: a kernel's suite, a row's name.
  for (const row of matrixRows(r)) {
    for (const [i, c] of row.cells.entries()) {
      if (c.verdict === 'none') continue;
      const status = c.verdict === 'pass' ? 'pass' : c.verdict === 'skipped' ? 'skip' : 'fail';
      log.add({ suite: kernelName(r.kernels[i]), name: `${row.group} ${row.name}`, status, summary: status === 'skip' ? (c.detail ?? c.short) : c.short, ...(c.detail && status === 'fail' ? { details: c.detail } : {}) });
    }
  }
  console.log(`ovlcheck: matrix of ${r.kernels.length} kernels (${r.kernels.map((k) => k.release ?? k.spec).join(', ')}) in ${(r.elapsedMs / 60000).toFixed(1)} min: ` +
    `${bad.length} unexplained; report ${join(a.out, 'report.md')} (also .html, .json); seed ${a.seed}`);
  for (const b of bad) console.log(`  ${b.kernel}: ${b.row}: ${b.short}`);
  if (r.kernels.some((k) => k.status === 'error')) return 3; // a worker failed: a bug in ovlcheck
  if (r.kernels.some((k) => k.status === 'hang') || bad.some((b) => !/^kernel status/.test(b.row))) return 1;
  return bad.length ? 2 : 0; // a kernel that did not boot, or a worker past its limit
}

function cmdMerge(a: MergeArgs): number {
  if (a.outputs) checkOutputFiles(a.outputs);
  const merged = mergeResults(a.files.map((file) => ({ file, r: readResults(file) })));
  if (a.outputs && Object.values(a.outputs).includes('-')) console.log = console.error.bind(console);
  for (const t of merged.tests.filter((x) => x.status === 'fail' || x.status === 'error')) {
    console.log(`${t.status === 'fail' ? 'DIVERGENCE' : 'ERROR'}: ${t.suite} ${t.name}: ${t.summary ?? ''}${t.replay ? `\n  replay: ${t.replay}` : ''}`);
  }
  const n = merged.totals;
  console.log(`ovlcheck: merged ${a.files.length} shards: ${merged.verdict}: ${n.tests} tests (${n.pass} passed, ${n.fail} failed, ${n.skip} skipped, ` +
    `${n.error} errors), ${n.cases} cases, ${n.steps} steps; kernel ${merged.kernel}${merged.seed !== undefined ? `; seed ${merged.seed}` : ''}; exit ${merged.exitCode}`);
  writeOutputs(merged, a.outputs ?? {});
  return merged.exitCode;
}

async function cmdStats(a: StatsArgs): Promise<number> {
  const profile = profilesToRun({ profile: a.profile })[0];
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

/** A case file, read and checked: a case of steps, a mount case (properties/mountCase.ts) or a cross case (crossCase.ts). */
type LoadedCase =
  | { file: string; c: CaseFile; mount?: undefined; cross?: undefined }
  | { file: string; c?: undefined; mount: MountCase; cross?: undefined }
  | { file: string; c?: undefined; mount?: undefined; cross: CrossCase };

function readCases(files: string[]): LoadedCase[] {
  return files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such case file' : code === 'EISDIR' ? 'a directory, not a case file' : code === 'EACCES' ? 'not readable (permission denied)' : `cannot read it (${code ?? (e as Error).message})`;
      throw new UsageError(`${quote(f, 120)}: ${why}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined; // parseCase says what is wrong
    }
    if (isCrossCase(raw)) return { file: f, cross: parseCrossCase(text, f) };
    return isMountCase(raw) ? { file: f, mount: parseMountCase(text, f) } : { file: f, c: parseCase(text, f) };
  });
}

async function cmdReplay(choice: ReplayArgs, cases: LoadedCase[], log: ResultLog): Promise<number> {
  const target = choice.kernel;
  if (choice.driver === 'kernel' && choice.against === 'model') return replayOnKernelTarget(target, cases, log);
  const sandbox = openSandbox();
  const driver: Driver = makeDriver(choice.driver, sandbox, choice);
  const reference = choice.against === 'kernel' ? makeDriver('kernel', sandbox) : undefined;
  const kernelReader = choice.driver !== 'kernel' ? makeDriver('kernel', sandbox) : undefined; // used where the layers are in its format
  const kernelRelease = release();
  let bad = 0;
  try {
    for (const { file, c } of cases) {
      if (!c) continue; // a mount case: refused for other drivers before anything ran
      const cannot = cannotRun(c, driver) ?? (reference && cannotRun(c, reference))
        ?? [driver, reference].find((d) => d && !d.remountOptions && c.steps.some((s) => s.op === 'remount' && s.options !== undefined))?.name?.concat(' cannot remount with other options');
      if (cannot) {
        console.log(`skipped  ${file}: ${cannot}`);
        log.add({ suite: 'case', name: file, status: 'skip', summary: cannot });
        continue;
      }
      coverageContext(file);
      // A case compare found against this driver replays with what compare tolerated then.
      const r = await replayCase(c, driver, runningKernel(), kernelRelease, reference, toleratedBy(c), kernelReader);
      if (r.failure) console.log(formatFailure(r.failure));
      for (const e of r.knownAnswerErrors) console.log(`known answer: ${e}`);
      const verdict = r.failure ? 'DIVERGES' : r.knownAnswerErrors.length ? 'WRONG KNOWN ANSWER' : 'ok';
      const found = (c.divergence as { signature?: string } | undefined)?.signature;
      const same = r.failure && found ? (r.failure.info.signature === found ? ' (as when found)' : ` (found as: ${found})`) : '';
      console.log(`${verdict}${same}  ${file}${c.name ? `  (${c.name})` : ''}`);
      if (verdict !== 'ok') bad++;
      const flags = `--driver ${driverWords(choice)} ${choice.against === 'kernel' ? '--against kernel ' : ''}`;
      log.add(caseTest(file, verdict === 'ok' ? 'pass' : 'fail', `${verdict}${same}`, [r.failure ? formatFailure(r.failure) : '', ...r.knownAnswerErrors.map((e) => `known answer: ${e}`)], r.failure?.info.harm, flags));
    }
  } finally {
    await driver.teardown();
    await reference?.teardown();
    sandbox.close();
  }
  return bad ? 1 : 0;
}

/** A case file's test in the standard outputs: it replays itself, so its replay command is the file. */
function caseTest(file: string, status: TestResult['status'], summary: string, details: string[], harm?: string, replayFlags = ''): TestResult {
  const text = details.filter(Boolean).join('\n');
  return {
    suite: 'case', name: file, status, summary, ...(text ? { details: text } : {}), ...(harm && status === 'fail' ? { harm } : {}),
    ...(status === 'fail' ? { caseFile: file, replay: `ovlcheck replay ${replayFlags}${file}` } : {}),
  };
}

/** Cross cases, each through its own two implementations on this machine; returns how many diverge. */
async function replayCrossCases(cases: LoadedCase[], log: ResultLog): Promise<number> {
  if (!cases.some((x) => x.cross)) return 0;
  let bad = 0;
  const sandbox = openSandbox();
  try {
    for (const { file, cross } of cases) {
      if (!cross) continue;
      const r = await replayCrossCase(cross, sandbox);
      if (r.divergence) console.log(r.divergence);
      const found = cross.divergence?.signature;
      const same = r.signature && found ? (r.signature === found ? ' (as when found)' : ` (found as: ${found})`) : '';
      console.log(`${r.skipped ? `skipped (${r.skipped})` : r.divergence ? 'DIVERGES' : 'ok'}${same}  ${file}${cross.name ? `  (${cross.name})` : ''}`);
      if (r.divergence) bad++;
      log.add(caseTest(file, r.skipped ? 'skip' : r.divergence ? 'fail' : 'pass', r.skipped ?? `${r.divergence ? 'DIVERGES' : 'ok'}${same}`, [r.divergence ?? '']));
    }
  } finally {
    sandbox.close();
  }
  return bad;
}

/** Case files on the running kernel or a guest, each against the model at that kernel's version. */
async function replayOnKernelTarget(spec: string, cases: LoadedCase[], log: ResultLog): Promise<number> {
  const sandbox = openSandbox();
  let t: Target | undefined;
  let driver: KernelDriver | undefined;
  let bad = 0;
  let errors = 0;
  try {
    t = await openTarget(spec, sandbox, { workDir: join(sandbox.root, 'replay'), say: (l) => console.error(`ovlcheck: ${l}`) });
    driver = new KernelDriver(t.sys);
    const layerFs = probeLayerFs(t.sys);
    for (const { file, c, mount } of cases) {
      coverageContext(file);
      if (mount) {
        const m = await replayMountCase(mount, t.sys);
        if (m.divergence) console.log(m.divergence);
        for (const e of m.knownAnswerErrors) console.log(`known answer: ${e}`);
        const found = (mount.divergence as { signature?: string } | undefined)?.signature;
        const same = m.signature && found ? (m.signature === found ? ' (as when found)' : ` (found as: ${found})`) : '';
        const label = m.skipped ? `skipped (${m.skipped})` : m.divergence ? 'DIVERGES' : m.knownAnswerErrors.length ? 'WRONG KNOWN ANSWER' : 'ok';
        console.log(`${label}${same}  ${file}${mount.name ? `  (${mount.name})` : ''}`);
        if (m.divergence || m.knownAnswerErrors.length) bad++;
        const status = m.skipped ? 'skip' : m.divergence || m.knownAnswerErrors.length ? 'fail' : 'pass';
        log.add(caseTest(file, status, m.skipped ?? `${label}${same}`, [m.divergence ?? '', ...m.knownAnswerErrors.map((e) => `known answer: ${e}`)]));
        continue;
      }
      if (!c) continue; // a cross case: replayCrossCases ran it
      const v = await replayOnKernel(c, driver, layerFs);
      if (v.detail) console.log(v.detail);
      const found = (c.divergence as { signature?: string } | undefined)?.signature;
      const same = v.signature && found ? (v.signature === found ? ' (as when found)' : ` (found as: ${found})`) : '';
      const label = v.status === 'skipped' ? `skipped (${v.why})` : v.status === 'error' ? `CANNOT RUN (${v.why})` : v.status === 'ok' ? 'ok' : v.status.toUpperCase();
      console.log(`${label}${same}  ${file}${c.name ? `  (${c.name})` : ''}`);
      if (v.status === 'diverges' || v.status === 'wrong known answer') bad++;
      if (v.status === 'error') errors++;
      const status = v.status === 'ok' ? 'pass' : v.status === 'skipped' ? 'skip' : v.status === 'error' ? 'error' : 'fail';
      log.add(caseTest(file, status, v.why ?? `${label}${same}`, [v.detail ?? '']));
    }
  } finally {
    await driver?.teardown().catch(() => {});
    await t?.close();
    sandbox.close();
  }
  return bad ? 1 : errors ? 2 : 0;
}

/** The verdicts of the exit codes, for the standard outputs. */
/**
 * Runs a command that reports tests, then writes the standard outputs it was asked for; a
 * signal that ends the run writes them too, with what ended so far. With one of them on
 * stdout, the human output goes to stderr.
 */
async function withOutputs(a: { outputs?: OutputFiles; seed?: number }, argv: string[], body: (log: ResultLog) => Promise<number>): Promise<number> {
  const log = new ResultLog(argv[0], argv, release(), a.seed);
  const files = a.outputs ?? {};
  if (Object.values(files).includes('-')) console.log = console.error.bind(console);
  const forget = beforeSignalExit((signal) => writeOutputs(log.finish(128 + constants.signals[signal], `STOPPED (${signal})`), files));
  let code = 3;
  try {
    code = await body(log);
    return code;
  } finally {
    forget();
    writeOutputs(log.finish(code, verdictOf(code)), files);
  }
}

/** Each output file can be written: its directory as for --out, and not a directory itself. */
function checkOutputFiles(files: OutputFiles): void {
  for (const [k, f] of Object.entries(files)) {
    if (f === '-') continue;
    if (f === '') throw new UsageError(`--${k}: empty path`);
    if (existsSync(f) && statSync(f).isDirectory()) throw new UsageError(`--${k} ${quote(f, 80)}: a directory, not a file`);
    try {
      checkOutDir(dirname(f), { force: true });
    } catch (e) {
      throw e instanceof UsageError ? new UsageError(`--${k}: ${e.message.replace(/^--out /, '')}`) : e;
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const line = parseCommandLine(argv);
    if (line.kind === 'help') {
      (line.exitCode ? console.error : console.log)(line.text);
      return line.exitCode;
    }
    if (line.kind === 'version') {
      console.log(line.text);
      return 0;
    }
    if (line.cmd === 'stats') return await cmdStats(line.args); // the model only: no root, no namespace
    if (line.cmd === 'merge') return cmdMerge(line.args); // files only
    // Everything the machine and the inputs can be refused for, before anything is mounted.
    if (line.cmd === 'run' || line.cmd === 'probe') checkEnvironment();
    else if (process.getuid?.() !== 0) throw new UsageError('must run as root: the drivers mount in a private namespace');
    if (!hasSysAdmin()) throw new UsageError(NO_SYS_ADMIN);
    const onHost = line.cmd !== 'probe' && line.cmd !== 'matrix-worker' && (line.cmd !== 'matrix' || line.args.kernels.includes('host')) && (line.cmd !== 'replay' || line.args.kernel === 'host');
    const sysctls = onHost ? linkSysctlsProblem() : null;
    if (sysctls) throw new UsageError(sysctls);
    if (line.cmd === 'compare' || line.cmd === 'repro' || (line.cmd === 'replay' && line.args.kernel === 'host')) checkDriverEnvironment(line.args);
    if (line.cmd === 'cross') for (const driver of [line.args.from, line.args.to]) checkDriverEnvironment({ driver, against: 'model' });
    if (line.cmd === 'versions') {
      for (const side of [line.args.older, line.args.newer]) {
        checkDriverEnvironment({ driver: side.name, version: side.version, against: 'model' });
        if (!existsSync(join(side.dir, 'cases'))) throw new UsageError(`versions: ${quote(side.dir, 120)} holds no cases/ (a report directory of ovlcheck compare)`);
      }
    }
    const out = outDirOf(line);
    if (out) checkOutDir(out.dir, { force: out.force });
    const cases = line.cmd === 'replay' || line.cmd === 'repro' ? readCases(line.args.files) : [];
    if (line.cmd === 'repro' && cases.some((x) => !x.c)) throw new UsageError(`${quote(cases.find((x) => !x.c)!.file, 120)}: repro takes the cases compare saved, not mount or cross cases`);
    const mountCase = cases.find((x) => x.mount);
    if (mountCase && line.cmd === 'replay' && (line.args.driver !== 'kernel' || line.args.against !== 'model')) {
      throw new UsageError(`${quote(mountCase.file, 120)}: a mount case replays on the kernel against the model only`);
    }
    const crossCase = cases.find((x) => x.cross);
    if (crossCase && line.cmd === 'replay' && line.args.kernel !== 'host') {
      throw new UsageError(`${quote(crossCase.file, 120)}: a cross case replays on this machine's implementations (its "from" and "to"), not with --kernel`);
    }
    if (line.cmd === 'compare' && line.args.expectations) loadExpectations(line.args.expectations);
    if ('outputs' in line.args && line.args.outputs) checkOutputFiles(line.args.outputs);
    if (!inPrivateNamespace()) {
      // Every mount lives in a private mount namespace that dies with the process.
      return await runInPrivateNamespace(process.execPath, [...process.execArgv, fileURLToPath(new URL('./cli.js', import.meta.url)), ...argv], { markStarted: true });
    }
    switch (line.cmd) {
      case 'probe': return await cmdProbe(line.args);
      case 'matrix-worker': return await workerMain(line.args.job);
      case 'cross': return await cmdCross(line.args);
      case 'versions': return await cmdVersions(line.args);
      case 'repro': return await cmdRepro(line.args, cases);
      case 'matrix': return await withOutputs(line.args, argv, (log) => cmdMatrix(line.args, argv, log));
      case 'compare': return await withOutputs(line.args, argv, (log) => cmdCompare(line.args, argv, log));
      case 'run': return await withOutputs(line.args, argv, (log) => cmdRun(line.args, argv, log));
      case 'replay': return await withOutputs(line.args, argv, async (log) => {
        if (line.args.coverage) startCoverage();
        const crossBad = await replayCrossCases(cases, log);
        const code = cases.some((x) => !x.cross) ? await cmdReplay(line.args, cases, log) : 0;
        if (line.args.coverage) {
          const source = `\`ovlcheck replay${argv.slice(1).map((w) => ` ${shellWord(w)}`).join('')}\`, kernel ${release()}, ${new Date().toISOString()}: ${cases.length} case files.`;
          reportCoverage(line.args.out!, source);
        }
        return crossBad ? 1 : code;
      });
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof NamespaceError || e instanceof CaseError || e instanceof NotModelled || e instanceof ExpectationsError || e instanceof UpstreamError || e instanceof SetupError) {
      console.error(`ovlcheck: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

/**
 * The command line, run as the process's own: the CLI (properties/cli.ts) comes here once its
 * first handlers have held any signal that arrived while this module loaded (early).
 */
export function runProcess(argv: string[], early: NodeJS.Signals[]): void {
  if (inPrivateNamespace() && process.pid === 1) {
    installHandlers(); // pid 1 of the namespace: a signal it does not handle never arrives
    markStarted();
  } else {
    dieWithParent('SIGTERM'); // npx, a CI runner or a shell killed: this run stops too
  }
  if (early.length) process.exit(128 + constants.signals[early[0]]); // nothing has started yet; 'exit' removes the temp dir
  main(argv).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`ovlcheck: internal error: ${(e as Error).stack ?? e}`);
      process.exit(3);
    },
  );
}
