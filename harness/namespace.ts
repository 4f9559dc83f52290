// Runs a command in a private mount + pid namespace, so that every mount the harness makes
// disappears with the namespace even if the harness is killed. Started by a user who is not
// root (rootless mode, harness/rootless.ts), in a user namespace of its own too, where that
// user is root over its mounts. Usable as a script:
//   node dist/harness/namespace.js CMD ARGS...

import fs from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';
import { hasSysAdmin, isAlive, NO_SYS_ADMIN } from './lifeline.js';
import { isRootless, userNamespaceArgs, userNamespaceRefusal } from './rootless.js';

const NS_PARENT_ENV = 'OVLCHECK_NS_PARENT';
const TMP_ENV = 'OVLCHECK_TMP';
const STARTED_ENV = 'OVLCHECK_STARTED_FD';
/** A pipe the command writes to once it runs inside (fd 3 of the command). */
const STARTED_FD = '3';
/** How long a forwarded signal may take before the whole namespace is killed. */
const GRACE_MS = 3000;

/** The namespace could not be made (no CAP_SYS_ADMIN, no user namespaces, seccomp, no unshare): exit 2, one line. */
export class NamespaceError extends Error {}

function ownMountNamespace(): string {
  return fs.readlinkSync('/proc/self/ns/mnt');
}

/** True iff we were started by runInPrivateNamespace and really sit in another mount namespace. */
export function inPrivateNamespace(): boolean {
  const parent = process.env[NS_PARENT_ENV];
  return parent !== undefined && parent !== '' && parent !== ownMountNamespace();
}

/** The command's first process: pid 1 of the new pid namespace, the child of unshare. */
function namespaceInit(unsharePid: number): number | undefined {
  try {
    const children = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
    const first = children.split(' ')[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * unshare blocks SIGINT and SIGTERM while it waits, so both go to the command itself, pid 1 of
 * the namespace, which receives (from here, an ancestor namespace) only signals it handles:
 * the CLI handles them from its first line. If it has not ended after a grace period, SIGKILL,
 * which an ancestor namespace can always deliver, ends the namespace, its mounts and daemons.
 * SIGHUP kills unshare, and --kill-child then sends SIGTERM to the command.
 */
function forwardSignal(unsharePid: number, signal: NodeJS.Signals): void {
  const init = namespaceInit(unsharePid);
  try {
    process.kill(signal === 'SIGHUP' ? unsharePid : init ?? unsharePid, signal);
  } catch {
    return; // already gone
  }
  setTimeout(() => {
    for (const pid of [init, unsharePid]) {
      try {
        if (pid !== undefined) process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }, GRACE_MS).unref();
}

/**
 * A launcher killed by SIGKILL cannot remove its temp dir. Its mounts died with its namespace,
 * so what is left is only empty directories: the next launcher removes those of dead pids.
 */
function removeStaleTempDirs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = /^ovlcheck-(\d+)-(\d+)-/.exec(name); // pid namespace, pid
    if (!m || m[1] !== pidNamespace() || isAlive(Number(m[2]))) continue;
    try {
      fs.rmSync(`${os.tmpdir()}/${name}`, { recursive: true, force: true });
    } catch {
      /* another user's (a rootless run's, or root's seen by a rootless run): theirs to remove */
    }
  }
}

/** Pids only mean something within one pid namespace: temp dirs are named after it too. */
function pidNamespace(): string {
  return /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
}

/**
 * The command, started inside and with its signal handlers installed, says so: a failure
 * before that is the namespace's (unshare's "Operation not permitted"), not the command's.
 * A launcher that died before (the SIGTERM --kill-child sent then found no handler, and pid 1
 * of a namespace drops those) shows as a broken pipe: the command then stops as on SIGTERM.
 */
export function markStarted(): void {
  if (process.env[STARTED_ENV] !== STARTED_FD) return;
  try {
    fs.writeSync(Number(STARTED_FD), 'started\n');
    fs.closeSync(Number(STARTED_FD)); // daemons started later must not hold it open
  } catch {
    process.kill(process.pid, 'SIGTERM'); // EPIPE: nobody is left to read it
  }
}

/**
 * Runs cmd in a fresh mount+pid namespace with a private temp dir; resolves to its exit code.
 * Run by a user who is not root: in a fresh user namespace too (rootless mode).
 * markStarted: cmd calls markStarted() once inside (the CLI does), so a namespace that could
 * not be made is told from the command's own failure.
 */
export async function runInPrivateNamespace(cmd: string, args: string[], o: { markStarted?: boolean } = {}): Promise<number> {
  const rootless = isRootless();
  if (rootless) {
    const why = userNamespaceRefusal();
    if (why) throw new NamespaceError(`not root, and cannot run in a user namespace instead: ${why}`);
  } else if (!hasSysAdmin()) {
    throw new NamespaceError(NO_SYS_ADMIN);
  }
  removeStaleTempDirs();
  // named ovlcheck-<pid namespace>-<pid>-<random>
  const tmp = await tmpDir({ tmpdir: os.tmpdir(), prefix: `ovlcheck-${pidNamespace()}` });
  fs.chmodSync(tmp.path, 0o755); // steps made as other users (S11) walk through it to the mount
  const child = execa(
    // setpriv: if this process dies (even by SIGKILL), unshare is killed, and --kill-child
    // then sends SIGTERM to the command: it stops as on any SIGTERM, removing this temp dir.
    'setpriv',
    ['--pdeathsig', 'KILL', 'unshare', ...(rootless ? userNamespaceArgs() : []), '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child=SIGTERM', '--mount-proc', cmd, ...args],
    {
      stdio: ['inherit', 'inherit', 'inherit', o.markStarted ? 'pipe' : 'ignore'],
      reject: false,
      env: { [NS_PARENT_ENV]: ownMountNamespace(), [TMP_ENV]: tmp.path, ...(o.markStarted ? { [STARTED_ENV]: STARTED_FD } : {}) },
    },
  );
  let started = false;
  child.stdio[3]?.on('data', () => (started = true));
  const forward = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined) forwardSignal(child.pid, signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  try {
    const result = await child;
    if (o.markStarted && !started && !result.signal && result.exitCode !== 0) {
      const what = rootless ? 'a user namespace with a private mount and pid namespace (rootless mode)' : 'a private mount and pid namespace';
      throw new NamespaceError(`cannot make ${what} (setpriv/unshare exited with ${result.exitCode ?? result.shortMessage})`);
    }
    if (result.signal) return 128 + (os.constants.signals[result.signal] ?? 0);
    if (result.exitCode !== undefined) return result.exitCode;
    process.stderr.write(`ovlcheck: ${result.shortMessage}\n`); // e.g. unshare not installed
    return 2;
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
    // In this (parent) namespace the dir holds no mounts: they lived in the child's namespace.
    fs.rmSync(tmp.path, { recursive: true, force: true });
  }
}

/** Ctrl-C reaches the whole foreground group, the command too; a signal to this process alone must reach it as well. */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * The command, pid 1 of the namespace, removes the launcher's temp dir itself when it ends: a
 * launcher killed by SIGKILL cannot. Call after every mount in it is gone.
 */
export function removeLauncherTemp(): void {
  const tmp = process.env[TMP_ENV];
  if (process.pid === 1 && tmp && inPrivateNamespace()) fs.rmSync(tmp, { recursive: true, force: true });
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...args] = argv;
  if (!cmd) {
    process.stderr.write('usage: node dist/harness/namespace.js CMD [ARGS...]\n');
    process.exit(2);
  }
  process.exit(await runInPrivateNamespace(cmd, args));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`ovlcheck: cannot run in a private namespace: ${(error as Error).message ?? String(error)}\n`);
    process.exit(2);
  });
}
