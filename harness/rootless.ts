// Rootless mode (issue 13): a user who is not root runs the CLI in a user namespace of its
// own, where it is root over the mounts it makes (unshare --user --map-root-user). The kernel
// then lets it mount tmpfs and overlayfs, but not everything root in the initial namespace may
// do: trusted.* xattrs, file handles, device nodes and ids outside the namespace's map are
// refused. What the run can still cover is probed (harness/probe.ts LayerFsFacts), and the
// profiles and step families that cannot run are skipped with the reason.

import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

/** One line of /proc/PID/uid_map or gid_map: ids inside, the ids outside they stand for, how many. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

/** The ids that generated layers and caller steps use besides root (properties/arb/callers.ts). */
export const CALLER_IDS = [1000, 1001] as const;

export function idMap(kind: 'uid' | 'gid'): IdRange[] {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/self/${kind}_map`, 'latin1');
  } catch {
    return [{ inside: 0, outside: 0, count: 2 ** 32 - 1 }]; // no /proc: the initial namespace
  }
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    return { inside, outside, count };
  });
}

/** Whether this process sits in a user namespace other than the initial one (its uid_map is not the identity over all ids). */
export function inUserNamespace(): boolean {
  const m = idMap('uid');
  return !(m.length === 1 && m[0].inside === 0 && m[0].outside === 0 && m[0].count === 2 ** 32 - 1);
}

function mapped(kind: 'uid' | 'gid', id: number): boolean {
  return idMap(kind).some((r) => id >= r.inside && id < r.inside + r.count);
}

/**
 * Why steps as another caller (S11.3) cannot switch ids here, or null: in a user namespace,
 * setresuid/setresgid need the ids mapped (EINVAL) and setgroups needs /proc/self/setgroups
 * "allow" (EPERM), which only a map written by newgidmap gives.
 */
export function callerIdsRefusal(): string | null {
  if (!inUserNamespace()) return null;
  const missing = CALLER_IDS.flatMap((id) => [...(mapped('uid', id) ? [] : [`uid ${id}`]), ...(mapped('gid', id) ? [] : [`gid ${id}`])]);
  if (missing.length) return `${missing.join(', ')} not mapped in this user namespace (rootless mode without subordinate ids: see /etc/subuid, /etc/subgid and newuidmap)`;
  let setgroups = 'allow';
  try {
    setgroups = fs.readFileSync('/proc/self/setgroups', 'latin1').trim();
  } catch {
    /* a kernel without the file allows setgroups wherever the gid map was written */
  }
  if (setgroups !== 'allow') return 'setgroups is denied in this user namespace (its gid map was not written by newgidmap)';
  return null;
}

function readSysctl(name: string): string | null {
  try {
    return fs.readFileSync(`/proc/sys/${name}`, 'latin1').trim();
  } catch {
    return null;
  }
}

/** The process runs as a user who is not root: it makes a user namespace of its own to mount in. */
export function isRootless(): boolean {
  return (process.geteuid?.() ?? 0) !== 0;
}

/**
 * Why this kernel will not give an unprivileged user a user namespace, or null (it may still
 * refuse: unshare then says so). The sysctls are Debian's and Ubuntu's switches and the
 * generic limit.
 */
export function userNamespaceRefusal(): string | null {
  if (readSysctl('user/max_user_namespaces') === '0') return 'user namespaces are off on this machine (user.max_user_namespaces=0)';
  if (readSysctl('kernel/unprivileged_userns_clone') === '0') return 'unprivileged user namespaces are off on this machine (kernel.unprivileged_userns_clone=0)';
  if (readSysctl('kernel/apparmor_restrict_unprivileged_userns') === '1') {
    return 'AppArmor restricts unprivileged user namespaces on this machine (kernel.apparmor_restrict_unprivileged_userns=1)';
  }
  return null;
}

/** Whether the user (newuidmap and newgidmap both look it up by user name or uid) has subordinate ids in file that cover CALLER_IDS mapped from 1 on. */
function hasSubIds(file: string, names: string[]): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return text.split('\n').some((line) => {
    const [who, , count] = line.split(':');
    return names.includes(who) && Number(count) >= Math.max(...CALLER_IDS);
  });
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      fs.accessSync(`${d}/${cmd}`, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function unshareMapsAuto(): boolean {
  try {
    return execFileSync('unshare', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('--map-auto');
  } catch {
    return false;
  }
}

/**
 * The unshare options that make the user namespace: the user is root in it
 * (--map-root-user), and where it has subordinate ids, newuidmap and newgidmap, and an unshare
 * that knows --map-auto (util-linux 2.38), those ids are mapped from 1 on, so that layers
 * owned by 1000 and 1001 and steps as those callers work too.
 */
export function userNamespaceArgs(): string[] {
  const uid = process.geteuid?.() ?? 0;
  let name = String(uid);
  try {
    name = os.userInfo().username;
  } catch {
    /* no passwd entry: only the number names it */
  }
  const auto = hasSubIds('/etc/subuid', [name, String(uid)]) && hasSubIds('/etc/subgid', [name, String(uid)])
    && onPath('newuidmap') && onPath('newgidmap') && unshareMapsAuto();
  return ['--user', '--map-root-user', ...(auto ? ['--map-auto'] : [])];
}
