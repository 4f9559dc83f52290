import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBuild } from '../harness/drivers/builds.js';
import { runningKernel } from '../harness/sys.js';
import { hasFeature } from '../model/versions.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox, type Sandbox } from '../harness/sandbox.js';
import { compareVersions, versionsMarkdown } from './versions.js';

// Two builds of fuse-overlayfs, finding by finding, from committed cases whose fate is known:
// reports/fuse-overlayfs/cases/02.json (a lower's xattr whiteout shown as a file) shows on
// 1.10 and 1.16; 26.json (the kernel mounting its layers sees a name fail) on 1.10 only.

const here = path.dirname(new URL(import.meta.url).pathname);
// The cases' fates were seen on 6.18, and 02's needs xattr whiteouts (6.7+, S3.4): on older kernels
// the model expects otherwise, so the test runs from 6.7 on.
const missing = !inPrivateNamespace() ? 'needs root in a private mount namespace'
  : !hasFeature(runningKernel(), 'xattrWhiteouts') ? 'its cases show with xattr whiteouts, 6.7+'
    : [['1.10'], ['1.16']].map(([v]) => resolveBuild('fuse-overlayfs', { version: v })).find((b) => typeof b === 'string');

describe.skipIf(missing !== undefined)(`ovlcheck versions${missing ? ` [skipped: ${missing}]` : ''}`, () => {
  let sandbox: Sandbox;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovlcheck-versions-'));
  beforeAll(() => {
    sandbox = openSandbox();
    for (const side of ['old', 'new']) fs.mkdirSync(path.join(dir, side, 'cases'), { recursive: true });
    for (const n of ['02', '26']) fs.copyFileSync(path.join(here, '..', 'reports', 'fuse-overlayfs', 'cases', `${n}.json`), path.join(dir, 'old', 'cases', `${n}.json`));
  });
  afterAll(() => {
    sandbox?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replays every case on both builds: still there, fixed', async () => {
    const v = await compareVersions(
      { name: 'fuse-overlayfs', version: '1.10', dir: path.join(dir, 'old') },
      { name: 'fuse-overlayfs', version: '1.16', dir: path.join(dir, 'new') },
      sandbox,
    );
    expect(v.rows.map((r) => [r.signature, r.status])).toEqual([
      ['data: at mount: merged: kind error became file, new name', 'still there'],
      ['metadata: when the kernel mounts its layers: kernel-read: unexpected error new', 'fixed'],
    ]);
    expect(v.rows[1].cases).toEqual([{ from: 'older', file: path.join(dir, 'old', 'cases', '26.json'), onOlder: v.rows[1].signature, onNewer: null }]);
    expect(versionsMarkdown(v)).toMatch(/\| 2 \| fixed in 1\.16 \| metadata \|/);
  });
});
