// Option sets as a random dimension of `run` (properties/optionSets.ts): which sets there are,
// that the running kernel mounts every one the model accepts, and the suite over all of them.
import { describe, expect, it } from 'vitest';
import { resolveProfile } from '../model/index.js';
import { profileOptions, mountFlags } from '../harness/drivers/kernelOptions.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { tryMount } from '../harness/probe.js';
import { openSandbox } from '../harness/sandbox.js';
import { localSys, runningKernel } from '../harness/sys.js';
import { casesPerSet, optionCombinations, optionSetProfiles } from './optionSets.js';
import { formatFailure } from './report.js';
import { runSuite } from './suite.js';

describe('option sets', () => {
  it('are every combination of the six options params.c accepts (S1.15), on 6.1 and 6.18 alike', () => {
    for (const k of [[6, 1, 0], [6, 18, 0]] as const) {
      const combos = optionCombinations(k);
      expect(combos).toHaveLength(51); // of 4 x 2 x 2 x 3 x 2 x 2 = 192 spellings
      expect(combos).toContain('redirect_dir=on,index=on,metacopy=on,xino=off,nfs_export=off');
      expect(combos).not.toContain('redirect_dir=follow,index=off,metacopy=on,xino=off,nfs_export=off'); // S1.15
      expect(combos).not.toContain('redirect_dir=on,index=off,metacopy=off,xino=off,nfs_export=off,userxattr');
      expect(combos.filter((c) => c.includes('nfs_export=on') && c.includes('metacopy=on'))).toEqual([]);
    }
  });

  it('draw their extras from the seed: the same seed the same sets, another seed others', () => {
    const names = (seed: number) => optionSetProfiles([6, 18, 0], seed).map((p) => p.name);
    expect(names(1)).toEqual(names(1));
    expect(names(2)).not.toEqual(names(1));
    expect(optionSetProfiles([6, 1, 0], 1).some((p) => /uuid=(null|auto)/.test(p.name))).toBe(false); // 6.6+ only (S1.5)
    expect(optionSetProfiles([6, 1, 0], 1).some((p) => p.dataOnly && !p.metacopy)).toBe(false); // 6.16+ only (S7.4)
  });

  it('spread the cases evenly', () => {
    expect(casesPerSet(10, 4)).toEqual([3, 3, 2, 2]);
    expect(casesPerSet(2, 3)).toEqual([1, 1, 0]);
  });
});

describe.skipIf(!inPrivateNamespace())('option sets on the running kernel', () => {
  it('the kernel mounts every set the model accepts, as the model resolves it (S1.15)', () => {
    const sandbox = openSandbox();
    try {
      const sys = localSys(sandbox);
      const refused = optionSetProfiles(runningKernel(), 1).flatMap((p) => {
        const t = tryMount(sys, profileOptions(p, runningKernel()), { split: p.split, dataOnly: p.dataOnly, flags: mountFlags(p) });
        return t.outcome === 'ok' ? [] : [`${p.name}: ${t.outcome}`];
      });
      expect(refused).toEqual([]);
      // Spelled as the model resolves it: metacopy=on brings redirect_dir=on, userxattr nofollow.
      expect(resolveProfile('x', 'metacopy=on').redirect_dir).toBe('on');
    } finally {
      sandbox.close();
    }
  });

  it('the suite over every option set: 6 cases each, every step compared, no divergence', async () => {
    const sandbox = openSandbox();
    try {
      const sets = optionSetProfiles(runningKernel(), 20261130);
      const r = await runSuite(localSys(sandbox), {
        runs: 6, steps: 15, maxLowers: 3, entries: 10, seed: 20261130, rotate: 1, profiles: [],
        optionSets: { profiles: sets, cases: 6 * sets.length }, sequences: 1,
      });
      const bad = r.profiles.filter((p) => p.status !== 'pass' && p.status !== 'skipped')
        .map((p) => `${p.profile.name}: ${p.status} ${p.why ?? p.error ?? (p.failure ? formatFailure(p.failure) : '')}`);
      expect(bad).toEqual([]);
      expect(r.profiles.every((p) => p.optionSet)).toBe(true);
      const passed = r.profiles.filter((p) => p.status === 'pass');
      expect(passed.length).toBeGreaterThan(sets.length / 2); // skipped only where the layer fs cannot hold a set
      expect(passed.map((p) => p.cases)).toEqual(passed.map(() => 6));
    } finally {
      sandbox.close();
    }
  }, 900_000);
});
