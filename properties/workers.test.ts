// ovlcheck run --jobs N against real mounts: the workers together run exactly the cases of one
// worker, a divergence comes out as the same minimal case, and a signal leaves nothing behind.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../model/index.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { resultsSchema, type Results } from './outputs.js';
import type { ProfileResult } from './suite.js';
import { mergeUnit } from './workers.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'properties', 'cli.js');
const tmp = () => fs.mkdtempSync(join(process.env.OVLCHECK_TMP ?? os.tmpdir(), 'workers-'));
const read = (f: string): Results => resultsSchema.parse(JSON.parse(fs.readFileSync(f, 'utf8')));
const key = (r: Results) => r.tests.map((t) => `${t.suite} ${t.name} ${t.status} ${t.cases ?? '-'} ${t.steps ?? '-'}`);

describe('mergeUnit', () => {
  const part = (over: Partial<ProfileResult>): ProfileResult => ({
    kind: 'profile', profile: DEFAULT_PROFILE, status: 'pass', cases: 10, steps: 100, elapsedMs: 5, deepest: 2, interrupted: false, ...over,
  });
  it('adds the counts up and keeps the outcome of the lowest failing case', () => {
    const m = mergeUnit([
      part({ status: 'fail', failedCase: 9, counterexamplePath: '9:1', cases: 12 }),
      part({ status: 'crash', failedCase: 4, error: 'boom', counterexamplePath: '4', deepest: 3, elapsedMs: 9 }),
      part({}),
    ]);
    expect([m.status, m.error, m.counterexamplePath, m.cases, m.steps, m.deepest, m.elapsedMs]).toEqual(['crash', 'boom', '4', 32, 300, 3, 9]);
    expect(mergeUnit([part({}), part({ interrupted: true })]).status).toBe('pass');
    expect(mergeUnit([part({}), part({ interrupted: true })]).interrupted).toBe(true);
  });
  it('refuses parts of different profiles (workers that disagree on the order)', () => {
    expect(() => mergeUnit([part({}), part({ optionSet: true })])).toThrow(/disagree/);
  });
});

describe.runIf(inPrivateNamespace())('run --jobs', () => {
  it('--jobs 2 and 3 run exactly the cases of --jobs 1: every profile and option set, case and step', async () => {
    const dir = tmp();
    const common = ['run', '--runs', '3', '--steps', '6', '--option-sets', '20', '--seed', '11', '--out', dir];
    const runs = await Promise.all([1, 2, 3].map((j) => execa(process.execPath, [CLI, ...common, '--jobs', String(j), '--json', join(dir, `j${j}.json`)], { reject: false })));
    for (const r of runs) expect(r.exitCode, r.stderr).toBe(0);
    const [one, two, three] = [1, 2, 3].map((j) => read(join(dir, `j${j}.json`)));
    expect(one.tests.length).toBeGreaterThan(20);
    expect(key(two)).toEqual(key(one));
    expect(key(three)).toEqual(key(one));
    expect(two.totals).toEqual(one.totals);
    expect(runs[1].stdout).toMatch(/; 2 workers; exit 0$/m);
  }, 600_000);

  it('a divergence found by --jobs 2 is the minimal case --jobs 1 finds, saved the same', async () => {
    for (const seed of ['9', '12']) {
      const cases = [];
      for (const jobs of ['1', '2']) {
        const out = join(tmp(), 'out');
        const r = await execa(process.execPath, [CLI, 'run', '--mutate', 'no-whiteout-on-unlink', '--seed', seed, '--jobs', jobs, '--out', out], { reject: false });
        expect(r.exitCode, r.stderr).toBe(1);
        const [file] = fs.readdirSync(out);
        const c = JSON.parse(fs.readFileSync(join(out, file), 'utf8'));
        cases.push({ layers: c.layers, steps: c.steps, found: c.found.path });
      }
      expect(cases[1], `seed ${seed}`).toEqual(cases[0]);
    }
  }, 600_000);

  it('SIGTERM ends every worker: no process, mount or temp dir is left, and --json says STOPPED', async () => {
    const dir = tmp();
    const env = { ...process.env, OVLCHECK_NS_PARENT: '' }; // a namespace of its own, as from a shell
    const child = execa(process.execPath, [CLI, 'run', '--runs', '1000000', '--jobs', '2', '--json', join(dir, 'r.json')], { reject: false, env, all: true });
    // Started: the first progress line comes from a worker's case.
    await new Promise<void>((resolve) => child.all!.on('data', (d: Buffer) => String(d).includes('cases') && resolve()));
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(read(join(dir, 'r.json')).verdict).toBe('STOPPED (SIGTERM)');
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('ovlcheck-') && n.includes(`-${child.pid}-`))).toEqual([]);
    const ps = await execa('pgrep', ['-f', 'worker.js|run --runs 1000000'], { reject: false });
    expect(ps.stdout).toBe('');
  }, 120_000);
});
