// Timeouts for synchronous syscalls on a FUSE mount. A syscall into a hung FUSE daemon blocks
// the calling thread, so no timer on the main thread can fire: a worker thread watches a
// deadline in shared memory and, when it passes, kills the daemon and aborts its FUSE
// connection, which makes the blocked syscall (and every later one) fail with ENOTCONN. The
// driver then reports the step as timed out: a failure with a case, never a hung run.

import { Worker } from 'node:worker_threads';

// [0] armed (0/1), [1] daemon pid, [2] deadline (ms since `origin`), [3] FUSE connection id, [4] fired (0/1)
const shared = new Int32Array(new SharedArrayBuffer(5 * 4));
// The fusectl mount point, as bytes (the worker reads it when the deadline passes).
const controlDir = new Uint8Array(new SharedArrayBuffer(1024));
const origin = Date.now();
let worker: Worker | null = null;

const WORKER = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const s = workerData.shared;
const origin = workerData.origin;
const dir = () => Buffer.from(workerData.controlDir).toString().replace(/\0.*$/s, '');
setInterval(() => {
  if (Atomics.load(s, 0) !== 1 || Date.now() - origin < Atomics.load(s, 2)) return;
  Atomics.store(s, 0, 0);
  Atomics.store(s, 4, 1);
  const pid = Atomics.load(s, 1);
  if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch {} // 0: a daemon we did not start (exec)
  try { fs.writeFileSync(dir() + '/' + Atomics.load(s, 3) + '/abort', '1'); } catch {}
}, 20); // keeps the worker alive; the worker itself is unref()ed
`;

function ensureWorker(): void {
  if (worker) return;
  worker = new Worker(WORKER, { eval: true, workerData: { shared, origin, controlDir } });
  worker.unref();
}

export class StepTimeout extends Error {}

/** The FUSE connection id of a mount: its anonymous device's minor number (fusectl names it so). */
export function fuseConnection(stDev: number): number {
  return (stDev & 0xff) | ((stDev >> 12) & 0xfff00);
}

/**
 * Run fn (synchronous syscalls on a FUSE mount served by `pid`, connection `conn` under the
 * fusectl mount `control`) with a deadline. Past it, the daemon is killed and its connection
 * aborted; then StepTimeout is thrown.
 */
export function withDeadline<T>(pid: number, control: string, conn: number, ms: number, fn: () => T): T {
  ensureWorker();
  controlDir.fill(0);
  controlDir.set(Buffer.from(control).subarray(0, controlDir.length - 1));
  Atomics.store(shared, 4, 0);
  Atomics.store(shared, 1, pid);
  Atomics.store(shared, 3, conn);
  Atomics.store(shared, 2, Date.now() - origin + ms);
  Atomics.store(shared, 0, 1);
  try {
    const result = fn();
    if (Atomics.load(shared, 4) === 1) throw new StepTimeout(`the FUSE daemon (pid ${pid}) did not answer within ${ms} ms: killed`);
    return result;
  } catch (e) {
    if (Atomics.load(shared, 4) === 1) throw new StepTimeout(`the FUSE daemon (pid ${pid}) did not answer within ${ms} ms: killed`);
    throw e;
  } finally {
    Atomics.store(shared, 0, 0);
  }
}

/** Stop the watchdog thread (tests; the process exits without it anyway, it is unref'ed). */
export async function stopWatchdog(): Promise<void> {
  if (worker) await worker.terminate();
  worker = null;
}
