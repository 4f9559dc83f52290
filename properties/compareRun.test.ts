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

  it('use the driver for one case at a time: a case the time limit cut off is closed before shrinking starts', async () => {
    // fast-check's time limit stops waiting for a case, not the case: its teardown may still
    // be running when shrinking starts with the same driver (found with unionfs-fuse 3.7).
    const mem = new MemUnionDriver();
    const overlaps: string[] = [];
    let inTeardown = false;
    const guard = <A extends unknown[], R>(name: string, f: (...a: A) => Promise<R> | R) => async (...a: A): Promise<R> => {
      if (inTeardown) overlaps.push(name);
      return f(...a);
    };
    const teardown = mem.teardown.bind(mem);
    const driver: Driver = Object.assign(mem, {
      setup: guard('setup', mem.setup.bind(mem)),
      apply: guard('apply', mem.apply.bind(mem)),
      teardown: async () => {
        inTeardown = true;
        await new Promise((r) => setTimeout(r, 30));
        inTeardown = false;
        return teardown();
      },
    });
    for (const seed of [1, 2, 3]) {
      const r = await runCompare({
        driver, profile: namedProfile('default'), kernel: [6, 18, 0], kernelRelease: 'test', runs: 50, steps: 5, maxLowers: 2, entries: 4,
        rotate: 1, seed, expectations: [], maxPerClass: 5, timeBudgetMs: 400,
      });
      expect(r.crash).toBeNull();
    }
    expect(overlaps).toEqual([]);
  });
});

