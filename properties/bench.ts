// npm run bench: checked steps per second (each step applied to model and kernel and every
// view compared) on stacks of about 50 entries, and set-up / teardown time per case.

import fc from 'fast-check';
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

const CASES = 60;
/** `npm run bench -- --coverage`: with the coverage recorder on, as `ovlcheck run --coverage` runs. */
const COVERAGE = process.argv.includes('--coverage');
const STEPS = 30;

function entries(stack: StackSpec): number {
  return stack.lowers.reduce((n, l) => n + Object.keys(l).length, 0);
}

async function bench(): Promise<void> {
  const kernelRelease = release();
  const kernel = runningKernel();
  const stacks = fc.sample(layerStack({ maxLowers: 4, maxEntriesPerLayer: 24 }), { numRuns: 2000, seed: 7 })
    .filter((s) => s.lowers.length >= 3 && entries(s) >= 40 && entries(s) <= 60).slice(0, CASES);
  // File operations only: a remount or rotate step costs a umount and a mount (about 2 ms).
  const ops = fc.sample(opArbitrary(0, 0), { numRuns: CASES * STEPS, seed: 8 });
  const sandbox = openSandbox();
  const driver = new KernelDriver(sandbox);
  if (COVERAGE) {
    startCoverage();
    coverageContext('bench');
  }
  let setupMs = 0, teardownMs = 0, stepMs = 0, steps = 0, divergences = 0, sizes = 0, firstCompareMs = 0;
  try {
    // Set-up and teardown alone: materialize every layer, mount; unmount, drop the tmpfs.
    for (const stack of stacks) {
      let t = performance.now();
      await driver.setup(stack, DEFAULT_PROFILE);
      setupMs += performance.now() - t;
      t = performance.now();
      await driver.teardown();
      teardownMs += performance.now() - t;
    }
    // Checked steps: every view compared after each one.
    for (const [i, stack] of stacks.entries()) {
      sizes += entries(stack);
      const session = new Session(driver, DEFAULT_PROFILE, kernel);
      const candidates = candidatePaths(stack);
      let t = performance.now();
      await session.start(stack).catch(() => divergences++);
      firstCompareMs += performance.now() - t;
      t = performance.now();
      for (let k = 0; k < STEPS; k++) {
        try {
          await session.step(resolveOp(ops[i * STEPS + k], candidates));
        } catch (e) {
          if (!(e instanceof Divergence)) throw e;
          divergences++;
          break;
        }
      }
      stepMs += performance.now() - t;
      steps += session.history.length;
      await session.close();
    }
  } finally {
    await driver.teardown();
    sandbox.close();
  }
  const n = stacks.length;
  console.log(`ovlcheck bench: kernel ${kernelRelease}, ${n} cases, ${(sizes / n).toFixed(0)} layer entries per case, ${steps} steps${COVERAGE ? ', coverage recorded' : ''}`);
  console.log(`  checked steps/s        ${Math.round((steps * 1000) / stepMs)}   (${((stepMs * 1000) / steps).toFixed(0)} µs per step: model + syscall + snapshot + diff of merged, upper, every lower)`);
  console.log(`  set-up per case        ${(setupMs / n).toFixed(2)} ms   (materialize + mount)`);
  console.log(`  start of a case        ${(firstCompareMs / n).toFixed(2)} ms   (set-up + the first full comparison of every view)`);
  console.log(`  teardown per case      ${(teardownMs / n).toFixed(2)} ms   (umount overlay + tmpfs)`);
  if (divergences) console.log(`  (${divergences} cases stopped early at a divergence)`);
}

if (inPrivateNamespace()) await bench();
else process.exitCode = await runInPrivateNamespace(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
