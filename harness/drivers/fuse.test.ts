import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../../model/profile.js';
import type { StackSpec } from '../../model/types.js';
import { inPrivateNamespace } from '../namespace.js';
import { openSandbox, type Sandbox } from '../sandbox.js';
import { StepTimeout } from '../watchdog.js';
import { ExecDriver } from './exec.js';
import { KNOWN_BUILDS, resolveBuild, type FuseName } from './builds.js';
import { FuseDriver, fuseImplementation } from './fuse.js';

const SKIP = inPrivateNamespace() ? '' : ' [skipped: needs root in a private mount namespace; run `npm test`]';

const STACK: StackSpec = {
  lowers: [
    { '/f': { type: 'file', data: 'top' }, '/d/a': { type: 'file', data: 'a' }, '/gone': { type: 'whiteout' } },
    { '/f': { type: 'file', data: 'bottom' }, '/g': { type: 'file', data: 'g' }, '/gone': { type: 'file' }, '/d/b': { type: 'file' } },
  ],
  upper: { '/o': { type: 'dir', opaque: true } },
};
const FAST = { mountMs: 10_000, stepMs: 1_000, exitMs: 2_000 };

function fuseMounts(): string[] {
  return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => /^\S+ \S+ fuse[. ]/.test(l));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

// Every known build: Debian's packages, and the vendored releases ci/build-implementations.sh builds.
const BUILDS = Object.entries(KNOWN_BUILDS).flatMap(([name, builds]) => Object.keys(builds).map((version) => [name as FuseName, version] as const));

for (const [name, version] of BUILDS) {
  const build = resolveBuild(name, { version });
  const missing = SKIP || (typeof build === 'string' ? ` [skipped: ${build}]` : '');
  describe.skipIf(missing !== '')(`${name}@${version} driver${missing}`, () => {
    let sandbox: Sandbox;
    let driver: FuseDriver;
    beforeAll(() => {
      sandbox = openSandbox();
      driver = new FuseDriver(sandbox, fuseImplementation(name, build as Exclude<typeof build, string>), FAST);
    });
    afterEach(() => driver.teardown());
    afterAll(() => sandbox?.close());

    it('shows the union, whiteouts and opaque dirs in its own format, decoded', async () => {
      await driver.setup(STACK, DEFAULT_PROFILE);
      const merged = driver.snapshot('merged');
      expect(merged.get('/f')).toMatchObject({ kind: 'file', data: 'top' });
      expect([...merged.keys()]).toEqual(['/', '/d', '/d/a', '/d/b', '/f', '/g', '/o']);
      expect(await driver.apply({ op: 'unlink', path: '/g' })).toBe('ok');
      const upper = driver.codec.decode(driver.snapshot('upper'));
      expect(upper.get('/g')).toMatchObject({ kind: 'whiteout' });
      expect(upper.get('/o')?.xattrs).toEqual({ 'overlay.opaque': 'y' });
      expect(driver.codec.decode(driver.snapshot(0)).get('/gone')).toMatchObject({ kind: 'whiteout' });
    });

    it('stops a dir\'s merge at a non-dir below it, as the kernel does (S2.3): in its format if it needs a mark for it', async () => {
      // lower0's file /b ends the merge of the upper's dir /b, and lower1's dir /d of lower0's dir /d, so nothing of lower2 shows.
      const stops: StackSpec = {
        lowers: [{ '/b': { type: 'file' }, '/d/x': { type: 'file' } }, { '/b/a': { type: 'file' }, '/d': { type: 'symlink', target: 'x' } }, { '/d/y': { type: 'file' } }],
        upper: { '/b/e': { type: 'file' } },
      };
      await driver.setup(stops, DEFAULT_PROFILE);
      expect([...driver.snapshot('merged').keys()]).toEqual(['/', '/b', '/b/e', '/d', '/d/x']);
    });

    it('keeps its state across remount and rotation', async () => {
      await driver.setup(STACK, DEFAULT_PROFILE);
      expect(await driver.apply({ op: 'open', path: '/n', flags: ['O_CREAT', 'O_WRONLY'], data: 'n' })).toBe('ok');
      expect(await driver.apply({ op: 'remount' })).toBe('ok');
      expect(await driver.apply({ op: 'rotate' })).toBe('ok');
      expect(driver.snapshot('merged').get('/n')).toMatchObject({ data: 'n' });
      expect(driver.snapshot(0).get('/n')).toMatchObject({ data: 'n' });
      expect(driver.snapshot('upper').size).toBe(1);
    });

    it('turns a killed daemon into ENOTCONN, and tears down without leaks', async () => {
      await driver.setup(STACK, DEFAULT_PROFILE);
      const pid = driver.daemonPid;
      process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      expect(await driver.apply({ op: 'unlink', path: '/g' })).toBe('ENOTCONN');
      await driver.teardown();
      expect(fuseMounts()).toEqual([]);
      expect(processAlive(pid)).toBe(false);
    });

    it('tears down with fds and dir streams still open on a daemon that died, and leaves no mount', async () => {
      await driver.setup(STACK, DEFAULT_PROFILE);
      expect(await driver.apply({ op: 'fdopen', slot: 0, path: '/f', flags: ['O_RDWR'] })).toBe('ok');
      expect(await driver.apply({ op: 'opendir', path: '/d', dir: 0 })).toBe('ok');
      process.kill(driver.daemonPid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      await driver.teardown(); // closing those fds fails (ENOTCONN): nothing is compared there
      expect(fuseMounts()).toEqual([]);
    });

    it('turns a hung daemon into a StepTimeout within the deadline, and tears down without leaks', async () => {
      await driver.setup(STACK, DEFAULT_PROFILE);
      const pid = driver.daemonPid;
      process.kill(pid, 'SIGSTOP');
      const started = Date.now();
      await expect(driver.apply({ op: 'open', path: '/new', flags: ['O_CREAT', 'O_WRONLY'] })).rejects.toThrow(StepTimeout);
      // Not a speed limit: a wide margin over the deadline (a busy runner delays the timer), far below a hang.
      expect(Date.now() - started).toBeLessThan(FAST.stepMs + 15_000);
      expect(driver.snapshot('merged').get('/')).toMatchObject({ kind: 'error', errno: 'ENOTCONN' }); // dead, not hanging
      await driver.teardown();
      expect(fuseMounts()).toEqual([]);
      expect(processAlive(pid)).toBe(false);
    });

    it('answers walk after walk with no turn of the event loop between them, whatever it writes to its stderr', async () => {
      // unionfs-fuse 3.7 writes two lines per dir entry it lists: with its stderr a pipe to this
      // process, drained only between steps, it blocked in write(2) and stopped answering.
      const many: StackSpec = { lowers: [Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`/d/entry-with-a-long-name-${i}`, { type: 'file' as const }]))], upper: {} };
      const patient = new FuseDriver(sandbox, fuseImplementation(name, build as Exclude<typeof build, string>), { ...FAST, stepMs: 20_000 }); // a hang guard only
      try {
        await patient.setup(many, DEFAULT_PROFILE);
        const sizes = Array.from({ length: 30 }, () => patient.snapshot('merged').size);
        expect(new Set(sizes)).toEqual(new Set([302]));
      } finally {
        await patient.teardown();
      }
    });

    it('refuses profiles it has no options for', async () => {
      await expect(driver.setup(STACK, { ...DEFAULT_PROFILE, name: 'index', index: true })).rejects.toThrow(/default profile only/);
    });
  });
}

describe.skipIf(SKIP !== '')(`exec driver${SKIP}`, () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  it('mounts through the user command with quoted placeholders, and unmounts itself', async () => {
    const driver = new ExecDriver(sandbox, { mount: 'mount -t overlay overlay -o lowerdir={lowerdir},upperdir={upperdir},workdir={workdir},{options} {merged}' });
    const facts = await driver.setup(STACK, DEFAULT_PROFILE);
    expect(facts.shown).toMatch(/^overlay /);
    expect(await driver.apply({ op: 'unlink', path: '/g' })).toBe('ok');
    expect(driver.snapshot('upper').get('/g')).toMatchObject({ kind: 'whiteout' });
    await driver.teardown();
    expect(fs.readFileSync('/proc/self/mounts', 'utf8')).not.toContain(facts.shown.split(' ')[1]);
  });

  it('reports a failing mount command with its exit status and last line', async () => {
    const driver = new ExecDriver(sandbox, { mount: 'echo no such implementation >&2; exit 3' });
    await expect(driver.setup(STACK, DEFAULT_PROFILE)).rejects.toThrow(/mount command failed \(exit 3\).*no such implementation/);
  });
});
