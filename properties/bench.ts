// npm run bench: checked steps per second (each step applied to model and kernel and every
// view compared) on stacks of about 50 entries, and set-up / teardown time per case.

import fc from 'fast-check';
import { execa } from 'execa';
import { runningKernel } from '../harness/sys.js';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE, type StackSpec } from '../model/index.js';
import { coverageContext, startCoverage } from '../model/coverage.js';
import { KernelDriver } from '../harness/drivers/kernel.js';
import { inPrivateNamespace, runInPrivateNamespace } from '../harness/namespace.js';
import { openSandbox } from '../harness/sandbox.js';
import { opArbitrary } from './arb/ops.js';
import { layerStack } from './arb/layerStack.js';
import { candidatePaths, resolveOp } from './commands.js';
import { Divergence, Session } from './session.js';

const CASES = 120;
/** Cases run first and not counted: the JIT compiles the hot paths (a run of the suite lasts a minute or more). */
const WARMUP = 20;
/** `npm run bench -- --coverage`: with the coverage recorder on, as `ovlcheck run --coverage` runs. */
const COVERAGE = process.argv.includes('--coverage');
const STEPS = 30;

function entries(stack: StackSpec): number {
  return stack.lowers.reduce((n, l) => n + Object.keys(l).length, 0);
}

interface Figures {
  kernelRelease: string;
  cases: number;
  sizes: number;
  steps: number;
  stepMs: number;
  setupMs: number;
  teardownMs: number;
  firstCompareMs: number;
  divergences: number;
  /** When the checked steps began and ended (ms since the epoch): workers' rates add up only where these overlap. */
  from: number;
  to: number;
  /** CPU time of every thread of the worker during the checked steps: user (JS, JIT, GC) and kernel. */
  userMs: number;
  systemMs: number;
}

/** One worker's bench: the same stacks and steps in every worker, each on a sandbox of its own. */
async function measure(): Promise<Figures> {
  const kernelRelease = release();
  const kernel = runningKernel();
  const stacks = fc.sample(layerStack({ maxLowers: 4, maxEntriesPerLayer: 24 }), { numRuns: 2000, seed: 7 })
    .filter((s) => s.lowers.length >= 3 && entries(s) >= 40 && entries(s) <= 60).slice(0, CASES);
  const warmOps = fc.sample(opArbitrary(0, 0), { numRuns: WARMUP * STEPS, seed: 9 });
  // File operations only: a remount or rotate step costs a umount and a mount (about 2 ms).
  const ops = fc.sample(opArbitrary(0, 0), { numRuns: CASES * STEPS, seed: 8 });
  const sandbox = openSandbox();
  const driver = new KernelDriver(sandbox);
  if (COVERAGE) {
    startCoverage();
    coverageContext('bench');
  }
  const f: Figures = { kernelRelease, cases: stacks.length, sizes: 0, steps: 0, stepMs: 0, setupMs: 0, teardownMs: 0, firstCompareMs: 0, divergences: 0, from: 0, to: 0, userMs: 0, systemMs: 0 };
  try {
    // Set-up and teardown alone: materialize every layer, mount; unmount, drop the tmpfs.
    for (const stack of stacks) {
      let t = performance.now();
      await driver.setup(stack, DEFAULT_PROFILE);
      f.setupMs += performance.now() - t;
      t = performance.now();
      await driver.teardown();
      f.teardownMs += performance.now() - t;
    }
    // Warm-up: the first stacks with other steps, not counted.
    for (const [i, stack] of stacks.slice(0, WARMUP).entries()) {
      const session = new Session(driver, DEFAULT_PROFILE, kernel);
      const candidates = candidatePaths(stack);
      try {
        await session.start(stack);
        for (let k = 0; k < STEPS; k++) await session.step(resolveOp(warmOps[i * STEPS + k], candidates));
      } catch (e) {
        if (!(e instanceof Divergence)) throw e;
      }
      await session.close();
    }
    // Checked steps: every view compared after each one.
    f.from = performance.timeOrigin + performance.now();
    const cpu = process.cpuUsage();
    for (const [i, stack] of stacks.entries()) {
      f.sizes += entries(stack);
      const session = new Session(driver, DEFAULT_PROFILE, kernel);
      const candidates = candidatePaths(stack);
      let t = performance.now();
      await session.start(stack).catch(() => f.divergences++);
      f.firstCompareMs += performance.now() - t;
      t = performance.now();
      for (let k = 0; k < STEPS; k++) {
        try {
          await session.step(resolveOp(ops[i * STEPS + k], candidates));
        } catch (e) {
          if (!(e instanceof Divergence)) throw e;
          f.divergences++;
          break;
        }
      }
      f.stepMs += performance.now() - t;
      f.steps += session.history.length;
      await session.close();
    }
    f.to = performance.timeOrigin + performance.now();
    const used = process.cpuUsage(cpu);
    f.userMs = used.user / 1000;
    f.systemMs = used.system / 1000;
  } finally {
    await driver.teardown();
    sandbox.close();
  }
  return f;
}

/** --jobs N: N workers at once, each in a mount namespace of its own, as `ovlcheck run --jobs N` runs them. */
async function measureInWorkers(jobs: number): Promise<Figures[]> {
  const me = fileURLToPath(import.meta.url);
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--jobs' && all[i - 1] !== '--jobs');
  return Promise.all(Array.from({ length: jobs }, async () => {
    const r = await execa('unshare', ['--mount', '--propagation', 'private', process.execPath, me, ...args, WORKER_FLAG], { stderr: 'inherit' });
    return JSON.parse(r.stdout) as Figures;
  }));
}

function print(all: Figures[]): void {
  const [f] = all;
  const n = f.cases;
  const sum = (k: 'cases' | 'sizes' | 'steps' | 'stepMs' | 'setupMs' | 'teardownMs' | 'firstCompareMs' | 'divergences' | 'userMs' | 'systemMs') => all.reduce((x, w) => x + w[k], 0);
  const rate = (w: Figures) => (w.steps * 1000) / w.stepMs;
  const total = all.reduce((x, w) => x + rate(w), 0);
  const jobs = all.length;
  console.log(`ovlcheck bench: kernel ${f.kernelRelease}, ${n} cases (after ${WARMUP} not counted), ${(f.sizes / n).toFixed(0)} layer entries per case, ${sum('steps')} steps` +
    `${jobs > 1 ? `, ${jobs} workers side by side` : ''}${COVERAGE ? ', coverage recorded' : ''}`);
  console.log(`  checked steps/s        ${Math.round(total)}   (${jobs > 1 ? `${all.map((w) => Math.round(rate(w))).join(' + ')}; ` : ''}` +
    `${((sum('stepMs') * 1000) / sum('steps')).toFixed(0)} µs per step in a worker: model + syscall + snapshot + diff of merged, upper, every lower)`);
  const wall = all.reduce((x, w) => x + (w.to - w.from), 0);
  const share = (ms: number) => ((ms / wall) * 100).toFixed(0);
  console.log(`  CPU while stepping     ${share(sum('userMs') + sum('systemMs'))}% of a core a worker, every thread of it ` +
    `(${share(sum('userMs'))}% user: JS, JIT, GC; ${share(sum('systemMs'))}% kernel)`);
  console.log(`  set-up per case        ${(sum('setupMs') / (n * jobs)).toFixed(2)} ms   (materialize + mount)`);
  console.log(`  start of a case        ${(sum('firstCompareMs') / (n * jobs)).toFixed(2)} ms   (set-up + the first full comparison of every view)`);
  console.log(`  teardown per case      ${(sum('teardownMs') / (n * jobs)).toFixed(2)} ms   (umount overlay + tmpfs)`);
  // Rates add up only while every worker is at its steps: say how much of the time they were.
  const overlap = Math.max(0, Math.min(...all.map((w) => w.to)) - Math.max(...all.map((w) => w.from))) / Math.max(...all.map((w) => w.to - w.from));
  if (jobs > 1) console.log(`  workers side by side   ${(overlap * 100).toFixed(0)}% of the time${overlap < 0.9 ? '  (under 90%: the sum overstates)' : ''}`);
  if (sum('divergences')) console.log(`  (${sum('divergences')} cases stopped early at a divergence)`);
}

const WORKER_FLAG = '--bench-worker';
const jobsAt = process.argv.indexOf('--jobs');
const JOBS = jobsAt > 0 ? Number(process.argv[jobsAt + 1]) : 1;
if (!Number.isInteger(JOBS) || JOBS < 1 || JOBS > 64) {
  console.error('ovlcheck bench: --jobs N: an integer from 1 to 64');
  process.exit(2);
}
if (process.argv.includes(WORKER_FLAG)) console.log(JSON.stringify(await measure()));
else if (!inPrivateNamespace()) process.exitCode = await runInPrivateNamespace(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
else print(JOBS > 1 ? await measureInWorkers(JOBS) : [await measure()]);
