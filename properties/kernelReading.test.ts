import fs from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOp, createState, DEFAULT_PROFILE, mergedView, type LayerSpec, type Op } from '../model/index.js';
import { fuseOverlayfsCodec, unionfsFuseCodec } from '../harness/codecs.js';
import type { Driver } from '../harness/driver.js';
import { FUSE_IMPLEMENTATIONS, FuseDriver } from '../harness/drivers/fuse.js';
import { KernelDriver } from '../harness/drivers/kernel.js';
import { memUnionCodec } from '../harness/drivers/memUnion.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox, type Sandbox } from '../harness/sandbox.js';
import { runningKernel } from '../harness/sys.js';
import { kernelReadsUpper, writesKernelFormat } from './kernelReading.js';

it('the kernel is given the uppers of drivers that write its format, and only those', () => {
  const withCodec = (codec: Driver['codec']) => ({ name: 'x', codec }) as Driver;
  expect(writesKernelFormat(withCodec(undefined))).toBe(true); // the kernel, exec --codec kernel
  expect(writesKernelFormat(withCodec(fuseOverlayfsCodec))).toBe(true);
  expect(writesKernelFormat(withCodec(unionfsFuseCodec))).toBe(false);
  expect(writesKernelFormat(withCodec(memUnionCodec))).toBe(false);
});

// A few names, some in the lowers, and steps on them: most succeed, some fail (errno is data).
const NAMES = ['/a', '/b', '/d', '/d/x', '/d/y', '/e', '/e/z'];
const LOWERS: LayerSpec[] = [
  { '/a': { type: 'file', data: 'a' }, '/d/x': { type: 'file', data: 'x', xattrs: { 'user.k': '1' } }, '/e/z': { type: 'whiteout' } },
  { '/b': { type: 'symlink', target: 'a' }, '/d/y': { type: 'file' }, '/e/z': { type: 'file', data: 'z' } },
];
const name = fc.constantFrom(...NAMES);
const stepArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('mkdir' as const), path: name, mode: fc.constantFrom(0o755, 0o700) }),
  fc.record({ op: fc.constant('open' as const), path: name, flags: fc.constant<Extract<Op, { op: 'open' }>['flags']>(['O_WRONLY', 'O_CREAT', 'O_APPEND']), mode: fc.constant(0o644), data: fc.constantFrom('1', '22') }),
  fc.record({ op: fc.constant('unlink' as const), path: name }),
  fc.record({ op: fc.constant('rmdir' as const), path: name }),
  fc.record({ op: fc.constant('rename' as const), src: name, dst: name }),
  fc.record({ op: fc.constant('setxattr' as const), path: name, name: fc.constant('user.k'), value: fc.constantFrom('2', '3') }),
  fc.record({ op: fc.constant('chmod' as const), path: name, mode: fc.constant(0o600) }),
  fc.record({ op: fc.constant('link' as const), src: name, dst: name }),
);

describe.skipIf(!inPrivateNamespace())('the kernel reading an upper it did not write', () => {
  let sandbox: Sandbox;
  let reader: KernelDriver;
  const kernel = runningKernel();
  beforeAll(() => {
    sandbox = openSandbox();
    reader = new KernelDriver(sandbox);
  });
  afterAll(async () => {
    await reader?.teardown();
    sandbox?.close();
  });

  it.skipIf(!fs.existsSync('/usr/bin/fuse-overlayfs'))('fuse-overlayfs: the opaque-dir marker it writes shows as a file', async () => {
    const writer = new FuseDriver(sandbox, FUSE_IMPLEMENTATIONS['fuse-overlayfs']);
    const stack = { lowers: [{}], upper: {} };
    const mkdir: Op = { op: 'mkdir', path: '/a', mode: 0o755 };
    try {
      await writer.setup(stack, DEFAULT_PROFILE);
      expect(await writer.apply(mkdir)).toBe('ok');
      await writer.remount();
      const expected = mergedView(applyOp(createState(stack, DEFAULT_PROFILE, kernel), mkdir).state);
      const differences = await kernelReadsUpper(reader, writer, DEFAULT_PROFILE, expected);
      expect(differences).toContainEqual(expect.objectContaining({ view: 'kernel-read', path: '/a/.wh..wh..opq', what: 'unexpected' }));
    } finally {
      await writer.teardown();
    }
  }, 60_000);

  it('the kernel: what it wrote, rotations and all, it reads back as it showed it; a corrupted upper it does not', async () => {
    const writer = new KernelDriver(sandbox);
    const cases = fc.sample(fc.tuple(fc.array(stepArb, { maxLength: 8 }), fc.array(stepArb, { minLength: 1, maxLength: 8 })), { seed: 10, numRuns: 12 });
    try {
      for (const [before, after] of cases) {
        const facts = await writer.setup({ lowers: LOWERS, upper: {} }, DEFAULT_PROFILE);
        for (const op of [...before, { op: 'rotate' } as const, ...after]) await writer.apply(op);
        await writer.remount();
        const shown = writer.snapshot('merged');
        expect(await kernelReadsUpper(reader, writer, DEFAULT_PROFILE, shown)).toEqual([]);
        // By hand, what fuse-overlayfs leaves in a dir it makes opaque.
        const upper = /upperdir=([^,]+)/.exec(facts.options)![1];
        fs.writeFileSync(`${upper}/.wh..wh..opq`, '');
        expect(await kernelReadsUpper(reader, writer, DEFAULT_PROFILE, shown)).toEqual([
          { view: 'kernel-read', path: '/.wh..wh..opq', what: 'unexpected', actual: 'file 0644 ""' },
        ]);
      }
    } finally {
      await writer.teardown();
    }
  }, 60_000);
});
