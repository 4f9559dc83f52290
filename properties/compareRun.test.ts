import { describe, expect, it } from 'vitest';
import { namedProfile } from '../model/index.js';
import { MemUnionDriver } from '../harness/drivers/memUnion.js';
import type { Driver } from '../harness/driver.js';
import { roundSeed, runCompare } from './compareRun.js';

describe('compare rounds', () => {
  it('start at the given seed, and the rounds of neighbouring seeds do not overlap', () => {
    expect(roundSeed(41, 0)).toBe(41);
    const rounds = (seed: number) => new Set(Array.from({ length: 200 }, (_, r) => roundSeed(seed, r)));
    for (const seed of [1, 41, 20261127, -5]) {
      const a = rounds(seed);
      const b = rounds(seed + 1);
      expect(a.size).toBe(200);
      expect([...a].filter((x) => b.has(x))).toEqual([]);
    }
  });

  it('end at the time budget, not in an internal error, when it runs out before a case passes', async () => {
    // A set-up slower than the whole budget: fast-check's run is interrupted before any case ends.
    const slow = new MemUnionDriver();
    const setup = slow.setup.bind(slow);
    const driver: Driver = Object.assign(slow, { setup: async (...a: Parameters<Driver['setup']>) => (await new Promise((r) => setTimeout(r, 200)), setup(...a)) });
    const r = await runCompare({
      driver, profile: namedProfile('default'), kernel: [6, 18, 0], kernelRelease: 'test', runs: 50, steps: 5, maxLowers: 2, entries: 4,
      rotate: 1, seed: 1, expectations: [], maxPerClass: 5, timeBudgetMs: 20,
    });
    expect(r.crash).toBeNull();
    expect(r.stoppedBy).toBe('time');
  });
});
