// The suite itself, with a CI-sized budget: the running kernel against the model, for every
// profile the model holds and the kernel mounts.
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { namedProfile, notModelled, PROFILES } from '../model/index.js';
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

const kernelRelease = release();
const RUNS = Number(process.env.OVLCHECK_CI_RUNS ?? 150);
const modelled = Object.keys(PROFILES).map(namedProfile).filter((p) => !notModelled(p));

describe.skipIf(!inPrivateNamespace())('conformance against the running kernel', () => {
  const kernelDriver = useKernelDriver();
  const options = (over: Partial<RunOptions>): RunOptions => ({
    runs: RUNS, steps: 20, maxLowers: 4, maxEntriesPerLayer: 12, seed: 20261126, profile: modelled[0],
    kernel: runningKernel(), kernelRelease, driver: kernelDriver(), ...over,
  });

  for (const profile of modelled) {
    it(`profile ${profile.name} (${profileOptions(profile, runningKernel())}): ${RUNS} random cases, every step compared, then remounted`, async () => {
      const s = await runConformance(options({ profile }));
      expect(s.crash?.stack ?? '').toBe('');
      expect(s.failure ? formatFailure(s.failure) : '').toBe('');
      expect(s.cases).toBe(RUNS);
    }, 600_000);
  }

  it('rotation deepens stacks past one page of mount options, mounted with lowerdir+= (S1.10)', async () => {
    const s = await runConformance(options({ runs: 12, steps: 150, rotateWeight: 80, seed: 7 }));
    expect(s.failure ? formatFailure(s.failure) : '').toBe('');
    expect(s.deepest).toBeGreaterThan(60);
  }, 300_000);

  for (const [name, m] of Object.entries(MUTATIONS)) {
    it(`has teeth (profile ${m.profile}): a model that breaks ${m.breaks} fails with a case of at most 3 steps`, async () => {
      const s = await runConformance(options({ runs: 300, modelStep: m.step, seed: 1, profile: namedProfile(m.profile) }));
      expect(s.failure, `mutation ${name} was not caught`).not.toBeNull();
      expect(s.failure!.history.length, formatFailure(s.failure!)).toBeLessThanOrEqual(3);
    }, 300_000);
  }

  it('mount-time validation: 600 random mount requests give the errno the model predicts', () => {
    const sandbox = openSandbox();
    try {
      const m = runMountValidation(localSys(sandbox), 600, 20261126);
      expect(m.failure ? formatMountFailure(m.failure, m.seed, m.path) : '').toBe('');
      expect(Object.keys(m.outcomes).sort()).toEqual(['EINVAL', 'ELOOP', 'ENOENT', 'ok']);
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('has teeth (mount-time validation): a model that lets a lower be the upper dir (S15.2) fails', () => {
    const sandbox = openSandbox();
    try {
      const broken: typeof predictMount = (w, r, k) =>
        r.upper !== undefined && r.lowers.includes(r.upper) && predictMount(w, r, k).outcome === 'ELOOP' ? { outcome: 'ok', rule: 'broken' } : predictMount(w, r, k);
      const m = runMountValidation(localSys(sandbox), 600, 1, broken);
      expect(m.failure, 'not caught').not.toBeNull();
      expect(m.failure!.actual).toBe('ELOOP');
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('mount sequences: index=on exclusivity (EBUSY) and ties to the first lower and upper (ESTALE) as the model predicts', () => {
    const sandbox = openSandbox();
    try {
      const q = runMountSequences(localSys(sandbox), 300, 20261126);
      expect(q.failure ? formatSequenceFailure(q.failure, q.seed, q.path) : '').toBe('');
      expect(Object.keys(q.outcomes).sort()).toEqual(['EBUSY', 'ELOOP', 'ESTALE', 'ok']);
    } finally {
      sandbox.close();
    }
  }, 120_000);

  it('has teeth (mount sequences): a model where index=on does not make the upper exclusive (S12.2) fails', () => {
    const sandbox = openSandbox();
    try {
      const broken: typeof stepSequence = (st, a) => {
        const r = stepSequence(st, a);
        return r.outcome === 'EBUSY' ? stepSequence(st, { ...a, index: false } as typeof a) : r;
      };
      const q = runMountSequences(localSys(sandbox), 300, 1, broken);
      expect(q.failure, 'not caught').not.toBeNull();
      expect(q.failure!.actual).toBe('EBUSY');
    } finally {
      sandbox.close();
    }
  }, 120_000);
});
