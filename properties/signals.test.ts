// A signal to any process of a run leaves nothing behind (issue 11): SIGINT, SIGTERM and
// SIGKILL, each sent to the top `npx` process, to the launcher (the CLI outside the namespace),
// to the CLI inside it and (run --jobs 2) to a worker, during `run` and `compare`. Within 5 s no process of the run
// (found by a marker in its environment), no FUSE daemon, no mount and no temp dir is left.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { probeDriver } from '../harness/drivers/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GONE_WITHIN_MS = 5000;
/** Only for the run to get going (npx may build first): not a measure of anything. */
const START_LIMIT_MS = 180_000;

interface Proc {
  pid: number;
  cmdline: string[];
  /** Inside a nested pid namespace: its pid there, e.g. 1 for the namespace's first process. */
  innerPid?: number;
  /** It has its own handlers for SIGHUP, SIGINT and SIGTERM (SigCgt). */
  handles: boolean;
}

/** Every process whose environment carries the marker, read from /proc. */
function processesWith(marker: string): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = fs.readFileSync(`/proc/${name}/environ`, 'latin1');
      if (!env.split('\0').includes(`OVLSIG_MARK=${marker}`)) continue;
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').filter(Boolean);
      const status = fs.readFileSync(`/proc/${name}/status`, 'latin1');
      const nspid = /^NSpid:\s*(.*)$/m.exec(status)?.[1].trim().split(/\s+/).map(Number) ?? [];
      const caught = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'}`);
      // SIGHUP (1), SIGINT (2), SIGTERM (15): Node itself catches the last two from its start (to
      // reset the terminal), then ends with the default action, which pid 1 ignores; SIGHUP shows the CLI's own.
      const handles = [0n, 1n, 14n].every((bit) => (caught & (1n << bit)) !== 0n);
      out.push({ pid: Number(name), cmdline, innerPid: nspid.length > 1 ? nspid[nspid.length - 1] : undefined, handles });
    } catch {
      /* gone meanwhile, or a zombie */
    }
  }
  return out;
}

/** A worker of `run --jobs N` (properties/worker.ts). */
const isWorker = (p: Proc) => p.cmdline.some((a) => a.endsWith('properties/worker.js'));
const isCli = (p: Proc) => p.cmdline.some((a) => a.endsWith('properties/cli.js') || a.endsWith('/.bin/ovlcheck'));

async function until<T>(what: string, limitMs: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not within ${limitMs / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What is left of the run: its processes, its temp dirs, mounts below its temp dir. */
function leftovers(marker: string, tmp: string): string[] {
  const left = processesWith(marker).map((p) => `process ${p.pid} ${p.cmdline.slice(0, 3).join(' ')}`);
  for (const name of fs.readdirSync(tmp)) left.push(`temp ${name}`);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(tmp)) left.push(`mount ${line}`);
  return left;
}

const COMMANDS = {
  run: ['run', '--profile', 'default', '--runs', '100000', '--time-budget', '600', '--jobs', '2'],
  compare: ['compare', '--driver', 'fuse-overlayfs', '--runs', '100000', '--time-budget', '600', '--force'],
} as const;

describe.sequential('a signal to any process of the run leaves nothing behind', () => {
  let child: ResultPromise | undefined;
  let marker = '';
  let tmp = '';
  afterEach(async () => {
    for (const p of processesWith(marker)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await child?.catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(`${tmp}-out`, { recursive: true, force: true });
  });

  for (const cmd of ['run', 'compare'] as const) {
    for (const target of cmd === 'run' ? ['npx', 'launcher', 'cli', 'worker'] as const : ['npx', 'launcher', 'cli'] as const) {
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
        const why = cmd === 'compare' ? probeDriver('fuse-overlayfs') : null;
        it.skipIf(why !== null)(`${cmd}: ${signal} to the ${target}${why ? ` (skipped: ${why})` : ''}`, async () => {
          marker = randomBytes(6).toString('hex');
          tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ovlsig-'));
          const env: Record<string, string | undefined> = { ...process.env, OVLSIG_MARK: marker, TMPDIR: tmp };
          delete env.OVLCHECK_NS_PARENT; // a run of its own, with its own launcher and namespace
          delete env.OVLCHECK_TMP;
          const args = [...COMMANDS[cmd], '--out', `${tmp}-out`];
          child = execa('npx', ['--yes', 'ovlcheck', ...args], { cwd: ROOT, env, extendEnv: false, reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
          let ended = '';
          void child.then((r) => (ended = `npx ended first: exit ${r.exitCode}, ${String(r.stderr).slice(-300)}`));
          // Running: the CLI inside its namespace, handling signals (the kernel drops a signal
          // to pid 1 of a namespace that has no handler for it, and Node needs a moment to run
          // the CLI's first line), and for compare a FUSE daemon (fuse-overlayfs).
          const inner = await until('the CLI runs inside its namespace', START_LIMIT_MS, () => {
            if (ended) throw new Error(ended); // not started at all: say why at once
            const ps = processesWith(marker);
            const cli = ps.find((p) => isCli(p) && p.innerPid === 1 && p.handles);
            const daemon = cmd === 'run' || ps.some((p) => p.cmdline[0]?.endsWith('fuse-overlayfs'));
            const worker = target !== 'worker' || ps.some((p) => isWorker(p) && p.handles);
            return cli && daemon && worker ? cli : undefined;
          });
          const launcher = processesWith(marker).find((p) => isCli(p) && p.innerPid === undefined);
          expect(launcher, 'the launcher').toBeDefined();
          const worker = processesWith(marker).find(isWorker);
          const pid = target === 'npx' ? child.pid! : target === 'launcher' ? launcher!.pid : target === 'worker' ? worker!.pid : inner.pid;
          process.kill(pid, signal);
          const start = Date.now();
          let left: string[] = [];
          while (Date.now() - start < GONE_WITHIN_MS) {
            left = leftovers(marker, tmp);
            if (left.length === 0) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          expect(left).toEqual([]);
          const r = await child;
          expect(r.exitCode === 0, `npx exit ${r.exitCode} signal ${r.signal}`).toBe(false);
          if (cmd === 'compare' && !(target === 'cli' && signal === 'SIGKILL')) {
            // Stopped by the signal, the report is complete and says so.
            const report = JSON.parse(fs.readFileSync(path.join(`${tmp}-out`, 'report.json'), 'utf8'));
            expect(report.stoppedBy).toBe('signal');
          }
        }, START_LIMIT_MS + 60_000);
      }
    }
  }
});
