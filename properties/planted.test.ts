// Planted faults (harness/drivers/planted.ts): `compare` with its default settings finds each
// one, classed by the harm it does, also when two cosmetic faults run beside it whose
// findings an expectations list tolerates; and the same seed finds nothing without faults.
// A finding counts as the fault's only if its minimal case, replayed on the plain kernel,
// agrees with the model (so a divergence of the kernel or the model cannot pass for it).
// The fast faults run in `npm test`; the rest with OVLCHECK_SLOW set (.ci/run sets it).
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedProfile } from '../model/index.js';
import { KernelDriver } from '../harness/drivers/kernel.js';
import { PLANTED, PlantedDriver } from '../harness/drivers/planted.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox, type Sandbox } from '../harness/sandbox.js';
import { runningKernel } from '../harness/sys.js';
import { runCompare, type CompareResult, type Expectation, type Finding } from './compareRun.js';
import type { HarmClass } from './harm.js';
import { replayCase } from './replay.js';
import { failureCase, type Failure } from './report.js';

const kernel = runningKernel();
const kernelRelease = release();
const SEED = 1;
/**
 * `ovlcheck compare`'s defaults (properties/cliMain.ts), without its wall-time budget: the 300
 * cases bound the search, so that what is found does not depend on how fast the machine is.
 */
const SETTINGS = { runs: 300, steps: 25, maxLowers: 4, entries: 12, rotate: 1, seed: SEED, maxPerClass: 20 };
/** A guard against a hang, not a speed limit. */
const HUNT_TIMEOUT_MS = 900_000;
/** The bookkeeping faults that stand for cosmetic divergences: they change only what a view reports. */
const COSMETIC = ['link-nlink-stale', 'copyup-new-ino'];
/** Found in a few seconds each: these run in `npm test`. */
const FAST = new Set([
  'truncate-on-unmount', 'rotate-drops-empty-files', 'copyup-writes-lower', 'walk-hangs-after-remount', 'rmdir-counts-lower-entries',
  'chmod-lost-on-unmount', 'copyup-new-ino', 'unlink-stray-whiteout',
]);
const AGREES = 'agrees with the model';
const skipSlow = !process.env.OVLCHECK_SLOW;

describe.skipIf(!inPrivateNamespace())('planted faults', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  /** The minimal case on the plain kernel driver: whether the finding is the fault's. */
  const onKernel = async (f: Failure): Promise<string> => {
    const driver = new KernelDriver(sandbox);
    try {
      const r = await replayCase(failureCase(f, 'now'), driver, kernel, kernelRelease);
      return r.failure ? `diverges too (${r.failure.info.signature})` : AGREES;
    } finally {
      await driver.teardown();
    }
  };

  /** compare with the faults planted; stops at the first finding of class `harm` that is theirs. */
  const hunt = async (faults: string[], harm?: HarmClass, expectations: Expectation[] = []): Promise<{ r: CompareResult; found?: Finding }> => {
    const driver = new PlantedDriver(sandbox, faults);
    let found: Finding | undefined;
    try {
      const r = await runCompare({
        ...SETTINGS, driver, profile: namedProfile('default'), kernel, kernelRelease, expectations, crossCheck: onKernel,
        onRound: ({ latest }) => {
          if (harm && latest?.harm === harm && latest.kernel === AGREES) found = latest;
        },
        stop: () => found !== undefined,
      });
      return { r, found };
    } finally {
      await driver.teardown();
    }
  };

  const expectFound = ({ r, found }: { r: CompareResult; found?: Finding }, harm: HarmClass) => {
    expect(r.crash?.stack ?? null).toBeNull();
    expect(found, `no ${harm} finding of the fault; findings: ${r.findings.map((f) => `${f.signature} (kernel: ${f.kernel})`).join('; ')}`).toBeDefined();
    expect(found!.harm).toBe(harm);
    expect(found!.signature.startsWith(`${harm}: `)).toBe(true);
  };

  it('every class has at least two faults, each described in one line', () => {
    const classes = Object.values(PLANTED).map((f) => f.harm);
    for (const c of ['data', 'hang', 'outcome', 'metadata', 'bookkeeping'] as const) expect(classes.filter((x) => x === c).length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(PLANTED).length).toBeGreaterThanOrEqual(15);
    for (const f of Object.values(PLANTED)) expect(f.describe).toMatch(/^[^\n]{10,160}$/);
    for (const c of COSMETIC) expect(PLANTED[c].harm).toBe('bookkeeping');
  });

  it('with no fault planted, the same seed finds nothing: what the faults are found with is theirs', async () => {
    const { r } = await hunt([]);
    expect(r.crash?.stack ?? null).toBeNull();
    expect(r.findings.map((f) => f.signature)).toEqual([]);
    expect(r.cases).toBe(SETTINGS.runs);
  }, HUNT_TIMEOUT_MS);

  for (const [name, fault] of Object.entries(PLANTED)) {
    it.skipIf(skipSlow && !FAST.has(name))(`${name} (${fault.harm}): ${fault.describe}`, async () => {
      expectFound(await hunt([name], fault.harm), fault.harm);
    }, HUNT_TIMEOUT_MS);
  }

  describe.skipIf(skipSlow)('beside two cosmetic faults whose findings are expected', () => {
    let expected: Expectation[] = [];
    beforeAll(async () => {
      // A first run lists what the cosmetic faults alone show (the kernel's own divergences, if any, are not theirs).
      const { r } = await hunt(COSMETIC);
      expected = r.findings.filter((f) => f.kernel === AGREES).map((f) => ({ signature: f.signature, reason: 'planted cosmetic fault' }));
    }, HUNT_TIMEOUT_MS);

    it('the cosmetic faults alone are found, as bookkeeping only', () => {
      expect(expected.length).toBeGreaterThan(0);
      for (const x of expected) expect(x.signature).toMatch(/^bookkeeping: /);
    });

    for (const [name, fault] of Object.entries(PLANTED)) {
      if (fault.harm === 'bookkeeping') continue;
      it(`${name} (${fault.harm})`, async () => {
        const run = await hunt([name, ...COSMETIC], fault.harm, expected);
        expectFound(run, fault.harm);
      }, HUNT_TIMEOUT_MS);
    }
  });
});
