// Every bad input a user can give, through the real CLI process (issue 11): exit 2 and one
// line naming the problem, never exit 3 and a stack trace; help and version exit 0. The case
// parser's own table and fuzz are in caseFile.test.ts; the flag parser's in cliArgs.test.ts.

import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { MUTATIONS } from './mutations.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'properties', 'cli.js');
const dir = fs.mkdtempSync(join(process.env.OVLCHECK_TMP ?? os.tmpdir(), 'bad-input-'));
const ovlcheck = (args: string[], prefix: string[] = [], env: Record<string, string | undefined> = process.env) =>
  execa(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), CLI, ...args], { reject: false, timeout: 120_000, env, extendEnv: false });
/** Only for a slow machine: each row is one process start. */
const LIMIT = { timeout: 120_000 };

function expectOneLine(r: { exitCode?: number; stdout: string; stderr: string }, mentions: string | RegExp): void {
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr.length).toBeLessThanOrEqual(240);
  expect(r.stderr).toMatch(/^ovlcheck: /);
  expect(r.stderr).toMatch(mentions);
}

describe.concurrent('flags: one line, exit 2', LIMIT, () => {
  const rows: [string[], string | RegExp][] = [
    [['run', '--bogus-flag'], '--bogus-flag'],
    [['run', 'extra-positional'], 'extra-positional'],
    [['run', '--seed', '99999999999999999999'], '--seed'],
    [['run', '--seed', 'x'], '--seed'],
    [['run', '--runs', '99999999999999999999'], '--runs'],
    [['run', '--runs', '-3'], '--runs'],
    [['run', '--runs'], '--runs'],
    [['run', '--time-budget', '0'], '--time-budget'],
    [['run', '--steps', '1e3'], '--steps'],
    [['run', '--path', 'garbage'], '--path'],
    [['run', '--profile', 'nope'], 'nope'],
    [['run', '--profile', '__proto__'], '__proto__'],
    [['run', '--options', 'bogus=1'], 'bogus'],
    [['run', '--mutate', 'nope'], 'nope'],
    [['run', '--mutate', Object.keys(MUTATIONS)[0], '--out', '/proc/foo'], '/proc/foo'],
    [['run', '--out', '/dev/null/x'], '/dev/null'],
    [['compare'], '--driver'],
    [['compare', '--driver', 'zfs'], 'zfs'],
    [['compare', '--driver', 'memfs-unionfs', '--fail-on', 'cosmetic'], 'cosmetic'],
    [['compare', '--driver', 'memfs-unionfs', '--expectations', '/nonexistent.json'], 'nonexistent'],
    [['cross', '--from', 'kernel'], '--to'],
    [['replay'], 'case file'],
    [['replay', '--bogus', 'x.json'], '--bogus'],
    [['probe', '--bogus'], '--bogus'],
    [['stats', '--cases', '0'], '--cases'],
    [['matrix', '--kernels', '5.x'], '5.x'],
    [['frobnicate'], 'frobnicate'],
    [['--versio'], '--versio'],
  ];
  for (const [argv, mentions] of rows) {
    it(argv.join(' ') || '(nothing)', async () => expectOneLine(await ovlcheck(argv), mentions));
  }

  it('compare refuses to write over a report without --force', async () => {
    const out = fs.mkdtempSync(join(dir, 'report-'));
    fs.writeFileSync(join(out, 'report.json'), '{}');
    expectOneLine(await ovlcheck(['compare', '--driver', 'memfs-unionfs', '--out', out]), '--force');
  });

  it('root without CAP_SYS_ADMIN (a container without --privileged): exit 2, not the divergence code', async () => {
    // From outside any ovlcheck namespace (the launcher's path), and from inside one.
    const outside = { ...process.env, OVLCHECK_NS_PARENT: undefined, OVLCHECK_TMP: undefined };
    const lab = join(import.meta.dirname, 'cases', 'lab-two-layers.json');
    expectOneLine(await ovlcheck(['replay', lab], ['setpriv', '--bounding-set', '-sys_admin'], outside), 'CAP_SYS_ADMIN');
    expectOneLine(await ovlcheck(['replay', lab], ['setpriv', '--bounding-set', '-sys_admin']), 'CAP_SYS_ADMIN');
    expectOneLine(await ovlcheck(['run', '--runs', '1'], ['setpriv', '--bounding-set', '-sys_admin'], outside), 'CAP_SYS_ADMIN');
  });
});

describe.concurrent('help and version: exit 0', LIMIT, () => {
  it('--version', async () => {
    const r = await ovlcheck(['--version']);
    expect([r.exitCode, r.stdout]).toEqual([0, `ovlcheck ${JSON.parse(fs.readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')).version}`]);
  });
  for (const cmd of ['run', 'compare', 'cross', 'replay', 'probe', 'stats', 'matrix']) {
    it(`${cmd} --help, -h, help ${cmd}`, async () => {
      for (const argv of [[cmd, '--help'], [cmd, '-h'], ['help', cmd]]) {
        const r = await ovlcheck(argv);
        expect(r.exitCode, argv.join(' ')).toBe(0);
        expect(r.stdout).toContain(`ovlcheck ${cmd}`);
      }
    });
  }
  it('nothing at all: the overview, exit 2', async () => {
    const r = await ovlcheck([]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('ovlcheck run');
  });
});

// ------------------------------------------------------------------ case files

type Case = Record<string, unknown>;
const base = (): Case => ({
  ovlcheck: 1,
  layers: { lowers: [{ '/a': { type: 'file', data: 'x' }, '/d': { type: 'dir' } }], upper: {} },
  steps: [{ op: 'open', path: '/a', flags: ['O_RDWR'] }],
});
const withStep = (step: Record<string, unknown>) => ({ ...base(), steps: [step] });
const withLower = (layer: Record<string, unknown>) => ({ ...base(), layers: { lowers: [layer], upper: {} } });

const BAD_CASES: [string, Case | string, string | RegExp][] = [
  ['open flag O_BOGUS', withStep({ op: 'open', path: '/a', flags: ['O_BOGUS'] }), 'O_BOGUS'],
  ['open flags 42', withStep({ op: 'open', path: '/a', flags: 42 }), 'flags'],
  ['rename flag RENAME_BOGUS', withStep({ op: 'rename', src: '/a', dst: '/b', flags: ['RENAME_BOGUS'] }), 'RENAME_BOGUS'],
  ['mode "abc"', withStep({ op: 'mkdir', path: '/m', mode: 'abc' }), 'mode'],
  ['mode 99999999999', withStep({ op: 'mkdir', path: '/m', mode: 99999999999 }), 'mode'],
  ['chmod 1e20', withStep({ op: 'chmod', path: '/a', mode: 1e20 }), 'mode'],
  ['data 42', withLower({ '/a': { type: 'file', data: 42 } }), 'data'],
  ['xattrs "x"', withLower({ '/a': { type: 'file', xattrs: 'x' } }), 'xattrs'],
  ['xattr name bogus.x', withStep({ op: 'setxattr', path: '/a', name: 'bogus.x', value: 'v' }), 'bogus.x'],
  ['xattr name 42', withStep({ op: 'setxattr', path: '/a', name: 42, value: 'v' }), 'name'],
  ['truncate to 1e300', withStep({ op: 'truncate', path: '/a', size: 1e300 }), 'size'],
  ['truncate to 1 TiB', withStep({ op: 'truncate', path: '/a', size: 2 ** 40 }), 'size'],
  ['a hard link to a missing file', withLower({ '/a': { type: 'link', to: '/missing' } }), 'missing'],
  ['a hard link to a dir', withLower({ '/d': { type: 'dir' }, '/a': { type: 'link', to: '/d' } }), '/d'],
  ['a hard link to itself', withLower({ '/a': { type: 'link', to: '/a' } }), '/a'],
  ['a file with a child', withLower({ '/a': { type: 'file' }, '/a/b': { type: 'file' } }), '/a'],
  ['/a/./b', withLower({ '/a/./b': { type: 'file' } }), '/a/./b'],
  ['//a//b/', withLower({ '//a//b/': { type: 'file' } }), '//a//b/'],
  ['a 300-character name', withLower({ [`/${'n'.repeat(300)}`]: { type: 'file' } }), 'name'],
  ['a NUL in a name', withLower({ '/a\u0000b': { type: 'file' } }), /NUL|\\u0000/],
  ['a 3000-deep path', withStep({ op: 'mkdir', path: '/d'.repeat(3000), mode: 493 }), 'path'],
  ['a 600-layer stack', { ...base(), layers: { lowers: Array.from({ length: 600 }, () => ({})), upper: {} } }, /500|layers/],
  ['mknod kind blockdev', withStep({ op: 'mknod', path: '/n', kind: 'blockdev', mode: 420 }), 'blockdev'],
  ['expect merged "x"', { ...base(), expect: { merged: 'x' } }, 'merged'],
  ['a step outcome EBOGUS', withStep({ op: 'unlink', path: '/a', expect: { outcome: 'EBOGUS' } }), 'EBOGUS'],
  ['a top-level outcome', { ...base(), outcome: 'EBOGUS' }, 'outcome'],
  ['profile with a bad value and an unknown key', { ...base(), profile: { index: 'yes', bogus: 1 } }, /index|bogus/],
  ['profile 42', { ...base(), profile: 42 }, 'profile'],
  ['an unknown profile', { ...base(), profile: 'nope' }, 'nope'],
  ['not JSON', '{"ovlcheck": 1,', 'JSON'],
  ['not a case', '[]', 'ovlcheck'],
];

describe.concurrent('case files: one line, exit 2, nothing mounted', LIMIT, () => {
  for (const [name, c, mentions] of BAD_CASES) {
    it(name, async () => {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.json`);
      fs.writeFileSync(file, typeof c === 'string' ? c : JSON.stringify(c));
      expectOneLine(await ovlcheck(['replay', file]), mentions);
    });
  }
  it('a file that does not exist, a directory', async () => {
    expectOneLine(await ovlcheck(['replay', join(dir, 'nonexistent.json')]), 'no such case file');
    expectOneLine(await ovlcheck(['replay', dir]), 'a directory');
  });
});
