import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { inPrivateNamespace } from '../harness/namespace.js';

// The reproducers committed under reports/<impl>-<version>/repro/: each, run alone as root,
// exits 1 on the release it names (the fault shows) and 0 on the kernel's overlayfs. A sample
// in npm test, all of them with OVLCHECK_SLOW=1.

const here = path.dirname(new URL(import.meta.url).pathname);
const reports = path.join(here, '..', 'reports');
// reports/<impl>-<version>/repro/NN.sh, and repro/from-<version>/NN.sh: an earlier release's case on this one.
const scripts = fs.readdirSync(reports).flatMap((d) => {
  const dir = path.join(reports, d, 'repro');
  return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.sh')).sort().map((f) => path.join(dir, f)) : [];
});
const SLOW = process.env.OVLCHECK_SLOW === '1';
/** The first two of each report, or all. */
const chosen = SLOW ? scripts : scripts.filter((s) => scripts.filter((t) => path.dirname(t) === path.dirname(s)).indexOf(s) < 2);

/** The binary a script runs, from its daemon line (absent: it mounts the kernel). */
function binaryOf(script: string): string | null {
  return /^ {2}'?(\/[^' ]+)'? -f /m.exec(fs.readFileSync(script, 'utf8'))?.[1] ?? null;
}

/** The kernel line a script's expectations are the model's for ("6.18"), if it says. */
function kernelLineOf(script: string): string | null {
  return /model says of Linux (\d+\.\d+)/.exec(fs.readFileSync(script, 'utf8'))?.[1] ?? null;
}
const RUNNING = /^(\d+\.\d+)/.exec(os.release())?.[1] ?? '';

const run = async (script: string, args: string[]) => (await execa('sh', [script, ...args], { reject: false, env: { OVLCHECK_REPRO_NS: '' }, timeout: 300_000 })).exitCode;

describe.skipIf(!inPrivateNamespace())('committed reproducers', () => {
  it('there are some', () => {
    expect(scripts.length).toBeGreaterThan(0);
  });

  for (const script of chosen) {
    const rel = path.relative(path.join(here, '..'), script);
    const binary = binaryOf(script);
    const line = kernelLineOf(script);
    // The kernel side holds for the kernel line the script was written for: rules differ between versions (S20).
    const why = binary !== null && !fs.existsSync(binary) ? 'not built here' : line !== null && line !== RUNNING ? `written for Linux ${line}, this is ${RUNNING}` : null;
    it.skipIf(why !== null)(`${rel}: exit 1 on ${binary ?? 'its implementation'}, 0 on the kernel${why ? ` [skipped: ${why}]` : ''}`, async () => {
      expect(await run(script, [])).toBe(1);
      expect(await run(script, ['kernel'])).toBe(0);
      expect(fs.readdirSync('/tmp').filter((n) => n.startsWith('ovlcheck-repro.'))).toEqual([]); // nothing left behind
    });
  }
});
