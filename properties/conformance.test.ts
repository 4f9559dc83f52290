// The suite itself, with a CI-sized budget: the running kernel against the model.
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE, parseKernelVersion } from '../model/index.js';
import { useKernelDriver } from '../harness/drivers/kernelForTests.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { runConformance, type RunOptions } from './conformance.js';
import { MUTATIONS } from './mutations.js';
import { formatFailure } from './report.js';

const kernelRelease = release();
const RUNS = Number(process.env.OVLCHECK_CI_RUNS ?? 200);

describe.skipIf(!inPrivateNamespace())('conformance against the running kernel', () => {
  const kernelDriver = useKernelDriver();
  const options = (over: Partial<RunOptions>): RunOptions => ({
    runs: RUNS, steps: 20, maxLowers: 4, maxEntriesPerLayer: 12, seed: 20261126, profile: DEFAULT_PROFILE,
    kernel: parseKernelVersion(kernelRelease), kernelRelease, driver: kernelDriver(), ...over,
  });

  it(`default profile: ${RUNS} random cases, every step compared, then remounted`, async () => {
    const s = await runConformance(options({}));
    expect(s.crash?.stack ?? '').toBe('');
    expect(s.failure ? formatFailure(s.failure) : '').toBe('');
    expect(s.cases).toBe(RUNS);
  }, 600_000);

  for (const [name, m] of Object.entries(MUTATIONS)) {
    it(`has teeth: a model that breaks ${m.breaks} fails with a case of at most 3 steps`, async () => {
      const s = await runConformance(options({ runs: 300, modelStep: m.step, seed: 1 }));
      expect(s.failure, `mutation ${name} was not caught`).not.toBeNull();
      expect(s.failure!.history.length, formatFailure(s.failure!)).toBeLessThanOrEqual(3);
    }, 300_000);
  }
});
