// The guest executor (executor.c): compiled once per source version into the cache, and
// started here as a child process for the tests that hold it to the harness's own syscalls.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { mknod } from '../native.js';
import { forgetProcess, registerProcess, type Sandbox } from '../sandbox.js';
import { Channel } from './channel.js';
import { RemoteSys } from './remoteSys.js';

export class SetupError extends Error {}

/** The package root (where package.json is), from this module's place in the source or dist tree. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the ovlcheck package root');
    dir = up;
  }
  return dir;
}

/** Where downloaded kernels, built initramfs images and the executor are kept between runs. */
export function cacheDir(): string {
  const base = process.env.OVLCHECK_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '/root', '.cache'), 'ovlcheck');
  fs.mkdirSync(base, { recursive: true });
  return base;
}

/** A static build of executor.c (the guest has no libc of its own), cached by its source's hash. */
export async function buildExecutor(): Promise<string> {
  const source = path.join(packageRoot(), 'harness', 'guest', 'executor.c');
  const hash = createHash('sha256').update(fs.readFileSync(source)).digest('hex').slice(0, 16);
  const out = path.join(cacheDir(), `ovlexec-${hash}`);
  if (fs.existsSync(out)) return out;
  const tmp = `${out}.${process.pid}`;
  const r = await execa('gcc', ['-O2', '-Wall', '-static', '-o', tmp, source], { reject: false });
  if (r.exitCode !== 0) {
    throw new SetupError(`cannot build the guest executor with gcc -static (apt-get install gcc libc6-dev): ${String(r.stderr || r.shortMessage).split('\n')[0]}`);
  }
  fs.renameSync(tmp, out);
  return out;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Makes the pair of fifos a channel runs over: NAME.in (to the executor) and NAME.out (from it). */
export function makeFifos(base: string): void {
  for (const end of ['in', 'out']) {
    const rc = mknod(`${base}.${end}`, fs.constants.S_IFIFO | 0o600, 0);
    if (rc !== 'ok') throw new Error(`mkfifo ${base}.${end} failed with ${rc}`);
  }
}

/**
 * Opens the host's ends of a fifo pair: NAME.out for reading (at once, non-blocking), then
 * NAME.in for writing, which succeeds once the other side has it open for reading.
 */
export function openFifos(base: string, deadlineMs: number, alive: () => string | null): { readFd: number; writeFd: number } {
  const readFd = fs.openSync(`${base}.out`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const writeFd = fs.openSync(`${base}.in`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      return { readFd, writeFd };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e;
    }
    const dead = alive();
    if (dead) {
      fs.closeSync(readFd);
      throw new SetupError(dead);
    }
    if (Date.now() > until) {
      fs.closeSync(readFd);
      throw new SetupError(`the other end of ${base}.in was not opened within ${deadlineMs / 1000} s`);
    }
    sleepMs(20);
  }
}

export interface LocalExecutor {
  sys: RemoteSys;
  close(): Promise<void>;
}

/** The executor as a child of this process, on the running kernel, its sandbox inside ours. */
export async function startLocalExecutor(sandbox: Sandbox, deadlineMs = 60_000): Promise<LocalExecutor> {
  const exe = await buildExecutor();
  const dir = sandbox.newDir('exec-');
  makeFifos(`${dir}/ch`);
  const child = execa(exe, [`${dir}/ch.in`, `${dir}/ch.out`], { stdio: ['ignore', 'ignore', 'inherit'], reject: false });
  if (child.pid !== undefined) registerProcess(child.pid);
  let exited: string | null = null;
  void child.then((r) => {
    exited = `the executor exited (${r.exitCode ?? r.signal})`;
  });
  const fds = openFifos(`${dir}/ch`, deadlineMs, () => exited);
  const sys = new RemoteSys(new Channel(fds.readFd, fds.writeFd, deadlineMs, () => exited ?? ''), `${dir}/sbx`);
  return {
    sys,
    async close() {
      try {
        sys.exit();
      } catch {
        child.kill('SIGKILL');
      }
      await child;
      if (child.pid !== undefined) forgetProcess(child.pid);
      fs.closeSync(fds.readFd);
      fs.closeSync(fds.writeFd);
      sandbox.unmount(`${dir}/sbx`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
