import { describe, expect, it } from 'vitest';
import { roundSeed } from './compareRun.js';

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
});
