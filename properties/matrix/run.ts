// `ovlcheck matrix`: the suite on several kernels, one report. Guest kernels are found in
// Debian's lists, downloaded and prepared once (cached); each kernel is worked by a process of
// its own (worker.ts), two side by side; then each reads the layers the others wrote (the
// cross-kernel property); then the CLI itself runs inside each guest. Results are written to
// the report as they arrive, so a run cut short leaves what it found.

import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { copyImage } from '../../harness/guest/images.js';
import { packageRoot } from '../../harness/guest/executor.js';
import { buildInitramfs } from '../../harness/guest/kernels.js';
import { guestKernel } from '../../harness/guest/target.js';
import { runInGuest } from '../../harness/guest/vm.js';
import { writeMatrixReport, type CliRow, type MatrixResult } from './report.js';
import type { KernelResult, WorkerJob } from './types.js';

export interface MatrixOptions {
  kernels: string[];
  runs: number;
  steps: number;
  seed: number;
  rotate: number;
  profiles: string[];
  /** Workers side by side. */
  jobs: number;
  out: string;
  /** Cases each kernel writes for the others to read. */
  crossCases: number;
  /** `ovlcheck run` inside each guest with this many cases per profile (0: not run). */
  cliRuns: number;
  /** A worker that runs longer is killed and reported as such. */
  workerLimitMs: number;
  command: string;
  /** Where guests' files and images go (a dir of this run's own). */
  workDir: string;
}

/** Workers run the built CLI (also when this runs from the sources, under vitest). */
const cli = () => path.join(packageRoot(), 'dist', 'properties', 'cli.js');

function elapsed(since: number): string {
  const s = Math.round((Date.now() - since) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A line per kernel as its worker reports, at most every 15 s each unless something ended. */
function progressBoard(started: number): (kernel: string, what: string) => void {
  const last = new Map<string, number>();
  return (kernel, what) => {
    const event = !/\d+\/\d+/.test(what); // "120/300 cases" is progress; anything else is news
    if (!event && Date.now() - (last.get(kernel) ?? 0) < 15_000) return;
    last.set(kernel, Date.now());
    process.stderr.write(`[${elapsed(started)}] ${kernel}: ${what}\n`);
  };
}

async function runWorkerProcess(job: WorkerJob, limitMs: number, progress: (kernel: string, what: string) => void): Promise<KernelResult> {
  fs.mkdirSync(job.dir, { recursive: true });
  const jobFile = path.join(job.dir, 'job.json');
  fs.writeFileSync(jobFile, JSON.stringify(job, null, 2));
  const child = execa(process.execPath, [cli(), 'matrix-worker', jobFile], {
    stdout: 'pipe', stderr: { file: path.join(job.dir, 'worker.log') }, reject: false, timeout: limitMs, killSignal: 'SIGKILL',
  });
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const p = JSON.parse(line) as { kernel: string; what: string };
        progress(p.kernel, p.what);
      } catch {
        /* not a progress line */
      }
    }
  });
  const r = await child;
  const file = path.join(job.dir, 'result.json');
  const result: KernelResult = fs.existsSync(file)
    ? JSON.parse(fs.readFileSync(file, 'utf8'))
    : { spec: job.kernel, where: job.kernel === 'host' ? 'host' : 'guest', status: 'error', elapsedMs: 0, profiles: [], properties: [], knownAnswers: [] };
  if (r.timedOut) Object.assign(result, { status: 'timeout', why: `killed after ${limitMs / 60000} min` });
  else if (r.exitCode !== 0 && r.exitCode !== 1 && result.status === 'done') {
    const log = fs.readFileSync(path.join(job.dir, 'worker.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
    Object.assign(result, { status: 'error', why: `the worker exited with ${r.exitCode ?? r.signal}: ${log}` });
  }
  return result;
}

/** Runs tasks at most `jobs` at a time, in order. */
async function pool<T>(tasks: (() => Promise<T>)[], jobs: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }));
  return results;
}

export async function runMatrix(o: MatrixOptions): Promise<MatrixResult> {
  const started = Date.now();
  const progress = progressBoard(started);
  const label = (spec: string) => spec.replace(/[^\w.+-]/g, '_');
  const { workDir: _temp, ...options } = o; // the temp dir means nothing once the run is over
  const result: MatrixResult = { date: new Date().toISOString(), command: o.command, options, kernels: [], cli: [], elapsedMs: 0 };
  const report = () => {
    result.elapsedMs = Date.now() - started;
    result.kernels.sort((a, b) => o.kernels.indexOf(a.spec) - o.kernels.indexOf(b.spec)); // columns as asked for
    writeMatrixReport(o.out, result);
  };
  // Prepare every guest kernel first, one at a time: downloads, unpacking, the initramfs.
  for (const spec of o.kernels.filter((k) => k !== 'host')) {
    progress(spec, 'preparing the kernel (downloaded and unpacked once, then cached)');
    await buildInitramfs(await guestKernel(spec, (l) => progress(spec, l)));
  }
  const caseDir = path.join(packageRoot(), 'properties', 'cases');
  const caseFiles = fs.readdirSync(caseDir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(caseDir, f));
  const dirOf = (spec: string, phase: string) => path.join(o.workDir, `${label(spec)}-${phase}`);
  const image = (spec: string) => path.join(o.workDir, `xk-${label(spec)}.img`);
  const manifest = (spec: string) => path.join(o.workDir, `xk-${label(spec)}.json`);
  // Guests first: they take longest.
  const order = [...o.kernels.filter((k) => k !== 'host'), ...o.kernels.filter((k) => k === 'host')];
  const main = await pool(order.map((spec) => async () => {
    const r = await runWorkerProcess({
      kernel: spec, runs: o.runs, steps: o.steps, seed: o.seed, rotate: o.rotate, profiles: o.profiles, caseFiles, dir: dirOf(spec, 'main'),
      casesDir: path.join(o.out, 'cases', label(spec)),
      ...(o.crossCases > 0 ? { crossWrite: { cases: o.crossCases, image: image(spec), manifest: manifest(spec) } } : {}),
    }, o.workerLimitMs, progress);
    progress(spec, `done (${r.status}) in ${(r.elapsedMs / 1000).toFixed(0)} s`);
    result.kernels.push(r);
    report();
    return r;
  }), o.jobs);
  // Each kernel reads what every other one wrote, from a copy of its image.
  const wrote = main.filter((r) => r.crossWritten).map((r) => r.spec);
  if (o.crossCases > 0 && wrote.length > 1) {
    await pool(order.map((reader) => async () => {
      const writers = wrote.filter((w) => w !== reader);
      const crossRead = [];
      for (const w of writers) {
        const copy = path.join(o.workDir, `xk-${label(w)}-for-${label(reader)}.img`);
        await copyImage(image(w), copy);
        crossRead.push({ image: copy, manifest: manifest(w) });
      }
      const r = await runWorkerProcess({
        kernel: reader, runs: 0, steps: 0, seed: o.seed, rotate: 0, profiles: [], caseFiles: [], dir: dirOf(reader, 'read'), casesDir: path.join(o.out, 'cases', label(reader)), crossRead,
      }, o.workerLimitMs, progress);
      const into = result.kernels.find((k) => k.spec === reader);
      if (into) into.crossRead = r.crossRead ?? [];
      if (into && r.status !== 'done') into.crossReadStatus = `${r.status}: ${r.why ?? ''}`;
      progress(reader, `read the others' layers (${r.status})`);
      report();
      for (const c of crossRead) fs.rmSync(c.image, { force: true });
    }), o.jobs);
  }
  // The CLI itself, inside each guest.
  if (o.cliRuns > 0) {
    await pool(o.kernels.filter((k) => k !== 'host').map((spec) => async () => {
      const command = `npx ovlcheck run --runs ${o.cliRuns} --steps 10 --seed ${o.seed} --out /tmp/job/out`;
      progress(spec, `running "${command}" inside the guest (Node under emulation: slow)`);
      const kernel = await guestKernel(spec);
      const job = await runInGuest(kernel, {
        workDir: dirOf(spec, 'cli'), project: packageRoot(), timeLimitMs: Math.min(o.workerLimitMs, 15 * 60_000),
        // npm offline and without lifecycle scripts: the guest has no network, and dist/ is built.
        script: [
          'export HOME=/tmp/home PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          'export NPM_CONFIG_OFFLINE=true NPM_CONFIG_IGNORE_SCRIPTS=true NPM_CONFIG_UPDATE_NOTIFIER=false',
          `mkdir -p $HOME && cd '${packageRoot()}' && ${command}`, '',
        ].join('\n'),
      });
      const row: CliRow = { kernel: spec, release: kernel.release, command, status: job.status, elapsedMs: job.elapsedMs, output: job.output.trim().split('\n').slice(-40).join('\n'), console: job.console };
      result.cli.push(row);
      progress(spec, `ovlcheck run inside the guest: ${job.status === null ? 'did not finish' : `exit ${job.status}`} in ${(job.elapsedMs / 1000).toFixed(0)} s`);
      report();
    }), o.jobs);
  }
  report();
  for (const f of fs.readdirSync(o.workDir)) if (f.endsWith('.img')) fs.rmSync(path.join(o.workDir, f), { force: true });
  return result;
}
