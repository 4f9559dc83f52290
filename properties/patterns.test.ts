// The reach detectors (issue 10) on hand-written cases, and the generator's rates on the
// model alone (deterministic for a seed, no mounts).
import { describe, expect, it } from 'vitest';
import type { Op, StackSpec } from '../model/index.js';
import { PATTERNS } from './patterns.js';
import { patternStats, traceOf } from './stats.js';

/** /d holds two lower files (and /e another), /m is merged over two lowers. */
const STACK: StackSpec = {
  lowers: [
    { '/d/a': { type: 'file', data: 'x' }, '/d/b': { type: 'file' }, '/e/c': { type: 'file' }, '/m/x': { type: 'file' } },
    { '/m/y': { type: 'file' } },
  ],
  upper: {},
};

const USER = { uid: 1000, gid: 1000 };
const creat = (path: string): Op => ({ op: 'open', path, flags: ['O_WRONLY', 'O_CREAT'], mode: 0o644 });
const write = (path: string): Op => ({ op: 'open', path, flags: ['O_WRONLY'], data: 'p' });

/** For each pattern: steps that have it, and steps that nearly do but lack it. */
const CASES: Record<string, { has: Op[]; lacks: Op[] }> = {
  'read-dir-while-changing': {
    has: [{ op: 'opendir', path: '/m', dir: 0 }, { op: 'readdir', dir: 0, n: 1 }, creat('/m/n1'), { op: 'readdir', dir: 0, n: 99 }],
    lacks: [{ op: 'opendir', path: '/m', dir: 0 }, creat('/m/n1'), { op: 'readdir', dir: 0, n: 99 }], // changed before its first read
  },
  'empty-then-remove': {
    has: [{ op: 'unlink', path: '/d/a' }, { op: 'unlink', path: '/d/b' }, { op: 'rmdir', path: '/d' }],
    lacks: [{ op: 'unlink', path: '/d/a' }, { op: 'rmdir', path: '/d' }], // not empty yet
  },
  'child-then-parent': {
    has: [write('/d/a'), { op: 'chmod', path: '/d', mode: 0o700 }],
    lacks: [{ op: 'chmod', path: '/d', mode: 0o700 }, write('/d/a')], // the parent first
  },
  'fail-then-look': {
    has: [{ op: 'setxattr', path: '/d/a', name: 'user.a', value: '1', flags: 'XATTR_REPLACE' }, { op: 'chmod', path: '/d/a', mode: 0o600 }],
    lacks: [{ op: 'mkdir', path: '/d/a', mode: 0o755 }, { op: 'chmod', path: '/d/a', mode: 0o600 }], // EEXIST leaves nothing
  },
  'delete-then-recreate': {
    has: [{ op: 'unlink', path: '/d/a' }, creat('/d/a')],
    lacks: [{ op: 'unlink', path: '/d/a' }, creat('/d/n1')],
  },
  'rename-dir-then-inside': {
    has: [{ op: 'mkdir', path: '/n1', mode: 0o755 }, { op: 'rename', src: '/n1', dst: '/n2' }, creat('/n2/f')],
    lacks: [{ op: 'rename', src: '/d', dst: '/n2' }, creat('/d/f')], // EXDEV (S5.2): nothing moved
  },
  'link-then-modify': {
    has: [{ op: 'link', src: '/d/a', dst: '/d/l' }, { op: 'chmod', path: '/d/l', mode: 0o600 }],
    lacks: [{ op: 'link', src: '/d/a', dst: '/d/l' }, { op: 'chmod', path: '/d/b', mode: 0o600 }],
  },
  'dir-copy-up-then-inside': {
    has: [{ op: 'setxattr', path: '/d', name: 'user.a', value: '1' }, write('/d/a')],
    lacks: [write('/d/a'), { op: 'setxattr', path: '/d', name: 'user.a', value: '1' }, write('/d/b')], // /d was copied up as a parent
  },
  'copy-up-by-open-for-write': {
    has: [write('/d/a')],
    lacks: [{ op: 'open', path: '/d/a', flags: ['O_RDONLY'] }],
  },
  'unlink-of-lower-file': {
    has: [{ op: 'unlink', path: '/d/a' }],
    lacks: [creat('/d/n1'), { op: 'unlink', path: '/d/n1' }], // pure upper
  },
  'rename-of-lower-dir-exdev': {
    has: [{ op: 'rename', src: '/d', dst: '/n1' }],
    lacks: [{ op: 'mkdir', path: '/n1', mode: 0o755 }, { op: 'rename', src: '/n1', dst: '/n2' }],
  },
  'rmdir-of-non-empty-merged-dir': {
    has: [{ op: 'rmdir', path: '/m' }],
    lacks: [{ op: 'rmdir', path: '/d' }], // ENOTEMPTY too, but /d is in one lower only: not merged
  },
  'mkdir-over-whiteout': {
    has: [{ op: 'unlink', path: '/d/a' }, { op: 'mkdir', path: '/d/a', mode: 0o755 }],
    lacks: [{ op: 'mkdir', path: '/d/n1', mode: 0o755 }],
  },
  'link-of-lower-file': {
    has: [{ op: 'link', src: '/d/a', dst: '/e/l' }],
    lacks: [creat('/d/n1'), { op: 'link', src: '/d/n1', dst: '/e/l' }],
  },
  'setxattr-on-lower-dir': {
    has: [{ op: 'setxattr', path: '/d', name: 'user.a', value: '1' }],
    lacks: [{ op: 'setxattr', path: '/d/a', name: 'user.a', value: '1' }],
  },
  'rename-over-existing-name': {
    has: [{ op: 'rename', src: '/d/a', dst: '/d/b' }],
    lacks: [{ op: 'rename', src: '/d/a', dst: '/d/n1' }],
  },
  'refused-to-a-caller': {
    has: [{ ...creat('/d/n1'), as: USER }], // a root 0755 dir
    lacks: [creat('/d/n1')],
  },
  'created-by-a-caller': {
    has: [{ op: 'mkdir', path: '/t', mode: 0o777 }, { op: 'chmod', path: '/t', mode: 0o777 }, { ...creat('/t/f'), as: USER }],
    lacks: [{ ...creat('/d/n1'), as: USER }], // EACCES
  },
};

describe('reach patterns (issue 10)', () => {
  it('every pattern has a hand-written case', () => {
    expect(Object.keys(CASES).sort()).toEqual(PATTERNS.map((p) => p.name).sort());
  });

  for (const p of PATTERNS) {
    it(`${p.name} (${p.kind}, ${p.rule}): fires on a case that has it, not on one that lacks it`, () => {
      const c = CASES[p.name];
      expect(p.detect(traceOf(STACK, c.has))).toBe(true);
      expect(p.detect(traceOf(STACK, c.lacks))).toBe(false);
    });
  }

  it('the default generator reaches every scenario in at least 5% of cases, and single steps no less often than without locality', async () => {
    const o = { cases: 400, steps: 25, seed: 20261130 };
    const on = await patternStats(o);
    const off = await patternStats({ ...o, locality: false });
    expect(on.cases).toBe(400);
    for (const r of on.rates) {
      if (r.kind === 'scenario') expect(r.perThousand, r.pattern).toBeGreaterThanOrEqual(50);
      else expect(r.perThousand, r.pattern).toBeGreaterThanOrEqual(off.rates.find((x) => x.pattern === r.pattern)!.perThousand);
    }
  }, 120_000);
});
