// Runs one syscall as a caller that is not root (S11.3): the effective ids, supplementary
// groups and umask are switched around the call, in-process, and back to root after it.
// The steps' syscalls run on the main thread (sync fs calls and koffi), so the ids are
// switched for this thread alone with the raw syscalls where their numbers are known: glibc's
// wrappers apply set*id and setgroups to every thread of the process (a signal to each), which
// made the switch a fifth of a run's time. fsuid/fsgid follow euid/egid. The real and saved
// ids stay 0, so going back is always allowed. A switch that fails either way is a harness
// error (thrown), never an outcome.

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
}

const load = libcBindings<CredLibc>({
  setresuid: 'int setresuid(uint32_t r, uint32_t e, uint32_t s)',
  setresgid: 'int setresgid(uint32_t r, uint32_t e, uint32_t s)',
  setgroups: 'int setgroups(size_t n, const uint32_t *list)',
  getgroups: 'int getgroups(int n, _Out_ uint32_t *list)',
  umask: 'uint32_t umask(uint32_t mask)',
  geteuid: 'uint32_t geteuid()',
});

const KEEP = 0xffffffff; // -1: leave that id as it is

/** The raw syscalls' numbers (asm/unistd.h), per architecture. */
const SYSCALLS: Partial<Record<string, { setresuid: number; setresgid: number; setgroups: number }>> = {
  x64: { setresuid: 117, setresgid: 119, setgroups: 116 },
  arm64: { setresuid: 147, setresgid: 149, setgroups: 159 },
};

interface RawLibc {
  ids: (nr: number, r: number, e: number, s: number) => number;
  groups: (nr: number, n: number, list: Buffer) => number;
}

const loadRaw = libcBindings<RawLibc>({
  ids: 'long syscall(long nr, uint32_t r, uint32_t e, uint32_t s)',
  groups: 'long syscall(long nr, size_t n, const uint32_t *list)',
});

/** setresuid, setresgid and setgroups for the calling thread alone (glibc's for all threads where the numbers are not known). */
function switcher(): { setresuid: CredLibc['setresuid']; setresgid: CredLibc['setresgid']; setgroups: CredLibc['setgroups'] } {
  const nr = SYSCALLS[process.arch];
  if (!nr) return load();
  const raw = loadRaw();
  return {
    setresuid: (r, e, s) => raw.ids(nr.setresuid, r, e, s),
    setresgid: (r, e, s) => raw.ids(nr.setresgid, r, e, s),
    setgroups: (n, list) => raw.groups(nr.setgroups, n, list),
  };
}
let sw: ReturnType<typeof switcher> | undefined;
/** Root's own groups, restored after each step. */
let rootGroups: Buffer | undefined;

/** The sysctls model/creds.ts assumes. */
const ASSUMED_SYSCTLS: Record<string, string> = {
  protected_hardlinks: '1', protected_symlinks: '0', protected_regular: '0', protected_fifos: '0',
};
let checked = false;

/**
 * Why this machine's link sysctls are not the ones the model assumes, or null. They apply to
 * root's steps too (a trailing symlink or an O_CREAT open in a sticky world-writable dir), so
 * the CLI refuses to run with others (exit 2) rather than report the host's settings as
 * divergences. systemd sets protected_regular and protected_fifos on most distributions.
 */
export function linkSysctlsProblem(): string | null {
  const off = Object.entries(ASSUMED_SYSCTLS).flatMap(([name, want]) => {
    let got: string;
    try {
      got = fs.readFileSync(`/proc/sys/fs/${name}`, 'latin1').trim();
    } catch {
      return []; // not there (an old kernel, or no /proc/sys): the kernel's default, which the model assumes
    }
    return got === want ? [] : [`fs.${name}=${got}`];
  });
  if (!off.length) return null;
  const want = Object.entries(ASSUMED_SYSCTLS).map(([n, v]) => `fs.${n}=${v}`).join(' ');
  return `this machine has ${off.join(' ')}, and the model assumes ${want} (they change what root's steps may do too); ` +
    `run with them set so (sysctl -w ...), and set back afterwards`;
}

function checkHost(): void {
  if (checked) return;
  const why = linkSysctlsProblem();
  if (why) throw new Error(why);
  if (load().geteuid() !== 0) throw new Error('steps as another caller need the harness to run as root');
  sw = switcher();
  rootGroups = currentGroups();
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
  const ids = sw!;
  const groupList = caller.groups ?? [caller.gid];
  const umask = lib.umask(caller.umask ?? 0o022); // umask is the process's: no other thread makes files
  try {
    // A switch that fails half way is undone below too, before the error goes up.
    must(ids.setgroups(groupList.length, groupsBuffer(groupList)), 'setgroups');
    must(ids.setresgid(KEEP, caller.gid, KEEP), 'setresgid');
    must(ids.setresuid(KEEP, caller.uid, KEEP), 'setresuid');
    return fn();
  } finally {
    lib.umask(umask);
    must(ids.setresuid(KEEP, 0, KEEP), 'setresuid back to root');
    must(ids.setresgid(KEEP, 0, KEEP), 'setresgid back to root');
    must(ids.setgroups(rootGroups!.length / 4, rootGroups!), 'setgroups back');
  }
}
