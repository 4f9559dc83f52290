// The temp root: a private tmpfs inside the private mount namespace. Every mount the harness
// makes is registered here and undone on every exit path we can catch; the namespace takes
// the rest with it (SIGKILL included).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inPrivateNamespace } from './namespace.js';
import { MNT_DETACH, mount, umount2 } from './native.js';

const mounts: string[] = []; // innermost last
let handlersInstalled = false;

export function registerMount(dir: string): void {
  mounts.push(dir);
}

export function forgetMount(dir: string): void {
  const i = mounts.lastIndexOf(dir);
  if (i >= 0) mounts.splice(i, 1);
}

function unmountAll(): void {
  while (mounts.length) umount2(mounts.pop()!, MNT_DETACH);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', unmountAll);
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.on(sig, () => {
      unmountAll();
      process.exit(128 + n);
    });
  }
}

export interface Sandbox {
  readonly root: string;
  /** A new empty directory under the root. */
  newDir(prefix: string): string;
  mountTmpfs(dir: string): void;
  unmount(dir: string): void;
  close(): void;
}

export function openSandbox(): Sandbox {
  if (process.getuid?.() !== 0) throw new Error('ovlcheck must run as root (mounting needs CAP_SYS_ADMIN)');
  if (!inPrivateNamespace()) throw new Error('refusing to mount outside a private mount namespace (run through harness/namespace.ts)');
  installHandlers();
  process.umask(0o022); // the model assumes umask 022 for new objects
  const base = process.env.OVLCHECK_TMP || os.tmpdir();
  const root = fs.mkdtempSync(path.join(base, 'sandbox-'));
  let counter = 0;
  const sb: Sandbox = {
    root,
    newDir(prefix) {
      const dir = path.join(root, `${prefix}${counter++}`);
      fs.mkdirSync(dir);
      return dir;
    },
    mountTmpfs(dir) {
      const r = mount('tmpfs', dir, 'tmpfs', 0, 'mode=0755,size=512m');
      if (r !== 'ok') throw new Error(`cannot mount tmpfs on ${dir}: ${r}`);
      registerMount(dir);
    },
    unmount(dir) {
      const r = umount2(dir, 0);
      if (r !== 'ok' && r !== 'EINVAL') umount2(dir, MNT_DETACH);
      forgetMount(dir);
    },
    close() {
      sb.unmount(root);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  sb.mountTmpfs(root);
  return sb;
}
