// Sys (harness/sys.ts) over the executor's channel: the same syscalls, made by ovlexec inside a
// guest kernel (harness/guest/executor.c has the other end of every request here).

import type { Outcome, SnapEntry, Snapshot, TimeSpec } from '../../model/types.js';
import type { Call } from '../calls.js';
import { buildError, type PlannedCall } from '../materialize.js';
import { errnoName, MNT_DETACH, UTIME_NOW, UTIME_OMIT } from '../native.js';
import type { Sandbox } from '../sandbox.js';
import { errorEntry, kindOf } from '../snapshot.js';
import type { Sys } from '../sys.js';
import type { Channel, Token } from './channel.js';

export const PROTOCOL = '2'; // 2: the walk reports st_mtime

/** "0" is success; anything else is an errno number. */
function outcomeOf(status: string): Outcome {
  return status === '0' ? 'ok' : errnoName(Number(status));
}

/** A call made as another caller goes with an "as" prefix (executor.c run_as). */
function callTokens(call: Call): Token[] {
  if (!call.as) return kindTokens(call);
  const { uid, gid, groups = [gid], umask = 0o022 } = call.as;
  return ['as', String(uid), String(gid), String(umask), String(groups.length), ...groups.map(String), ...kindTokens(call)];
}

function kindTokens(call: Call): Token[] {
  switch (call.c) {
    case 'open': return ['open', call.path, String(call.flags), String(call.mode), call.data === undefined ? '0' : '1', call.data ?? ''];
    case 'mkdir': return ['mkdir', call.path, String(call.mode)];
    case 'chmod': return ['chmod', call.path, String(call.mode)];
    case 'truncate': return ['truncate', call.path, String(call.size)];
    case 'pwrite': return ['pwrite', call.path, String(call.offset), call.data];
    case 'unlink': return ['unlink', call.path];
    case 'rmdir': return ['rmdir', call.path];
    case 'rename': return ['rename', call.from, call.to, String(call.flags)];
    case 'symlink': return ['symlink', call.target, call.path];
    case 'link': return ['link', call.from, call.to];
    case 'mknod': return ['mknod', call.path, String(call.mode), String(call.dev)];
    case 'setxattr': return ['setxattr', call.path, call.name, call.value, String(call.flags), call.nofollow ? '1' : '0'];
    case 'removexattr': return ['removexattr', call.path, call.name];
    case 'chown': return ['chown', call.path, String(call.uid), String(call.gid), call.nofollow ? '1' : '0'];
    case 'utimes': return ['utimes', call.path, ...timeTokens(call.atime), ...timeTokens(call.mtime), String(call.flags)];
  }
}

/** seconds and nanoseconds, UTIME_NOW / UTIME_OMIT in the nanoseconds as utimensat takes them. */
function timeTokens(t: TimeSpec): Token[] {
  return typeof t === 'number' ? [String(t), '0'] : ['0', String(t === 'now' ? UTIME_NOW : UTIME_OMIT)];
}

/** st_ino as the local snapshot keeps it: a number, or a decimal string beyond 2^53. */
function inoOf(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text).toString();
}

/** The executor's walk reply (executor.c walk()) as a Snapshot. */
export function decodeWalk(t: string[]): Snapshot {
  const snap: Snapshot = new Map();
  const count = Number(t[1]);
  let i = 2;
  const failed = (e: string) => `<${errnoName(Number(e))}>`;
  for (let k = 0; k < count; k++) {
    const [path, state, mode, uid, gid, nlink, ino, dev, rdev, blocks, mtime, contentErr, content, nx] = t.slice(i, i + 14);
    i += 14;
    const xattrs: Record<string, string> = {};
    for (let x = 0; x < Number(nx); x++, i += 3) xattrs[t[i]] = t[i + 1] ? failed(t[i + 1]) : t[i + 2];
    if (state) {
      snap.set(path, errorEntry(errnoName(Number(state)))); // S22.9, or a dir that cannot be listed
      continue;
    }
    const kind = kindOf(Number(mode), Number(rdev));
    const entry: SnapEntry = {
      kind, mode: Number(mode) & 0o7777, uid: Number(uid), gid: Number(gid), nlink: Number(nlink), ino: inoOf(ino), dev: Number(dev), xattrs,
      mtime: Number(mtime),
    };
    if (kind === 'file') {
      entry.data = contentErr ? failed(contentErr) : content;
      entry.blocks = Number(blocks);
    }
    else if (kind === 'symlink') entry.target = contentErr ? failed(contentErr) : content;
    snap.set(path, entry);
  }
  return snap;
}

export class RemoteSys implements Sys {
  readonly sandbox: Sandbox;
  readonly where: string;
  private readonly kernelRelease: string;

  /** helloDeadlineMs: how long the executor may take to answer first (a guest's boot). */
  constructor(readonly channel: Channel, sandboxRoot = '/sbx', helloDeadlineMs?: number) {
    const [status, rel, protocol] = channel.request(['hello'], helloDeadlineMs);
    if (status !== '0' || protocol !== PROTOCOL) throw new Error(`the guest executor speaks protocol ${protocol}, not ${PROTOCOL}`);
    this.kernelRelease = rel;
    this.where = `guest ${rel}`;
    this.sandbox = this.openSandbox(sandboxRoot);
  }

  private req(tokens: Token[]): string[] {
    return this.channel.request(tokens);
  }

  private status(tokens: Token[]): Outcome {
    return outcomeOf(this.req(tokens)[0]);
  }

  release(): string {
    return this.kernelRelease;
  }

  run(call: Call): Outcome {
    return this.status(['call', ...callTokens(call)]);
  }

  build(plan: PlannedCall[]): void {
    if (plan.length === 0) return;
    const tokens: Token[] = ['batch', String(plan.length)];
    for (const step of plan) {
      const t = callTokens(step.call);
      tokens.push(String(t.length), ...t);
    }
    const [status, index] = this.req(tokens);
    if (status !== '0') throw buildError(plan[Number(index)], outcomeOf(status));
  }

  walk(root: string): Snapshot {
    const t = this.req(['walk', root]);
    return decodeWalk(t);
  }

  mount(src: string, target: string, fstype: string, flags: number, data: string | null, cwd?: string): Outcome {
    return this.status(['mount', src, target, fstype, String(flags), data === null ? '0' : '1', data ?? '', cwd ?? '']);
  }

  mountNew(target: string, params: [string, string | null][]): Outcome {
    const tokens: Token[] = ['fsmount', target, String(params.length)];
    for (const [k, v] of params) tokens.push(v === null ? 'f' : 's', k, v ?? '');
    return this.status(tokens);
  }

  umount(target: string, flags: number): Outcome {
    return this.status(['umount', target, String(flags)]);
  }

  readText(path: string): string | null {
    const [status, text] = this.req(['read', path]);
    return status === '0' ? text : null;
  }

  list(path: string): string[] {
    const [status, ...names] = this.req(['list', path]);
    return status === '0' ? names : [];
  }

  exists(path: string): boolean {
    return this.req(['lstat', path])[0] === '0';
  }

  removeTree(path: string): void {
    const rc = this.status(['rmtree', path]);
    if (rc !== 'ok') throw new Error(`guest: removing ${path} failed with ${rc}`);
  }

  watch(roots: string[]): () => boolean {
    const rc = this.status(['watch', ...roots]);
    if (rc !== 'ok') throw new Error(`guest: inotify watch failed with ${rc}`);
    return () => this.req(['changed'])[1] === '1';
  }

  /** Flushes the guest's filesystems (before it is powered off with a disk attached). */
  sync(deadlineMs?: number): void {
    this.channel.request(['sync'], deadlineMs);
  }

  /** Asks the executor to exit; the guest's init then powers it off. */
  exit(deadlineMs?: number): void {
    this.channel.request(['exit'], deadlineMs);
  }

  /** The guest's sandbox: a tmpfs at root; the guest itself is the isolation, so nothing is torn down on exit. */
  private openSandbox(root: string): Sandbox {
    let n = 0;
    const must = (what: string, rc: Outcome) => {
      if (rc !== 'ok') throw new Error(`guest: ${what} failed with ${rc}`);
    };
    must(`mkdir ${root}`, this.run({ c: 'mkdir', path: root, mode: 0o755 }));
    must(`tmpfs on ${root}`, this.mount('tmpfs', root, 'tmpfs', 0, 'mode=0755'));
    return {
      root,
      newDir: (prefix) => {
        const dir = `${root}/${prefix}${++n}`;
        must(`mkdir ${dir}`, this.run({ c: 'mkdir', path: dir, mode: 0o755 }));
        return dir;
      },
      mountTmpfs: (dir) => must(`tmpfs on ${dir}`, this.mount('tmpfs', dir, 'tmpfs', 0, 'mode=0755')),
      unmount: (dir) => {
        let rc = this.umount(dir, 0);
        if (rc === 'EBUSY') rc = this.umount(dir, MNT_DETACH);
        if (rc !== 'ok' && rc !== 'EINVAL') throw new Error(`guest: umount ${dir} failed with ${rc}`);
      },
      track: () => {}, // the guest is powered off at the end: nothing to tear down on the host
      fuseControl: () => {
        throw new Error('FUSE implementations are not driven inside guests');
      },
      close: () => {},
    };
  }
}
