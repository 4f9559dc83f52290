// The CLI as a user meets it: exit codes, one-line errors, saved cases, Ctrl-C.
import fs from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { inPrivateNamespace } from '../harness/namespace.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'properties', 'cli.js');
const tmp = () => fs.mkdtempSync(join(process.env.OVLCHECK_TMP ?? os.tmpdir(), 'cli-'));
const ORDER = ['data', 'hang', 'outcome', 'metadata', 'bookkeeping'];
const ovlcheck = (args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, timeout: 120_000 });

describe('bad input: one line, exit 2', { timeout: 120_000 }, () => { // each a process start or several: no speed assumed
  it('unknown option', async () => {
    const r = await ovlcheck(['run', '--bogus', '1']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe('ovlcheck: unknown option "--bogus" (ovlcheck run --help lists them)');
  });
  it('malformed number', async () => {
    const r = await ovlcheck(['run', '--runs', 'many']);
    expect([r.exitCode, r.stderr]).toEqual([2, 'ovlcheck: --runs: expected an integer from 1 to 1000000000, got "many"']);
  });
  it('unknown command', async () => {
    expect((await ovlcheck(['frobnicate'])).exitCode).toBe(2);
  });
  it('malformed case file', async () => {
    const dir = tmp();
    fs.writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ovlcheck: 1, layers: { lowers: [{ '/a': { type: 'sock' } }] }, steps: [] }));
    const r = await ovlcheck(['replay', join(dir, 'bad.json')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('unknown entry type "sock"');
  });
  it('missing case file', async () => {
    const r = await ovlcheck(['replay', '/nonexistent/case.json']);
    expect([r.exitCode, r.stderr]).toEqual([2, 'ovlcheck: "/nonexistent/case.json": no such case file']);
  });
  it('compare without a driver, with an unknown one, exec without its command', async () => {
    const r1 = await ovlcheck(['compare']);
    expect([r1.exitCode, r1.stderr]).toEqual([2, 'ovlcheck: compare needs --driver NAME (one of: kernel, fuse-overlayfs, unionfs-fuse, memfs-unionfs, exec, planted)']);
    const r2 = await ovlcheck(['compare', '--driver', 'zfs']);
    expect([r2.exitCode, r2.stderr]).toEqual([2, 'ovlcheck: --driver: unknown driver "zfs" (one of: kernel, fuse-overlayfs, unionfs-fuse, memfs-unionfs, exec, planted)']);
    const r3 = await ovlcheck(['compare', '--driver', 'exec']);
    expect([r3.exitCode, r3.stderr]).toEqual([2, 'ovlcheck: driver exec: the exec driver needs --mount-cmd "..." (see README, "Your own implementation")']);
    const r4 = await ovlcheck(['cross', '--from', 'kernel', '--to', 'kernel']);
    expect([r4.exitCode, r4.stderr]).toEqual([2, 'ovlcheck: cross needs two different implementations']);
    const r5 = await ovlcheck(['compare', '--driver', 'memfs-unionfs', '--fail-on', 'data,cosmetic']);
    expect([r5.exitCode, r5.stderr]).toEqual([2, 'ovlcheck: --fail-on: "cosmetic" is not a harm class (data, hang, outcome, metadata, bookkeeping)']);
    const r6 = await ovlcheck(['compare', '--driver', 'planted']);
    expect([r6.exitCode, r6.stderr]).toEqual([2, 'ovlcheck: --driver planted needs --plant FAULT[,FAULT] (and --plant is for it only)']);
  });
  it('stats: per 1000 cases, each scenario with and without locality; the model only, no root needed', async () => {
    const r = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, CLI, 'stats', '--cases', '300'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const row = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(name))!.trim().split(/\s+/).slice(-2).map(Number);
    const [without, withLocality] = row('empty-then-remove');
    expect(withLocality).toBeGreaterThanOrEqual(50); // at least 5% of cases
    expect(withLocality).toBeGreaterThan(without);
  });
  it('not root, without subordinate ids: rootless mode skips every profile, and a run where nothing ran exits 2', async () => {
    const out = join(tmp(), 'out');
    fs.mkdirSync(out, { recursive: true });
    fs.chmodSync(dirname(out), 0o777);
    fs.chmodSync(out, 0o777);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OVLCHECK_'))); // a run of its own, as from a shell
    const r = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, CLI, 'run', '--runs', '2', '--out', out],
      { reject: false, cwd: '/', extendEnv: false, env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/^ovlcheck: profile userxattr skipped: .*rootless mode without subordinate ids/m);
    expect(r.stdout).toMatch(/^ovlcheck: INCOMPLETE \(nothing ran: every profile was skipped here, the reasons are above\): .* 0 profiles \(\d+ skipped\)/m);
  });
});

describe.skipIf(!inPrivateNamespace())('runs', () => {
  it('a known-answer case replays clean: exit 0', async () => {
    const r = await ovlcheck(['replay', join(import.meta.dirname, 'cases', 'lab-two-layers.json')]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  }, 30_000);

  it('replay --coverage writes the table by catalog item: the rule of a known case is counted under its file', async () => {
    const out = join(tmp(), 'out');
    const file = join(import.meta.dirname, 'cases', 'rename-dir-exdev.json');
    const r = await ovlcheck(['replay', '--coverage', '--out', out, file]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ovlcheck: coverage: \\d+ of \\d+ catalog items testable here reached \\(\\d+%\\); ${out}/coverage\\.md`, 'm'));
    const json = JSON.parse(fs.readFileSync(join(out, 'coverage.json'), 'utf8')) as { items: { id: string; count: number; by: { context: string }[] }[] };
    const s52 = json.items.find((i) => i.id === 'S5.2')!;
    expect(s52.count).toBeGreaterThan(0);
    expect(s52.by.map((b) => b.context)).toEqual([file]);
    expect(fs.readFileSync(join(out, 'coverage.md'), 'utf8')).toMatch(/^\| S5\.2 \| Directory rename without redirect \| [1-9]/m);
  }, 30_000);

  it('run --coverage counts by profile and mount property', async () => {
    const out = join(tmp(), 'out');
    const r = await ovlcheck(['run', '--coverage', '--profile', 'redirect-on', '--runs', '5', '--seed', '1', '--out', out]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const json = JSON.parse(fs.readFileSync(join(out, 'coverage.json'), 'utf8')) as { reached: number; items: { id: string; by: { context: string }[] }[] };
    const contexts = (id: string) => json.items.find((i) => i.id === id)!.by.map((b) => b.context);
    expect(contexts('S4.1')).toEqual(['profile redirect-on']);
    expect(contexts('S15.2')).toContain('mount-time validation');
    expect(contexts('S15.1a')).toEqual(['mount sequences']);
    expect(json.reached).toBeGreaterThan(20);
  }, 120_000);

  it('a case the model does not hold yet is reported with its reason, exit 2', async () => {
    const dir = tmp();
    const noData = { '/f': { type: 'file', xattrs: { 'trusted.overlay.metacopy': '' } } };
    const c = { ovlcheck: 1, profile: 'data-only', layers: { lowers: [noData], upper: {}, data: [{ '/x': { type: 'file' } }] }, steps: [] };
    fs.writeFileSync(join(dir, 'nm.json'), JSON.stringify(c));
    const r = await ovlcheck(['replay', join(dir, 'nm.json')]);
    // Reported for that case, with the reason; the other cases of a replay still run.
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain('CANNOT RUN (the model does not hold this yet: a metacopy file whose data is missing, with data-only layers (ENOENT at open) (S7.4))');
  }, 30_000);

  it('a divergence exits 1, is printed with its steps and saved as a case file that replays', async () => {
    const out = tmp();
    const r = await ovlcheck(['run', '--runs', '200', '--seed', '5', '--mutate', 'no-whiteout-on-unlink', '--out', out]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toContain('DIVERGENCE kernel');
    expect(r.stdout).toMatch(/unlink\("[^"]+"\)/);
    const saved = fs.readdirSync(out);
    expect(saved).toHaveLength(1);
    const replay = await ovlcheck(['replay', join(out, saved[0])]); // the real model is right
    expect(replay.exitCode, replay.stdout).toBe(0);
  }, 60_000);

  it('compare writes a report with one row and one replayable case per finding, worst first, capped per class; exit 1', async () => {
    const out = tmp();
    const r = await ovlcheck(['compare', '--driver', 'memfs-unionfs', '--runs', '60', '--max-findings', '1', '--seed', '1', '--out', out]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/5 new findings \(data 1, hang 0, outcome 1, metadata 1, bookkeeping 1\)|4 new findings/);
    const report = fs.readFileSync(join(out, 'report.md'), 'utf8');
    const rows = report.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    const classes = rows.map((l) => l.split('|')[2].trim());
    expect(classes).toEqual([...classes].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b))); // worst first
    expect(new Set(classes).size).toBe(classes.length); // one per class
    expect(report).toContain('agrees with the model'); // each case replayed on the kernel too
    const json = JSON.parse(fs.readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json.findings.map((f: { harm: string }) => f.harm)).toEqual(classes);
    for (const f of json.findings) expect(f.signature.startsWith(`${f.harm}: `)).toBe(true);
    expect(json.findings[0].foundAfterMs).toBeGreaterThanOrEqual(0);
    const again = await ovlcheck(['replay', '--driver', 'memfs-unionfs', json.findings[0].case]);
    expect(again.exitCode, again.stdout).toBe(1);
    const onKernel = await ovlcheck(['replay', json.findings[0].case]);
    expect(onKernel.exitCode, onKernel.stdout).toBe(0);
    // --fail-on: findings outside the gate's classes leave the exit 0.
    const gate = await ovlcheck(['compare', '--driver', 'memfs-unionfs', '--runs', '60', '--max-findings', '1', '--seed', '1', '--out', tmp(), '--fail-on', 'hang']);
    expect(gate.exitCode, gate.stdout).toBe(0);
    expect(gate.stdout).toContain('0 of them in the classes that fail (--fail-on hang)');
    const bad = join(out, 'expect.json');
    fs.writeFileSync(bad, JSON.stringify({ driver: 'memfs-unionfs', expected: [{ signature: 'x' }] }));
    const r2 = await ovlcheck(['compare', '--driver', 'memfs-unionfs', '--expectations', bad]);
    expect([r2.exitCode, r2.stderr]).toEqual([2, `ovlcheck: ${bad}: expected[0] needs a "signature" and a non-empty "reason"`]);
    fs.writeFileSync(bad, JSON.stringify({ driver: 'memfs-unionfs', expected: [{ signature: 'merged: nlink (more), root', reason: 'old style' }] }));
    const r3 = await ovlcheck(['compare', '--driver', 'memfs-unionfs', '--expectations', bad]);
    expect(r3.exitCode).toBe(2);
    expect(r3.stderr).toMatch(/expected\[0\]: a signature starts with its class/);
  }, 120_000);

  it('a SIGTERM mid-compare (a CI timeout) leaves a complete report of what was found so far', async () => {
    const out = tmp();
    const child = execa(process.execPath, [CLI, 'compare', '--driver', 'memfs-unionfs', '--runs', '100000', '--max-findings', '1000', '--time-budget', '3600', '--seed', '2', '--out', out], { reject: false });
    const found = () => {
      try {
        return JSON.parse(fs.readFileSync(join(out, 'report.json'), 'utf8')).findings.length as number;
      } catch {
        return 0; // not written yet, or being written
      }
    };
    // However slow the machine: until the report holds three findings, or the run ends (it should not).
    while (found() < 3 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(found()).toBeGreaterThanOrEqual(3); // written as found, before the run ends
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    const json = JSON.parse(fs.readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json.stoppedBy).toBe('signal');
    expect(json.findings.length).toBeGreaterThanOrEqual(3);
    for (const f of json.findings) expect(fs.existsSync(f.case)).toBe(true);
  }, 900_000); // a guard against a hang, not a speed limit

  it('Ctrl-C stops a compare against fuse-overlayfs and leaves no daemon, mount or temp dir', async () => {
    const env = { ...process.env, OVLCHECK_NS_PARENT: '' };
    const child = execa(process.execPath, [CLI, 'compare', '--driver', 'fuse-overlayfs', '--runs', '100000', '--out', tmp()], { reject: false, env, detached: true, all: true });
    const daemons = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return basename(argv.split('\0')[0]) === 'fuse-overlayfs' && argv.includes(`-${child.pid}-`); // the binary by its path
      } catch {
        return false;
      }
    });
    while (daemons().length === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    expect(daemons().length).toBeGreaterThan(0); // caught mid-run, with a daemon serving a mount
    process.kill(-child.pid!, 'SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(daemons()).toEqual([]);
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('ovlcheck-') && n.includes(`-${child.pid}-`))).toEqual([]);
  }, 60_000);

  it('Ctrl-C stops a run promptly and leaves no process, mount or temp dir behind', async () => {
    const env = { ...process.env, OVLCHECK_NS_PARENT: '' }; // a namespace of its own, as from a shell
    const child = execa(process.execPath, [CLI, 'run', '--runs', '1000000'], { reject: false, env, detached: true, all: true });
    await new Promise<void>((resolve) => child.all!.on('data', () => resolve()));
    process.kill(-child.pid!, 'SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    const left = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('ovlcheck-') && n.includes(`-${child.pid}-`));
    expect(left).toEqual([]);
    const ps = await execa('pgrep', ['-f', 'run --runs 1000000'], { reject: false });
    expect(ps.stdout).toBe('');
  }, 60_000);
});
