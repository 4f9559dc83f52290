// The one place the harness writes: a tmpfs under $OVLCHECK_TMP, inside a private mount
// namespace. Every mount the harness makes is registered here so that exit and signals
// can take them all down (innermost first).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inPrivateNamespace, removeLauncherTemp } from './namespace.js';
import { MNT_DETACH, mount, umount2 } from './native.js';

export interface Sandbox {
  /** The tmpfs mount point; everything the harness creates lives below it. */
  readonly root: string;
  /** A new, unique, empty directory directly under root. */
  newDir(prefix: string): string;
  /** Mounts a fresh tmpfs (mode 0755) on dir, which must lie inside the sandbox. */
  mountTmpfs(dir: string): void;
  /** Unmounts a registered mount (lazily if busy). */
  unmount(dir: string): void;
  /** Registers a mount made inside the sandbox by someone else (an overlay), for teardown on every exit path. */
  track(mountPoint: string): void;
  /** The FUSE control filesystem (fusectl), mounted inside the sandbox on first use. */
  fuseControl(): string;
  /** Unmounts everything inside the sandbox, then the sandbox itself, and removes its dir. */
  close(): void;
}

// ------------------------------------------------------------------ mount registry

const mounts = new Set<string>();
const dirsToRemove = new Set<string>();
/** Daemons (FUSE servers) the harness started: killed on every exit path. */
const processes = new Set<number>();
let handlersInstalled = false;

export function registerMount(mountPoint: string): void {
  mounts.add(mountPoint);
}

export function forgetMount(mountPoint: string): void {
  mounts.delete(mountPoint);
}

export function registerProcess(pid: number): void {
  processes.add(pid);
}

export function forgetProcess(pid: number): void {
  processes.delete(pid);
}

/** A path below another sorts after it by length, so this order is innermost first. */
function innermostFirst(paths: Iterable<string>): string[] {
  return [...paths].sort((a, b) => b.length - a.length);
}

function isWithin(dir: string, root: string): boolean {
  const rel = path.relative(root, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Plain umount; EBUSY (an fd or cwd still inside) falls back to a lazy detach. */
function unmountPath(mountPoint: string): void {
  let rc = umount2(mountPoint, 0);
  if (rc === 'EBUSY') rc = umount2(mountPoint, MNT_DETACH);
  forgetMount(mountPoint);
  if (rc !== 'ok' && rc !== 'EINVAL') throw new Error(`umount ${mountPoint} failed with ${rc}`);
}

/** Best effort, synchronous: runs from 'exit' and signal handlers. */
function cleanupAll(): void {
  for (const pid of processes) {
    try {
      process.kill(pid, 'SIGKILL'); // a FUSE daemon: its mount then fails fast instead of hanging
    } catch {
      /* already gone */
    }
    processes.delete(pid);
  }
  for (const m of innermostFirst(mounts)) {
    umount2(m, MNT_DETACH);
    mounts.delete(m);
  }
  for (const d of innermostFirst(dirsToRemove)) {
    try {
      fs.rmdirSync(d);
    } catch {
      /* not empty or gone: the namespace owner removes the temp root */
    }
    dirsToRemove.delete(d);
  }
  removeLauncherTemp();
}

const onSignal = new Set<(signal: NodeJS.Signals) => void>();

/**
 * Runs fn (synchronous: it must not wait) when a signal ends the run, before the cleanup:
 * `compare` writes its report there. Returns how to take it back.
 */
export function beforeSignalExit(fn: (signal: NodeJS.Signals) => void): () => void {
  onSignal.add(fn);
  return () => onSignal.delete(fn);
}

/**
 * On exit and on SIGINT/SIGTERM/SIGHUP: the beforeSignalExit hooks, then every mount and daemon
 * taken down. The CLI installs it on its first line: pid 1 of a pid namespace receives only
 * the signals it handles.
 */
export function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      for (const fn of onSignal) {
        try {
          fn(signal);
        } catch (e) {
          console.error(`ovlcheck: while stopping: ${(e as Error).message}`);
        }
      }
      cleanupAll();
      process.exit(128 + os.constants.signals[signal]);
    });
  }
}

// ------------------------------------------------------------------ sandbox

function refuseUnlessIsolated(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('ovlcheck: the sandbox needs root (mount(2) needs CAP_SYS_ADMIN)');
  }
  if (!inPrivateNamespace()) {
    throw new Error('ovlcheck: refusing to mount outside a private mount namespace; run via `node dist/harness/namespace.js`');
  }
}

export function openSandbox(): Sandbox {
  refuseUnlessIsolated();
  installHandlers();
  process.umask(0o022); // the model assumes umask 022
  const base = process.env.OVLCHECK_TMP || os.tmpdir();
  const root = fs.mkdtempSync(path.join(base, 'sandbox-'));
  dirsToRemove.add(root);
  const rc = mount('tmpfs', root, 'tmpfs', 0, 'mode=0755');
  if (rc !== 'ok') {
    fs.rmdirSync(root);
    dirsToRemove.delete(root);
    throw new Error(`ovlcheck: mounting the sandbox tmpfs on ${root} failed with ${rc}`);
  }
  registerMount(root);
  return makeSandbox(root);
}

function makeSandbox(root: string): Sandbox {
  const insideOnly = (dir: string): string => {
    const abs = path.resolve(dir);
    if (!isWithin(abs, root)) throw new Error(`ovlcheck: ${dir} is outside the sandbox ${root}`);
    return abs;
  };
  return {
    root,
    newDir(prefix: string): string {
      if (prefix.includes('/')) throw new Error(`ovlcheck: directory prefix ${prefix} contains '/'`);
      const dir = fs.mkdtempSync(path.join(root, prefix));
      fs.chmodSync(dir, 0o755); // steps made as other users (S11) walk through it to the mount
      return dir;
    },
    mountTmpfs(dir: string): void {
      const abs = insideOnly(dir);
      const rc = mount('tmpfs', abs, 'tmpfs', 0, 'mode=0755');
      if (rc !== 'ok') throw new Error(`ovlcheck: mounting a tmpfs on ${abs} failed with ${rc}`);
      registerMount(abs);
    },
    unmount(dir: string): void {
      unmountPath(insideOnly(dir));
    },
    track(mountPoint: string): void {
      registerMount(insideOnly(mountPoint));
    },
    fuseControl(): string {
      const dir = path.join(root, 'fusectl');
      if (mounts.has(dir)) return dir;
      fs.mkdirSync(dir, { recursive: true });
      const rc = mount('fusectl', dir, 'fusectl', 0, '');
      if (rc !== 'ok') throw new Error(`ovlcheck: mounting fusectl on ${dir} failed with ${rc}`);
      registerMount(dir);
      return dir;
    },
    close(): void {
      if (!mounts.has(root)) return; // already closed
      for (const m of innermostFirst(mounts)) {
        if (isWithin(m, root)) unmountPath(m);
      }
      fs.rmdirSync(root);
      dirsToRemove.delete(root);
    },
  };
}
