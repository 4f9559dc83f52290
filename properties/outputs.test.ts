// The standard outputs (--junit, --ktap, --json), read back by parsers of their formats: JUnit
// XML by junit2json (xml2js underneath), KTAP by the grammar of the kernel's
// Documentation/dev-tools/ktap.rst (below), JSON by its own schema. First on a record that
// holds every status and the characters that break formats, then from the CLI itself.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse as parseJunit, type TestCase, type TestSuites } from 'junit2json';
import { describe, expect, it } from 'vitest';
import { inPrivateNamespace } from '../harness/namespace.js';
import { resultsSchema, toJunit, toKtap, totalsOf, type Results, type TestResult } from './outputs.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'properties', 'cli.js');
const tmp = () => fs.mkdtempSync(join(process.env.OVLCHECK_TMP ?? os.tmpdir(), 'outputs-'));

interface KtapTest {
  ok: boolean;
  n: number;
  description: string;
  directive?: string;
  /** The diagnostic lines since the previous result line. */
  diagnostics: string[];
}

/**
 * KTAP version 1 (ktap.rst), as ovlcheck writes it, without nesting: a version line, a plan
 * "1..N", then result lines "ok|not ok N [description][ # DIRECTIVE [reason]]" numbered from 1,
 * and diagnostic lines starting with "#". A description holds no "#"; a directive is one of
 * ktap.rst's (SKIP, TODO, XFAIL, TIMEOUT, ERROR); the number of results is the plan's. Throws
 * on anything else.
 */
function parseKtap(text: string): { plan: number; tests: KtapTest[] } {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines[0] !== 'KTAP version 1') throw new Error(`line 1: not a KTAP version line: ${JSON.stringify(lines[0])}`);
  let plan: number | undefined;
  const tests: KtapTest[] = [];
  let diagnostics: string[] = [];
  for (const [i, line] of lines.slice(1).entries()) {
    const at = `line ${i + 2}`;
    if (line.startsWith('#')) {
      diagnostics.push(line.replace(/^# ?/, ''));
      continue;
    }
    const p = /^1\.\.(\d+)$/.exec(line);
    if (p) {
      if (plan !== undefined || tests.length) throw new Error(`${at}: a plan after the first result or a second plan`);
      plan = Number(p[1]);
      continue;
    }
    const r = /^(ok|not ok) (\d+)(?: ([^#]*?))?(?: # (SKIP|TODO|XFAIL|TIMEOUT|ERROR)(?: (.*))?)?$/.exec(line);
    if (!r) throw new Error(`${at}: neither a result, a plan nor a diagnostic line: ${JSON.stringify(line)}`);
    if (Number(r[2]) !== tests.length + 1) throw new Error(`${at}: test number ${r[2]}, expected ${tests.length + 1}`);
    tests.push({ ok: r[1] === 'ok', n: Number(r[2]), description: r[3] ?? '', ...(r[4] ? { directive: r[4] } : {}), diagnostics });
    diagnostics = [];
  }
  if (plan === undefined) throw new Error('no plan line');
  if (plan !== tests.length) throw new Error(`plan 1..${plan}, ${tests.length} results`);
  return { plan, tests };
}

const allCases = (j: TestSuites): TestCase[] => (j.testsuite ?? []).flatMap((s) => s.testcase ?? []);

describe('standard outputs of a record', () => {
  const tests: TestResult[] = [
    { suite: 'profile', name: 'default', status: 'pass', timeMs: 1234, cases: 300, steps: 5000 },
    {
      suite: 'profile', name: 'metacopy', status: 'fail', summary: 'data: after write -> ok: merged: data', harm: 'data', timeMs: 10, cases: 3, steps: 9,
      details: 'DIVERGENCE kernel vs model\nlayers:\n  /a file "x\u0000y" ]]> <b>&amp; # not a directive\nsteps:\n   1. write', caseFile: '/o/case.json', replay: 'ovlcheck replay /o/case.json',
    },
    { suite: 'options', name: 'redirect_dir=on,index=on # odd', status: 'skip', summary: 'the kernel refuses it: EINVAL' },
    { suite: 'profile', name: 'nested', status: 'error', summary: 'not modelled: a rule', details: 'the case\nthat met it' },
  ];
  const record: Results = {
    ovlcheck: 1, kind: 'results', command: 'run', argv: ['run', '--seed', '1'], kernel: '6.18.44', seed: 1, startedAt: new Date(0).toISOString(),
    elapsedMs: 5, exitCode: 1, verdict: 'DIVERGES', totals: totalsOf(tests), tests,
  };

  it('KTAP: one result per test in order, the failure as diagnostics before its result, skips and errors as directives', () => {
    const k = parseKtap(toKtap(record));
    expect(k.plan).toBe(4);
    expect(k.tests.map((t) => [t.ok, t.description, t.directive])).toEqual([
      [true, 'profile default', undefined],
      [false, 'profile metacopy', undefined],
      [true, 'options redirect_dir=on,index=on %23 odd', 'SKIP'],
      [false, 'profile nested', 'ERROR'],
    ]);
    const failed = k.tests[1].diagnostics.join('\n');
    expect(failed).toContain('data: after write -> ok: merged: data');
    expect(failed).toContain('/a file "x\\u0000y"');
    expect(failed).toContain('replay: ovlcheck replay /o/case.json');
  });

  it('JUnit: suites, counts and messages as a JUnit parser reads them; text a CDATA section cannot hold survives', async () => {
    const j = (await parseJunit(toJunit(record))) as TestSuites;
    expect([j.tests, j.failures, j.errors]).toEqual([4, 1, 1]);
    expect(j.testsuite!.map((s) => s.name)).toEqual(['ovlcheck run: profile', 'ovlcheck run: options']);
    const [pass, fail, nested, skip] = allCases(j);
    expect([pass.name, pass.time, pass.failure, pass.skipped]).toEqual(['default', 1.234, undefined, undefined]);
    expect(fail.failure![0].message).toBe('data: after write -> ok: merged: data');
    expect(fail.failure![0].type).toBe('data');
    expect(fail.failure![0].inner).toContain('/a file "x\\u0000y" ]] > <b>&amp; # not a directive');
    expect(fail.failure![0].inner).toContain('replay: ovlcheck replay /o/case.json');
    expect(nested.error![0].message).toBe('not modelled: a rule');
    expect(skip.skipped).toBeDefined();
    expect(skip['system-out']![0]).toBe('the kernel refuses it: EINVAL');
  });

  it('JSON: its schema holds, and the totals count the tests', () => {
    const back = resultsSchema.parse(JSON.parse(JSON.stringify(record)));
    expect(back.totals).toEqual({ tests: 4, pass: 1, fail: 1, skip: 1, error: 1, cases: 303, steps: 5009 });
  });
});

describe.skipIf(!inPrivateNamespace())('standard outputs from the CLI', () => {
  it('run: a divergence is a failed test in all three formats, with its minimal case and replay command', async () => {
    const dir = tmp();
    const r = await execa(process.execPath, [CLI, 'run', '--mutate', 'caller-ignored', '--runs', '50', '--seed', '1', '--out', dir,
      '--junit', join(dir, 'j/junit.xml'), '--ktap', join(dir, 'ktap.txt'), '--json', join(dir, 'results.json')], { reject: false });
    expect(r.exitCode, r.stderr).toBe(1);
    const json = resultsSchema.parse(JSON.parse(fs.readFileSync(join(dir, 'results.json'), 'utf8')));
    expect([json.exitCode, json.seed, json.command, json.totals.fail]).toEqual([1, 1, 'run', 1]);
    const failed = json.tests.find((t) => t.status === 'fail')!;
    expect(failed.details).toMatch(/^DIVERGENCE kernel/);
    expect(fs.existsSync(failed.caseFile!)).toBe(true);
    expect(failed.replay).toBe(`ovlcheck replay ${failed.caseFile}`);
    const k = parseKtap(fs.readFileSync(join(dir, 'ktap.txt'), 'utf8'));
    expect(k.tests.filter((t) => !t.ok).map((t) => t.description)).toEqual([`profile ${failed.name}`]);
    expect(k.tests.find((t) => !t.ok)!.diagnostics).toContain(`replay: ${failed.replay}`);
    const j = (await parseJunit(fs.readFileSync(join(dir, 'j/junit.xml'), 'utf8'))) as TestSuites;
    expect(j.failures).toBe(1);
    expect(allCases(j).find((c) => c.failure)!.failure![0].inner).toContain(failed.caseFile!);
  }, 600_000);

  it('replay: one test per case file; --ktap - puts KTAP alone on stdout, the human lines on stderr', async () => {
    const dir = tmp();
    const cases = ['properties/cases/acl-posix.json', 'properties/cases/regression-tmpfile-in-setgid-dir-takes-its-group.json'];
    const r = await execa(process.execPath, [CLI, 'replay', '--ktap', '-', '--json', join(dir, 'r.json'), ...cases], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const k = parseKtap(r.stdout);
    expect(k.tests.map((t) => [t.ok, t.description])).toEqual(cases.map((c) => [true, `case ${c}`]));
    expect(r.stderr).toContain(`ok  ${cases[0]}`);
    const json = resultsSchema.parse(JSON.parse(fs.readFileSync(join(dir, 'r.json'), 'utf8')));
    expect(json.totals).toMatchObject({ tests: 2, pass: 2 });
  }, 600_000);

  it('compare: the run and each finding are tests; a finding carries its case and the replay command with the driver', async () => {
    const dir = tmp();
    const r = await execa(process.execPath, [CLI, 'compare', '--driver', 'memfs-unionfs', '--runs', '30', '--seed', '2', '--max-findings', '1',
      '--out', join(dir, 'c'), '--json', join(dir, 'c.json'), '--junit', join(dir, 'c.xml')], { reject: false });
    expect(r.exitCode, r.stderr).toBe(1);
    const json = resultsSchema.parse(JSON.parse(fs.readFileSync(join(dir, 'c.json'), 'utf8')));
    expect(json.tests[0]).toMatchObject({ suite: 'compare', status: 'fail', cases: expect.any(Number) });
    const findings = json.tests.filter((t) => t.suite === 'finding');
    expect(findings.length).toBeGreaterThan(0);
    for (const f of findings) {
      expect(fs.existsSync(f.caseFile!)).toBe(true);
      expect(f.replay).toBe(`ovlcheck replay --driver memfs-unionfs ${f.caseFile}`);
    }
    const j = (await parseJunit(fs.readFileSync(join(dir, 'c.xml'), 'utf8'))) as TestSuites;
    expect(j.failures).toBe(1 + findings.filter((f) => f.status === 'fail').length);
  }, 600_000);

  it('--shard 1/3, 2/3, 3/3 run exactly the cases of the unsharded run, and merge gives its totals', async () => {
    const dir = tmp();
    const common = ['run', '--runs', '2', '--steps', '4', '--option-sets', '12', '--seed', '5', '--out', dir];
    const run = (extra: string[]) => execa(process.execPath, [CLI, ...common, ...extra], { reject: false });
    const whole = await run(['--json', join(dir, 'whole.json')]);
    expect(whole.exitCode, whole.stderr).toBe(0);
    for (const i of [1, 2, 3]) {
      const r = await run(['--shard', `${i}/3`, '--json', join(dir, `s${i}.json`)]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const m = await execa(process.execPath, [CLI, 'merge', '--json', join(dir, 'merged.json'), ...[3, 1, 2].map((i) => join(dir, `s${i}.json`))], { reject: false });
    expect(m.exitCode, m.stderr).toBe(0);
    const read = (f: string) => resultsSchema.parse(JSON.parse(fs.readFileSync(join(dir, f), 'utf8')));
    const key = (r: Results) => r.tests.map((t) => `${t.suite} ${t.name} ${t.status} ${t.cases ?? '-'} ${t.steps ?? '-'}`).sort();
    const [w, merged] = [read('whole.json'), read('merged.json')];
    expect(w.tests.filter((t) => t.suite === 'options').length).toBeGreaterThan(3); // the option sets are split too
    for (const i of [1, 2, 3]) expect(read(`s${i}.json`).tests.length).toBeGreaterThan(0);
    expect(key(merged)).toEqual(key(w));
    expect(merged.totals).toEqual(w.totals);
    expect(merged.exitCode).toBe(0);
    expect(m.stdout).toMatch(/^ovlcheck: merged 3 shards: CONFORMS: /m);
    // A missing shard, or one of another run, is refused in one line.
    const short = await execa(process.execPath, [CLI, 'merge', join(dir, 's1.json'), join(dir, 's2.json')], { reject: false });
    expect([short.exitCode, short.stderr.trim()]).toEqual([2, 'ovlcheck: shard 3/3 missing']);
    const mixed = await execa(process.execPath, [CLI, 'merge', join(dir, 's1.json'), join(dir, 'whole.json')], { reject: false });
    expect(mixed.exitCode).toBe(2);
  }, 600_000);

  it('bad output paths are refused before anything runs, in one line', async () => {
    const dir = tmp();
    for (const args of [['--ktap', '-', '--json', '-'], ['--junit', dir], ['--json', '/proc/x.json'], ['--junit', join(dir, 'a'), '--ktap', join(dir, 'a')]]) {
      const r = await execa(process.execPath, [CLI, 'run', '--runs', '1', ...args], { reject: false });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
