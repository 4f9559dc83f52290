// Runs a command in a private mount + pid namespace, so that every mount the harness makes
// disappears with the namespace even if the harness is killed. Usable as a script:
//   node dist/harness/namespace.js CMD ARGS...

import fs from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { dir as tmpDir } from 'tmp-promise';

const NS_PARENT_ENV = 'OVLCHECK_NS_PARENT';
const TMP_ENV = 'OVLCHECK_TMP';
/** How long a forwarded SIGTERM may take before the whole namespace is killed. */
const TERM_GRACE_MS = 5000;

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
 * unshare blocks SIGTERM while it waits, so a SIGTERM goes to the command itself. pid-1 of a
 * namespace only receives signals it handles; if it is still running after a grace period,
 * SIGKILL unshare: --kill-child then kills the namespace and the kernel drops its mounts.
 * SIGHUP kills unshare directly, with the same effect.
 */
function forwardSignal(unsharePid: number, signal: NodeJS.Signals): void {
  const target = signal === 'SIGTERM' ? namespaceInit(unsharePid) ?? unsharePid : unsharePid;
  try {
    process.kill(target, signal);
  } catch {
    return; // already gone
  }
  if (signal === 'SIGTERM') {
    setTimeout(() => {
      try {
        process.kill(unsharePid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, TERM_GRACE_MS).unref();
  }
}

/**
 * A launcher killed by SIGKILL cannot remove its temp dir. Its mounts died with its namespace,
 * so what is left is only empty directories: the next launcher removes those of dead pids.
 */
function removeStaleTempDirs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = /^ovlcheck-(\d+)-(\d+)-/.exec(name); // pid namespace, pid
    if (!m || m[1] !== pidNamespace() || isAlive(Number(m[2]))) continue;
    fs.rmSync(`${os.tmpdir()}/${name}`, { recursive: true, force: true });
  }
}

/** Pids only mean something within one pid namespace: temp dirs are named after it too. */
function pidNamespace(): string {
  return /\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs cmd in a fresh mount+pid namespace with a private temp dir; resolves to its exit code. */
export async function runInPrivateNamespace(cmd: string, args: string[]): Promise<number> {
  removeStaleTempDirs();
  // named ovlcheck-<pid namespace>-<pid>-<random>
  const tmp = await tmpDir({ tmpdir: os.tmpdir(), prefix: `ovlcheck-${pidNamespace()}` });
  const child = execa(
    // setpriv: if this process dies (even by SIGKILL), unshare is killed, and --kill-child
    // then takes the whole namespace, its mounts and any daemon in it, down with it.
    'setpriv',
    ['--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--mount-proc', cmd, ...args],
    {
      stdio: 'inherit',
      reject: false,
      env: { [NS_PARENT_ENV]: ownMountNamespace(), [TMP_ENV]: tmp.path },
    },
  );
  // The terminal delivers SIGINT to the whole foreground group, the child included.
  const ignoreInt = (): void => {};
  const forward = (signal: NodeJS.Signals): void => {
    if (child.pid !== undefined) forwardSignal(child.pid, signal);
  };
  process.on('SIGINT', ignoreInt);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  try {
    const result = await child;
    if (result.signal) return 128 + (os.constants.signals[result.signal] ?? 0);
    if (result.exitCode !== undefined) return result.exitCode;
    process.stderr.write(`ovlcheck: ${result.shortMessage}\n`); // e.g. unshare not installed
    return 2;
  } finally {
    process.off('SIGINT', ignoreInt);
    process.off('SIGTERM', forward);
    process.off('SIGHUP', forward);
    // In this (parent) namespace the dir holds no mounts: they lived in the child's namespace.
    fs.rmSync(tmp.path, { recursive: true, force: true });
  }
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
    process.stderr.write(`ovlcheck: cannot run in a private namespace: ${String(error)}\n`);
    process.exit(2);
  });
}
