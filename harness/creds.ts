// Runs one syscall as a caller that is not root (S11.3): the process's effective ids,
// supplementary groups and umask are switched around the call, in-process, and back to root
// after it. glibc applies set*id and setgroups to every thread; fsuid/fsgid follow euid/egid.
// The real and saved ids stay 0, so going back is always allowed. A switch that fails either
// way is a harness error (thrown), never an outcome.

import fs from 'node:fs';
import koffi from 'koffi';
import type { Caller } from '../model/types.js';
import { errnoName, libcBindings } from './native.js';

interface CredLibc {
  setresuid: (r: number, e: number, s: number) => number;
  setresgid: (r: number, e: number, s: number) => number;
  setgroups: (n: number, list: Buffer) => number;
  getgroups: (n: number, list: Buffer) => number;
  umask: (mask: number) => number;
  geteuid: () => number;
  getegid: () => number;
}

const load = libcBindings<CredLibc>({
  setresuid: 'int setresuid(uint32_t r, uint32_t e, uint32_t s)',
  setresgid: 'int setresgid(uint32_t r, uint32_t e, uint32_t s)',
  setgroups: 'int setgroups(size_t n, const uint32_t *list)',
  getgroups: 'int getgroups(int n, _Out_ uint32_t *list)',
  umask: 'uint32_t umask(uint32_t mask)',
  geteuid: 'uint32_t geteuid()',
  getegid: 'uint32_t getegid()',
});

const KEEP = 0xffffffff; // -1: leave that id as it is

/** The sysctls model/creds.ts assumes. */
const ASSUMED_SYSCTLS: Record<string, string> = {
  protected_hardlinks: '1', protected_symlinks: '0', protected_regular: '0', protected_fifos: '0',
};
let checked = false;

function checkHost(): void {
  if (checked) return;
  for (const [name, want] of Object.entries(ASSUMED_SYSCTLS)) {
    const got = fs.readFileSync(`/proc/sys/fs/${name}`, 'latin1').trim();
    if (got !== want) throw new Error(`fs.${name} is ${got}; the model of callers (model/creds.ts) assumes ${want}`);
  }
  if (load().geteuid() !== 0) throw new Error('steps as another caller need the harness to run as root');
  checked = true;
}

function must(rc: number, what: string): void {
  if (rc < 0) throw new Error(`credential switch failed: ${what}: ${errnoName(koffi.errno())}`);
}

function groupsBuffer(groups: readonly number[]): Buffer {
  const b = Buffer.alloc(4 * Math.max(1, groups.length));
  groups.forEach((g, i) => b.writeUInt32LE(g, 4 * i));
  return b;
}

function currentGroups(): Buffer {
  const lib = load();
  const n = lib.getgroups(0, Buffer.alloc(4));
  must(n, 'getgroups');
  const b = Buffer.alloc(4 * Math.max(1, n));
  must(lib.getgroups(n, b), 'getgroups');
  return b.subarray(0, 4 * n);
}

/** fn() with the caller's credentials and umask; root's restored after, or a thrown harness error. */
export function asCaller<T>(caller: Caller, fn: () => T): T {
  checkHost();
  const lib = load();
  const groups = currentGroups();
  const groupList = caller.groups ?? [caller.gid];
  const umask = lib.umask(caller.umask ?? 0o022);
  try {
    // A switch that fails half way is undone below too, before the error goes up.
    must(lib.setgroups(groupList.length, groupsBuffer(groupList)), 'setgroups');
    must(lib.setresgid(KEEP, caller.gid, KEEP), 'setresgid');
    must(lib.setresuid(KEEP, caller.uid, KEEP), 'setresuid');
    return fn();
  } finally {
    lib.umask(umask);
    must(lib.setresuid(KEEP, 0, KEEP), 'setresuid back to root');
    must(lib.setresgid(KEEP, 0, KEEP), 'setresgid back to root');
    must(lib.setgroups(groups.length / 4, groups), 'setgroups back');
    if (lib.geteuid() !== 0 || lib.getegid() !== 0) throw new Error('credential switch failed: still not root after the step');
  }
}
