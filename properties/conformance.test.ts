// The suite itself, with a CI-sized budget: the running kernel against the model, for every
// profile the model holds and the kernel mounts.
import { release } from 'node:os';
import { describe, expect, it, vi } from 'vitest';
import { namedProfile, notModelled, PROFILES } from '../model/index.js';
import { coverageContext } from '../model/coverage.js';
import { useCoverage } from './coverageForTests.js';
import { profileOptions } from '../harness/drivers/kernelOptions.js';
import { useKernelDriver } from '../harness/drivers/kernelForTests.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { runConformance, type RunOptions } from './conformance.js';
import { MUTATIONS } from './mutations.js';
import { predictMount } from '../model/mountCheck.js';
import { formatMountFailure, formatSequenceFailure, runMountSequences, runMountValidation } from './mountValidation.js';
import { stepSequence } from '../model/mountSequence.js';
import { openSandbox } from '../harness/sandbox.js';
import { localSys, runningKernel } from '../harness/sys.js';
import { formatFailure } from './report.js';
import { runSuite } from './suite.js';

const kernelRelease = release();
const RUNS = Number(process.env.OVLCHECK_CI_RUNS ?? 150);
const modelled = Object.keys(PROFILES).map(namedProfile).filter((p) => !notModelled(p));

useCoverage('conformance'); // npm test's coverage table (reports/coverage)

describe.skipIf(!inPrivateNamespace())('conformance against the running kernel', () => {
  const kernelDriver = useKernelDriver();
  const options = (over: Partial<RunOptions>): RunOptions => ({
    runs: RUNS, steps: 20, maxLowers: 4, maxEntriesPerLayer: 12, seed: 20261126, profile: modelled[0],
    kernel: runningKernel(), kernelRelease, driver: kernelDriver(), ...over,
  });

  for (const profile of modelled) {
    it(`profile ${profile.name} (${profileOptions(profile, runningKernel())}): ${RUNS} random cases, every step compared, then remounted`, async () => {
      coverageContext(`profile ${profile.name}`);
      const s = await runConformance(options({ profile }));
      expect(s.crash?.stack ?? '').toBe('');
      expect(s.failure ? formatFailure(s.failure) : '').toBe('');
      expect(s.cases).toBe(RUNS);
    }, 600_000);
  }

  it('rotation deepens stacks past one page of mount options, mounted with lowerdir+= (S1.10)', async () => {
    coverageContext('rotation (deep stacks)');
    const s = await runConformance(options({ runs: 12, steps: 150, rotateWeight: 80, seed: 7 }));
    expect(s.failure ? formatFailure(s.failure) : '').toBe('');
    expect(s.deepest).toBeGreaterThan(60);
  }, 300_000);

  for (const [name, m] of Object.entries(MUTATIONS)) {
    it(`has teeth (profile ${m.profile}): a model that breaks ${m.breaks} fails with a case of at most ${m.maxSteps ?? 3} steps`, async () => {
      // Shrinking bounded by a count, not by time (the default is 120 s), and minimize.ts then unbounded: how small the
      // case gets does not depend on the machine's speed. fast-check alone needed up to 500 s for some of them here.
      const s = await runConformance(options({ runs: 300, modelStep: m.step, seed: 1, profile: namedProfile(m.profile), shrinkBudgetMs: Infinity, maxShrinks: 1000 }));
      expect(s.failure, `mutation ${name} was not caught`).not.toBeNull();
      expect(s.failure!.history.length, formatFailure(s.failure!)).toBeLessThanOrEqual(m.maxSteps ?? 3);
    }, 1_800_000); // a hang guard only
  }

  it('mount-time validation: 600 random mount requests give the errno the model predicts', async () => {
    const sandbox = openSandbox();
    try {
      coverageContext('mount-time validation');
      const m = await runMountValidation(localSys(sandbox), 600, 20261126);
      expect(m.failure ? formatMountFailure(m.failure, m.seed, m.path) : '').toBe('');
      expect(Object.keys(m.outcomes).sort()).toEqual(['EINVAL', 'ELOOP', 'ENOENT', 'ok']);
      expect(m.interrupted).toBe(false);
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('has teeth (mount-time validation): a model that lets a lower be the upper dir (S15.2) fails', async () => {
    const sandbox = openSandbox();
    try {
      const broken: typeof predictMount = (w, r, k) =>
        r.upper !== undefined && r.lowers.includes(r.upper) && predictMount(w, r, k).outcome === 'ELOOP' ? { outcome: 'ok', rule: 'broken' } : predictMount(w, r, k);
      const m = await runMountValidation(localSys(sandbox), 600, 1, { predict: broken });
      expect(m.failure, 'not caught').not.toBeNull();
      expect(m.failure!.actual).toBe('ELOOP');
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('mount sequences: index=on exclusivity (EBUSY), ties to the first lower and upper (ESTALE), volatile leftovers (EINVAL) and what each mount leaves in the layers, as the model predicts', async () => {
    const sandbox = openSandbox();
    try {
      coverageContext('mount sequences');
      const q = await runMountSequences(localSys(sandbox), 300, 20261126);
      expect(q.failure ? formatSequenceFailure(q.failure, q.seed, q.path) : '').toBe('');
      expect(Object.keys(q.outcomes).sort()).toEqual(['EBUSY', 'EINVAL', 'ELOOP', 'ESTALE', 'ok']);
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('has teeth (mount sequences): a model where index=on does not make the upper exclusive (S12.2) fails', async () => {
    const sandbox = openSandbox();
    try {
      const broken: typeof stepSequence = (st, a, k) => {
        const r = stepSequence(st, a, k);
        return r.outcome === 'EBUSY' ? stepSequence(st, { ...a, index: false } as typeof a, k) : r;
      };
      const q = await runMountSequences(localSys(sandbox), 300, 1, { step: broken });
      expect(q.failure, 'not caught').not.toBeNull();
      expect(q.failure!.actual).toBe('EBUSY');
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('run --jobs: a worker past a lower failure another worker found ends its run at once, not interrupted, instead of drawing every remaining case', async () => {
    let draws = 0; // the bound is asked once for every case fast-check draws
    const s = await runConformance(options({ runs: 1_000_000, slice: { index: 1, count: 2, bound: () => (draws++, 0) } }));
    expect(draws).toBeLessThanOrEqual(3);
    expect([s.cases, s.failure, s.crash, s.interrupted]).toEqual([0, null, null, false]);
  });

  it('run --jobs: between other workers\' cases a worker lets the event loop run (a signal\'s handler), not only at its own', async () => {
    let loopRuns = 0;
    let done = false;
    const tick = () => {
      loopRuns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    // Every case is another worker's: without a macrotask between them the loop would run only after all 500.
    const s = await runConformance(options({ runs: 500, slice: { index: 999, count: 1000 } }));
    done = true;
    expect(s.cases).toBe(0);
    expect(loopRuns).toBeGreaterThanOrEqual(250);
  });

  it('a deadline reached while shrinking ends the shrinking: the failure found so far is kept, and the property says it was interrupted', async () => {
    const sandbox = openSandbox();
    const now = Date.now();
    let late = false; // the clock jumps past the deadline once the broken model has been caught
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => (late ? now + 3_600_000 : now));
    try {
      const broken: typeof stepSequence = (st, a, k) => {
        const r = stepSequence(st, a, k);
        if (r.outcome !== 'EBUSY') return r;
        late = true;
        return stepSequence(st, { ...a, index: false } as typeof a, k);
      };
      const q = await runMountSequences(localSys(sandbox), 300, 1, { step: broken, deadline: now + 60_000 });
      expect(q.failure?.actual).toBe('EBUSY');
      expect(q.interrupted).toBe(true);
    } finally {
      clock.mockRestore();
      sandbox.close();
    }
  });

  it('the suite\'s deadline bounds the mount properties too: past it they report interrupted, pass, and run nothing', async () => {
    const sandbox = openSandbox();
    try {
      const r = await runSuite(localSys(sandbox), { runs: 1e12, steps: 1, maxLowers: 1, entries: 1, seed: 1, rotate: 0, profiles: [], deadline: Date.now() - 1 });
      expect(r.properties.map((p) => [p.name, p.status, p.interrupted, p.caseFile])).toEqual([
        ['mount-time validation', 'pass', true, undefined], ['mount sequences', 'pass', true, undefined],
      ]);
      expect(r.properties.map((p) => p.summary.split(',')[0])).toEqual(['0 requests ()', '0 sequences ()']);
    } finally {
      sandbox.close();
    }
  });

  it('the mount properties stop at a deadline already past: interrupted, not failed, nothing run', async () => {
    const sandbox = openSandbox();
    try {
      const m = await runMountValidation(localSys(sandbox), 1e9, 1, { deadline: Date.now() - 1 });
      const q = await runMountSequences(localSys(sandbox), 1e9, 1, { deadline: Date.now() - 1 });
      expect([m.interrupted, m.failure, m.requests]).toEqual([true, null, 0]);
      expect([q.interrupted, q.failure, q.sequences]).toEqual([true, null, 0]);
    } finally {
      sandbox.close();
    }
  });
});
