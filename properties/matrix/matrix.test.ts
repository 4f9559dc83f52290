// A short matrix on a kernel older than the running one (Debian's 6.1, under qemu), so that a
// change that breaks older kernels cannot land green: every profile 6.1 can hold with a few
// cases, the known answers, and the cross-kernel property both ways with the running kernel.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inPrivateNamespace } from '../../harness/namespace.js';
import { runMatrix } from './run.js';
import { unexplained } from './report.js';

const missing = ['/usr/bin/qemu-system-x86_64', '/usr/bin/apt-get', '/bin/busybox'].filter((f) => !fs.existsSync(f));
const why = !inPrivateNamespace() ? 'needs root in a private mount namespace (npm test)' : missing.length ? `needs ${missing.join(', ')} (.ci/run installs qemu-system-x86, busybox-static)` : '';

describe.skipIf(why !== '')(`matrix smoke on Debian's 6.1${why ? ` [skipped: ${why}]` : ''}`, () => {
  it('runs every profile 6.1 holds, the known answers and the cross-kernel property, with nothing unexplained', async () => {
    const workDir = fs.mkdtempSync(path.join(process.env.OVLCHECK_TMP ?? '/tmp', 'matrix-'));
    const out = path.join(workDir, 'report');
    const r = await runMatrix({
      kernels: ['6.1', 'host'], runs: 4, steps: 6, seed: 20261130, rotate: 1, profiles: ['default', 'userxattr', 'data-only', 'index', 'metacopy', 'nfs-export', 'redirect-nofollow', 'uuid-null'],
      jobs: 2, out, crossCases: 8, cliRuns: 0, workerLimitMs: 30 * 60_000, command: 'vitest', workDir,
    });
    const [old, host] = ['6.1', 'host'].map((s) => r.kernels.find((k) => k.spec === s)!);
    expect(unexplained(r)).toEqual([]);
    expect(old.release).toMatch(/^6\.1\./);
    expect(old.version).toMatch(/^6\.1\.\d{3}$/); // the upstream sublevel, from /proc/version
    const status = (name: string) => old.profiles.find((p) => p.name === name);
    expect(status('default')?.status).toBe('pass');
    expect(status('data-only')).toMatchObject({ status: 'skipped', why: expect.stringContaining('6.5') });
    expect(status('uuid-null')).toMatchObject({ status: 'skipped', why: expect.stringContaining('6.6') });
    expect(status('userxattr')).toMatchObject({ status: 'skipped', why: expect.stringContaining('user.* xattrs') });
    expect(old.knownAnswers.filter((c) => c.status === 'ok').length).toBeGreaterThan(40);
    for (const [reader, writer] of [[old, host], [host, old]]) {
      const read = reader.crossRead?.find((c) => c.writer === writer.release);
      expect(read?.cases.filter((c) => c.status === 'pass').length, `${writer.release} -> ${reader.release}`).toBeGreaterThan(0);
    }
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('no unexplained divergence');
    fs.rmSync(workDir, { recursive: true, force: true });
  }, 40 * 60_000);
});
