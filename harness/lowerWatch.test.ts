import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../model/profile.js';
import { KernelDriver } from './drivers/kernel.js';
import { inPrivateNamespace } from './namespace.js';
import { lsetxattr } from './native.js';
import { openSandbox, type Sandbox } from './sandbox.js';

const STACK = {
  lowers: [{ '/f': { type: 'file' as const, data: 'x' }, '/d/g': { type: 'file' as const, data: 'y' }, '/l': { type: 'symlink' as const, target: 'f' } }],
  upper: {},
};

describe.skipIf(!inPrivateNamespace())('lower-layer watch (kernel driver)', () => {
  let sandbox: Sandbox;
  let driver: KernelDriver;
  beforeAll(() => {
    sandbox = openSandbox();
    driver = new KernelDriver(sandbox);
  });
  afterAll(async () => {
    await driver.teardown();
    sandbox.close();
  });

  it('stays silent through copy-up, whiteouts, renames, reads and snapshots of every view', async () => {
    await driver.setup(STACK, DEFAULT_PROFILE);
    for (const op of [
      { op: 'open', path: '/f', flags: ['O_WRONLY', 'O_APPEND'], data: 'z' },
      { op: 'chmod', path: '/d', mode: 0o700 },
      { op: 'rename', src: '/d/g', dst: '/g' },
      { op: 'unlink', path: '/l' },
      { op: 'setxattr', path: '/g', name: 'user.a', value: '1' },
    ] as const) expect(driver.apply(op as never)).toBe('ok');
    driver.snapshot('merged');
    driver.snapshot('upper');
    driver.snapshot(0);
    await driver.remount();
    driver.snapshot('merged');
    expect(driver.lowersChanged()).toBe(false);
  });

  for (const [what, change] of [
    ['a write', (l: string) => fs.appendFileSync(`${l}/f`, 'w')],
    ['a chmod', (l: string) => fs.chmodSync(`${l}/d/g`, 0o600)],
    ['an xattr', (l: string) => expect(lsetxattr(`${l}/f`, 'user.q', '1', 0)).toBe('ok')],
    ['a new name', (l: string) => fs.mkdirSync(`${l}/d/new`)],
    ['a removal', (l: string) => fs.unlinkSync(`${l}/l`)],
  ] as const) {
    it(`reports ${what} in a lower layer`, async () => {
      await driver.setup(STACK, DEFAULT_PROFILE);
      const lower = (driver as unknown as { dirs: { lowers: string[] } }).dirs.lowers[0];
      expect(driver.lowersChanged()).toBe(false);
      change(lower);
      expect(driver.lowersChanged()).toBe(true);
    });
  }
});
