// Other implementations behind the driver interface: the exec driver pointed at the kernel
// gives the kernel driver's verdicts, and `compare` finds and groups real divergences of the
// in-process control and of fuse-overlayfs, tolerating what an expectations file lists.
import fs from 'node:fs';
import { runningKernel } from '../harness/sys.js';
import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedProfile } from '../model/index.js';
import { ExecDriver } from '../harness/drivers/exec.js';
import { FUSE_IMPLEMENTATIONS, FuseDriver, probeFuse } from '../harness/drivers/fuse.js';
import { KernelDriver } from '../harness/drivers/kernel.js';
import { MemUnionDriver } from '../harness/drivers/memUnion.js';
import type { Driver } from '../harness/driver.js';
import { inPrivateNamespace } from '../harness/namespace.js';
import { openSandbox, type Sandbox } from '../harness/sandbox.js';
import { runConformance } from './conformance.js';
import { runCompare } from './compareRun.js';
import { runCrossUpper } from './crossUpper.js';
import { MUTATIONS } from './mutations.js';
import { formatFailure } from './report.js';

const kernelRelease = release();
const kernel = runningKernel();
const SCRIPT = `sh ${process.cwd()}/ci/exec/kernel-overlay.sh {lowerdir} {upperdir} {workdir} {merged} {options}`;

/** Overlay or FUSE mounts, and daemons, under root (other test files mount in parallel). */
function leftovers(root: string): string[] {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => /^\S+ \S+ (overlay|fuse\.)/.test(l) && l.includes(root));
  const daemons = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return /^(fuse-overlayfs|unionfs)\0/.test(cmd) && cmd.includes(root) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
    } catch {
      return false;
    }
  });
  return [...mounts, ...daemons.map((p) => `daemon pid ${p}`)];
}

describe.skipIf(!inPrivateNamespace())('other implementations', () => {
  let sandbox: Sandbox;
  beforeAll(() => {
    sandbox = openSandbox();
  });
  afterAll(() => sandbox?.close());

  const verdict = async (driver: Driver, profile: string, mutation?: string) => {
    const s = await runConformance({
      runs: 25, steps: 15, maxLowers: 3, maxEntriesPerLayer: 8, seed: 2, profile: namedProfile(profile), kernel, kernelRelease, driver,
      modelStep: mutation ? MUTATIONS[mutation].step : undefined,
    });
    await driver.teardown();
    expect(s.crash?.stack ?? '').toBe('');
    return s.failure ? `fails: ${s.failure.info.signature} (${s.failure.history.length} steps)` : `passes ${s.cases} cases`;
  };

  for (const [profile, mutation] of [['default', undefined], ['index', undefined], ['default', 'no-whiteout-on-unlink'], ['index', 'index-forgotten']] as const) {
    it(`exec driver with a mount(8) script gives the kernel driver's verdict: ${profile}${mutation ? `, mutation ${mutation}` : ''}`, async () => {
      const direct = await verdict(new KernelDriver(sandbox), profile, mutation);
      const viaExec = await verdict(new ExecDriver(sandbox, { mount: SCRIPT }), profile, mutation);
      expect(viaExec).toBe(direct);
      expect(direct.startsWith(mutation ? 'fails' : 'passes')).toBe(true);
    }, 300_000);
  }

  it('compare reports the in-process union as diverging, each divergence once, capped per class, with a minimal case', async () => {
    const r = await runCompare({
      driver: new MemUnionDriver(), profile: namedProfile('default'), kernel, kernelRelease, runs: 60, steps: 15, maxLowers: 3, entries: 8,
      rotate: 1, seed: 1, expectations: [], maxPerClass: 3,
    });
    expect(r.crash).toBeNull();
    const perClass = (c: string) => r.findings.filter((f) => f.harm === c).length;
    // Writes land in the lower volume: data; unlinks leave no whiteout: outcome and data.
    expect([perClass('data'), perClass('outcome'), perClass('metadata'), perClass('bookkeeping')]).toEqual([3, 3, 3, 3]);
    expect(new Set(r.findings.map((f) => f.signature)).size).toBe(r.findings.length);
    for (const f of r.findings) expect(f.failure.history.length).toBeLessThanOrEqual(4); // shrunk
  }, 120_000);

  it('compare tolerates what the expectations file lists, and says which expectations it saw', async () => {
    const first = await runCompare({
      driver: new MemUnionDriver(), profile: namedProfile('default'), kernel, kernelRelease, runs: 30, steps: 10, maxLowers: 2, entries: 6,
      rotate: 1, seed: 3, expectations: [], maxPerClass: 2,
    });
    const expected = first.findings.map((f) => ({ signature: f.signature, reason: 'test' }));
    const second = await runCompare({
      driver: new MemUnionDriver(), profile: namedProfile('default'), kernel, kernelRelease, runs: 30, steps: 10, maxLowers: 2, entries: 6,
      rotate: 1, seed: 3, expectations: expected, maxPerClass: 2,
    });
    expect(second.findings.map((f) => f.signature)).not.toContain(expected[0].signature);
    expect(second.expectedSeen.map((x) => x.signature)).toContain(expected[0].signature);
  }, 120_000);

  it.skipIf(probeFuse('fuse-overlayfs') !== null)('compare finds fuse-overlayfs diverging, and leaves no daemon or mount behind', async () => {
    const driver = new FuseDriver(sandbox, FUSE_IMPLEMENTATIONS['fuse-overlayfs']);
    const r = await runCompare({
      driver, profile: namedProfile('default'), kernel, kernelRelease, runs: 20, steps: 10, maxLowers: 2, entries: 6,
      rotate: 1, seed: 1, expectations: [], maxPerClass: 2,
    });
    await driver.teardown();
    expect(r.crash).toBeNull();
    expect(r.findings.map((f) => f.signature)).toContain('bookkeeping: at mount: merged: nlink (more), root'); // a merged dir's nlink is 1 on the kernel
    expect(formatFailure(r.findings[0].failure)).toMatch(/vs model/);
    expect(leftovers(sandbox.root)).toEqual([]);
  }, 120_000);

  it.skipIf(probeFuse('fuse-overlayfs') !== null)('compare --against kernel: the kernel\'s outcomes and views are expected; devices count per mount', async () => {
    const driver = new FuseDriver(sandbox, FUSE_IMPLEMENTATIONS['fuse-overlayfs']);
    const reference = new KernelDriver(sandbox);
    const r = await runCompare({
      driver, reference, profile: namedProfile('default'), kernel, kernelRelease, runs: 15, steps: 10, maxLowers: 2, entries: 6,
      rotate: 3, seed: 2, expectations: [], maxPerClass: 4,
    });
    await driver.teardown();
    await reference.teardown();
    expect(r.crash).toBeNull();
    expect(r.findings[0].failure.against).toBe('kernel');
    expect(r.findings.map((f) => f.signature)).toContain('bookkeeping: at mount: merged: nlink (more), root');
    // Both get a new anonymous device at every mount; which numbers is not a divergence.
    expect(r.findings.filter((f) => f.signature.includes('st_dev'))).toEqual([]);
  }, 120_000);

  describe.skipIf(probeFuse('fuse-overlayfs') !== null)('an upper dir moved between fuse-overlayfs and the kernel', () => {
    it('written by the kernel, fuse-overlayfs shows the same merged view', async () => {
      const r = await runCrossUpper({ writer: new KernelDriver(sandbox), reader: new FuseDriver(sandbox, FUSE_IMPLEMENTATIONS['fuse-overlayfs']), runs: 60, steps: 12, seed: 5 });
      expect(r.failure).toBeNull();
      expect(r.cases - r.skipped).toBeGreaterThan(20);
    }, 120_000);

    it('written by fuse-overlayfs, the kernel shows its opaque-dir marker files (.wh..wh..opq)', async () => {
      const r = await runCrossUpper({ writer: new FuseDriver(sandbox, FUSE_IMPLEMENTATIONS['fuse-overlayfs']), reader: new KernelDriver(sandbox), runs: 60, steps: 12, seed: 3 });
      expect(r.failure?.steps).toEqual([{ op: 'mkdir', path: expect.any(String), mode: expect.any(Number) }]);
      expect(r.failure?.differences.map((d) => `${d.what} ${d.path.split('/').pop()}`)).toContain('unexpected .wh..wh..opq');
      expect(leftovers(sandbox.root)).toEqual([]);
    }, 120_000);
  });
});
