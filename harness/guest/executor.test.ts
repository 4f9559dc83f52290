// The guest executor, run here on the running kernel: every syscall and every walk must mean
// what the harness's own do, so that a divergence found inside a guest is the kernel's.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedProfile } from '../../model/index.js';
import type { LayerSpec, Op, Snapshot } from '../../model/types.js';
import { runConformance } from '../../properties/conformance.js';
import { MUTATIONS } from '../../properties/mutations.js';
import { formatFailure } from '../../properties/report.js';
import { runMountSequences, runMountValidation } from '../../properties/mountValidation.js';
import { opCall } from '../calls.js';
import { KernelDriver } from '../drivers/kernel.js';
import { layerPlan } from '../materialize.js';
import { inPrivateNamespace } from '../namespace.js';
import { openSandbox, type Sandbox } from '../sandbox.js';
import { kernelOf, localSys, type Sys } from '../sys.js';
import { startLocalExecutor, type LocalExecutor } from './executor.js';

const EVERY_TYPE: LayerSpec = {
  '/d': { type: 'dir', mode: 0o700, opaque: true, xattrs: { 'user.d': 'dir value' } },
  '/d/f': { type: 'file', mode: 0o640, data: 'h\xe9llo\x00\xff', xattrs: { 'user.x': 'v\xff\x00' } },
  '/d/h': { type: 'link', to: '/d/f' },
  '/a/b/s': { type: 'symlink', target: '../../d/f' },
  '/e': { type: 'file' },
  '/p': { type: 'fifo', mode: 0o600 },
  '/wh': { type: 'whiteout' },
  '/o': { type: 'file', uid: 1000, gid: 1001, mtime: 1_000_000_000 },
  '/t': { type: 'dir', mode: 0o1777, uid: 1000, gid: 1000 },
  '/k': { type: 'file', mode: 0o666 },
  '/ks': { type: 'symlink', target: 'k', mtime: 1_100_000_000 },
};

/** Times the layer spec or a step set: those are compared; the rest are when each tree was made. */
const KNOWN_TIMES = ['/o', '/k', '/ks'];

/** A snapshot without the numbers the kernel hands out: which names share an inode instead. */
function comparable(snap: Snapshot): unknown {
  const first = new Map<string | number, string>();
  return [...snap].map(([p, e]) => {
    const { ino, dev: _dev, mtime, ...rest } = e;
    if (!first.has(ino)) first.set(ino, p);
    return [p, { ...rest, sameInodeAs: first.get(ino), ...(KNOWN_TIMES.includes(p) ? { mtime } : {}) }];
  });
}

describe.skipIf(!inPrivateNamespace())('guest executor on the running kernel', () => {
  let sandbox: Sandbox;
  let exec: LocalExecutor;
  let local: Sys;
  beforeAll(async () => {
    sandbox = openSandbox();
    local = localSys(sandbox);
    exec = await startLocalExecutor(sandbox);
  }, 120_000);
  afterAll(async () => {
    await exec?.close();
    sandbox?.close();
  });

  it('says which kernel it runs on', () => {
    expect(exec.sys.release()).toBe(local.release());
    expect(kernelOf(exec.sys)).toEqual(kernelOf(local));
  });

  it('builds and walks a layer exactly as the harness does: kinds, modes, data, xattrs, links', () => {
    const walks = [local, exec.sys].map((sys) => {
      const dir = `${sys.sandbox.newDir('layer-')}`;
      sys.build(layerPlan(dir, EVERY_TYPE, 'trusted.overlay.'));
      return sys.walk(dir);
    });
    expect(comparable(walks[1])).toEqual(comparable(walks[0]));
    expect(walks[1].get('/d/f')).toMatchObject({ kind: 'file', mode: 0o640, nlink: 2, data: 'h\xe9llo\x00\xff', xattrs: { 'user.x': 'v\xff\x00' } });
    expect(walks[1].get('/wh')).toMatchObject({ kind: 'whiteout' });
  });

  it('reports a build that fails at the entry that failed', () => {
    const dir = exec.sys.sandbox.newDir('layer-');
    expect(() => exec.sys.build(layerPlan(dir, { '/x': { type: 'file', xattrs: { 'bogus.x': '1' } } }, 'trusted.overlay.'))).toThrow(/layer entry \/x: set bogus.x failed with EOPNOTSUPP/);
  });

  it('gives every operation the outcome the harness gets', () => {
    const ops: Op[] = [
      { op: 'unlink', path: '/nope' }, { op: 'mkdir', path: '/d', mode: 0o755 }, { op: 'open', path: '/d', flags: ['O_WRONLY'] },
      { op: 'rmdir', path: '/d' }, { op: 'truncate', path: '/d', size: 0 }, { op: 'link', src: '/d', dst: '/d2' },
      { op: 'open', path: '/n', flags: ['O_CREAT', 'O_WRONLY'], mode: 0o666, data: 'd\xe9' }, { op: 'open', path: '/e', flags: ['O_RDONLY'], data: 'z' },
      { op: 'rename', src: '/e', dst: '/d/f', flags: ['RENAME_NOREPLACE'] }, { op: 'rename', src: '/e', dst: '/d/f', flags: ['RENAME_EXCHANGE'] },
      { op: 'rename', src: '/e', dst: '/h', flags: ['RENAME_NOREPLACE', 'RENAME_EXCHANGE'] }, { op: 'mknod', path: '/q', kind: 'fifo', mode: 0o644 },
      { op: 'open', path: '/q', flags: ['O_WRONLY'] }, { op: 'mknod', path: '/w2', kind: 'whiteout', mode: 0 }, { op: 'symlink', target: 'e', path: '/s' },
      { op: 'chmod', path: '/s', mode: 0o600 }, { op: 'setxattr', path: '/n', name: 'user.a', value: '1', flags: 'XATTR_CREATE' },
      { op: 'setxattr', path: '/n', name: 'user.a', value: '2', flags: 'XATTR_CREATE' }, { op: 'removexattr', path: '/n', name: 'user.b' },
      { op: 'truncate', path: '/n', size: 5 },
      // S11: owners, times and steps as other callers.
      { op: 'chown', path: '/k', uid: 1000, gid: -1 }, { op: 'chown', path: '/ks', uid: 1001, gid: 1001, nofollow: true },
      { op: 'utimes', path: '/k', atime: 'omit', mtime: 1_200_000_000 }, { op: 'utimes', path: '/ks', atime: 'now', mtime: 1_300_000_000, nofollow: true },
      { op: 'utimes', path: '/o', atime: 1, mtime: 2, as: { uid: 1001, gid: 1001 } },
      { op: 'open', path: '/t/x', flags: ['O_CREAT', 'O_WRONLY'], mode: 0o666, as: { uid: 1001, gid: 1001, umask: 0o077 } },
      { op: 'mkdir', path: '/t/y', mode: 0o777, as: { uid: 1001, gid: 1001, groups: [1001, 5] } },
      { op: 'unlink', path: '/o', as: { uid: 1001, gid: 1001 } }, { op: 'chmod', path: '/o', mode: 0o600, as: { uid: 1000, gid: 1000 } },
    ];
    const results = [local, exec.sys].map((sys) => {
      const dir = sys.sandbox.newDir('tree-');
      sys.build(layerPlan(dir, EVERY_TYPE, 'trusted.overlay.'));
      const outcomes = ops.map((op) => sys.run(opCall(dir, op)));
      return { outcomes, snap: comparable(sys.walk(dir)) };
    });
    expect(results[1].outcomes).toEqual(results[0].outcomes);
    expect(results[0].outcomes).toContain('ENXIO');
    expect(results[0].outcomes.slice(-5)).toEqual(['EPERM', 'ok', 'ok', 'EACCES', 'ok']);
    expect(results[1].snap).toEqual(results[0].snap);
  });

  it('lists a name whose lookup fails with that errno, as the harness does (S22.9)', async () => {
    const stack = { lowers: [{ '/a/x': { type: 'file' as const } }], upper: { '/d': { type: 'dir' as const, xattrs: { 'trusted.overlay.redirect': 'a' } } } };
    const profile = namedProfile('redirect-nofollow');
    const walks: Snapshot[] = [];
    for (const sys of [local, exec.sys]) {
      const driver = new KernelDriver(sys);
      await driver.setup(stack, profile);
      walks.push(driver.snapshot('merged'));
      await driver.teardown();
    }
    expect(walks[1].get('/d')).toEqual(walks[0].get('/d'));
    expect(walks[1].get('/d')).toMatchObject({ kind: 'error', errno: 'EPERM' });
  });

  it('runs the property through the executor with no divergence, every profile', async () => {
    const driver = new KernelDriver(exec.sys);
    try {
      for (const name of ['default', 'index', 'metacopy', 'redirect-on', 'userxattr', 'xino-on-split', 'ro', 'lower-only', 'data-only', 'volatile']) {
        const s = await runConformance({
          runs: 25, steps: 15, maxLowers: 4, maxEntriesPerLayer: 10, seed: 11, profile: namedProfile(name),
          kernel: kernelOf(exec.sys), kernelRelease: exec.sys.release(), driver,
        });
        expect(s.crash?.stack ?? '', name).toBe('');
        expect(s.failure ? formatFailure(s.failure) : '', name).toBe('');
      }
    } finally {
      await driver.teardown();
    }
  }, 300_000);

  it('has teeth through the executor: a broken model fails with a small case', async () => {
    const driver = new KernelDriver(exec.sys);
    try {
      const m = MUTATIONS['no-whiteout-on-unlink'];
      const s = await runConformance({
        runs: 200, steps: 15, maxLowers: 4, maxEntriesPerLayer: 10, seed: 1, profile: namedProfile(m.profile),
        kernel: kernelOf(exec.sys), kernelRelease: exec.sys.release(), driver, modelStep: m.step,
      });
      expect(s.failure).not.toBeNull();
      expect(s.failure!.history.length).toBeLessThanOrEqual(3);
    } finally {
      await driver.teardown();
    }
  }, 120_000);

  it('runs the mount-time and mount-sequence properties through the executor', async () => {
    const m = await runMountValidation(exec.sys, 150, 3);
    expect(m.failure).toBeNull();
    const q = await runMountSequences(exec.sys, 40, 3);
    expect(q.failure).toBeNull();
  }, 120_000);

  it('removes trees, reads files, lists dirs and watches for changes', () => {
    const dir = exec.sys.sandbox.newDir('misc-');
    exec.sys.build(layerPlan(dir, { '/t/f': { type: 'file', data: 'abc' } }, 'trusted.overlay.'));
    expect(exec.sys.readText(`${dir}/t/f`)).toBe('abc');
    expect(exec.sys.readText(`${dir}/nope`)).toBeNull();
    expect(exec.sys.list(dir)).toEqual(['t']);
    const changed = exec.sys.watch([`${dir}/t`]);
    expect(changed()).toBe(false);
    fs.appendFileSync(`${dir}/t/f`, 'd'); // the executor shares this namespace: the change is seen
    expect(changed()).toBe(true);
    exec.sys.removeTree(`${dir}/t`);
    expect(exec.sys.exists(`${dir}/t`)).toBe(false);
  });
});
