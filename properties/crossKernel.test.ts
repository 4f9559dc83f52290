// The cross-kernel property on the running kernel: layers written on an ext4 image, read back
// from a copy by another process (the guest executor, here on the same kernel). It must pass,
// and a reader whose model is of another version must see the differences that version makes.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, copyImage, mountImage } from '../harness/guest/images.js';
import { startLocalExecutor, type LocalExecutor } from '../harness/guest/executor.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox, type Sandbox } from '../harness/sandbox.js';
import { localSys, type Sys } from '../harness/sys.js';
import { crossCases, readCrossCases, writeCrossCases, type CrossManifest } from './crossKernel.js';

describe.skipIf(!inPrivateNamespace())('cross-kernel uppers (running kernel, ext4 image)', () => {
  let sandbox: Sandbox;
  let exec: LocalExecutor;
  let manifest: CrossManifest;
  const image = () => path.join(sandbox.root, 'xk.img');
  beforeAll(async () => {
    sandbox = openSandbox();
    exec = await startLocalExecutor(sandbox);
    await createImage(image(), 64);
    const sys = localSys(sandbox);
    const dir = path.join(sandbox.root, 'w');
    await mountImage(sys, sandbox, { file: image() }, dir);
    manifest = writeCrossCases(sys, dir, crossCases(24, 5));
    sandbox.unmount(dir);
  }, 180_000);
  afterAll(async () => {
    await exec?.close();
    sandbox?.close();
  });

  async function read(sys: Sys, m: CrossManifest) {
    const copy = path.join(sandbox.root, `xk-${Math.random().toString(36).slice(2)}.img`);
    await copyImage(image(), copy);
    const dir = path.join(sandbox.root, `r-${path.basename(copy)}`);
    await mountImage(localSys(sandbox), sandbox, { file: copy }, dir);
    try {
      return readCrossCases(sys, dir, m);
    } finally {
      sandbox.unmount(dir);
    }
  }

  it('writes every case the way the model says, on ext4', () => {
    expect(manifest.cases.filter((c) => c.divergence).map((c) => `${c.i} ${c.profile}: ${c.divergence}`)).toEqual([]);
    expect(new Set(manifest.cases.map((c) => c.profile)).size).toBe(8);
  });

  it('reads them back through another process on the same kernel', async () => {
    const r = await read(exec.sys, manifest);
    expect(r.filter((c) => c.status === 'fail').map((c) => c.text)).toEqual([]);
    expect(r.filter((c) => c.status === 'pass').length).toBe(24);
  });

  it('has teeth: read as if a 6.1 kernel had written them, the uuid and escaping rules differ', async () => {
    const as61: CrossManifest = { ...manifest, kernel: '6.1 (pretended)', version: [6, 1, 192] };
    const r = await read(exec.sys, as61);
    expect(r.filter((c) => c.status === 'fail').length).toBeGreaterThan(0);
  });
});
