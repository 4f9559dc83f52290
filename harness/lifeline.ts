// A process of the run ends with whatever started it. A CI runner or a user often signals only
// the top process (npx, or the launcher); the kernel tells a child its parent died only if
// asked (PR_SET_PDEATHSIG), and a SIGKILLed parent can pass nothing on.

import fs from 'node:fs';
import os from 'node:os';
import { libcBindings } from './native.js';
import { isRootless, userNamespaceRefusal } from './rootless.js';

const PR_SET_PDEATHSIG = 1;

const load = libcBindings<{ prctl: (option: number, arg2: number, arg3: number, arg4: number, arg5: number) => number }>({
  prctl: 'int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)',
});

/**
 * The kernel sends `signal` to this process when its parent exits, however it exits. SIGTERM:
 * the process's own handler then stops the run cleanly (or, without one, it just ends).
 * If the parent is already gone, the signal is raised at once.
 */
export function dieWithParent(signal: NodeJS.Signals = 'SIGTERM'): void {
  const parent = process.ppid;
  if (load().prctl(PR_SET_PDEATHSIG, os.constants.signals[signal], 0, 0, 0) !== 0) return; // best effort
  if (process.ppid !== parent || !isAlive(parent)) process.kill(process.pid, signal);
}

/** Is a process of this pid running (EPERM: yes, someone else's)? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const NO_SYS_ADMIN = 'needs CAP_SYS_ADMIN to mount and to make a private namespace; root in a container has it only with --privileged (or --cap-add SYS_ADMIN)';

/**
 * Has the process CAP_SYS_ADMIN over the mounts it makes (mount(2), unshare(2))? Root in a
 * container often has not. A user who is not root has it in a user namespace of its own
 * (rootless mode, harness/rootless.ts) wherever the kernel gives one.
 */
export function hasSysAdmin(): boolean {
  if (isRootless()) return userNamespaceRefusal() === null;
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    return line === undefined || (BigInt(`0x${line}`) & (1n << 21n)) !== 0n;
  } catch {
    return true; // no /proc: let mount(2) say
  }
}
