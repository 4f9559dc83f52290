import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROFILE } from '../model/profile.js';
import { useKernelDriver } from './drivers/kernelForTests.js';
import { inPrivateNamespace } from './namespace.js';
import { lsetxattr } from './native.js';

const STACK = {
  lowers: [{ '/f': { type: 'file' as const, data: 'x' }, '/d/g': { type: 'file' as const, data: 'y' }, '/l': { type: 'symlink' as const, target: 'f' } }],
  upper: {},
};

describe.skipIf(!inPrivateNamespace())('lower-layer watch (kernel driver)', () => {
  const kernelDriver = useKernelDriver();

  it('stays silent through copy-up, whiteouts, renames, reads and snapshots of every view', async () => {
    await kernelDriver().setup(STACK, DEFAULT_PROFILE);
    for (const op of [
      { op: 'open', path: '/f', flags: ['O_WRONLY', 'O_APPEND'], data: 'z' },
      { op: 'chmod', path: '/d', mode: 0o700 },
      { op: 'rename', src: '/d/g', dst: '/g' },
      { op: 'unlink', path: '/l' },
      { op: 'setxattr', path: '/g', name: 'user.a', value: '1' },
    ] as const) expect(kernelDriver().apply(op as never)).toBe('ok');
    kernelDriver().snapshot('merged');
    kernelDriver().snapshot('upper');
    kernelDriver().snapshot(0);
    await kernelDriver().remount();
    kernelDriver().snapshot('merged');
    expect(kernelDriver().lowersChanged()).toBe(false);
  });

  for (const [what, change] of [
    ['a write', (l: string) => fs.appendFileSync(`${l}/f`, 'w')],
    ['a chmod', (l: string) => fs.chmodSync(`${l}/d/g`, 0o600)],
    ['an xattr', (l: string) => expect(lsetxattr(`${l}/f`, 'user.q', '1', 0)).toBe('ok')],
    ['a new name', (l: string) => fs.mkdirSync(`${l}/d/new`)],
    ['a removal', (l: string) => fs.unlinkSync(`${l}/l`)],
  ] as const) {
    it(`reports ${what} in a lower layer`, async () => {
      await kernelDriver().setup(STACK, DEFAULT_PROFILE);
      const lower = (kernelDriver() as unknown as { dirs: { lowers: string[] } }).dirs.lowers[0];
      expect(kernelDriver().lowersChanged()).toBe(false);
      change(lower);
      expect(kernelDriver().lowersChanged()).toBe(true);
    });
  }
});
