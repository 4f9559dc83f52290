// fast-check commands: one generic command per operation. Its paths are resolved against
// the model state when it runs, so the printed and saved steps are concrete.

import type fc from 'fast-check';
import type { Op, OpenFlag, RenameFlag, StackSpec, XattrFlag } from '../model/index.js';
import type { AbstractOp, PathPick } from './arb/ops.js';
import type { Session } from './session.js';

export interface Real {
  session: Session;
  candidates: Candidates;
}

export class OpCommand implements fc.AsyncCommand<object, Real> {
  private concrete: Op | null = null;
  constructor(readonly abstract: AbstractOp) {}
  check(): boolean {
    return true;
  }
  async run(_m: object, r: Real): Promise<void> {
    this.concrete = resolveOp(this.abstract, r.candidates);
    await r.session.step(this.concrete);
  }
  toString(): string {
    return this.concrete ? formatOp(this.concrete) : `${this.abstract.op}(...)`;
  }
}

export interface Candidates {
  all: string[];
  dirs: string[];
}

/**
 * The paths a pick chooses from: every path of the initial stack (whiteouts and hidden names
 * included) plus two fresh names under each of its dirs. They depend on the stack only, not
 * on the steps run so far, so that dropping a step while shrinking leaves the paths of the
 * other steps unchanged.
 */
export function candidatePaths(stack: StackSpec): Candidates {
  const all = new Set<string>();
  const dirs = new Set<string>(['/']);
  for (const layer of [stack.upper, ...stack.lowers]) {
    for (const [path, e] of Object.entries(layer)) {
      const comps = path.split('/').slice(1);
      comps.forEach((_, i) => all.add('/' + comps.slice(0, i + 1).join('/')));
      comps.slice(0, -1).forEach((_, i) => dirs.add('/' + comps.slice(0, i + 1).join('/')));
      if (e.type === 'dir') dirs.add(path);
    }
  }
  for (const d of [...dirs]) for (const n of FRESH) all.add(d === '/' ? `/${n}` : `${d}/${n}`);
  return { all: [...all].sort(), dirs: [...dirs].sort() };
}

const FRESH = ['n1', 'n2'];

function resolvePath(p: PathPick, c: Candidates): string {
  if (p.fresh === undefined) return c.all[p.pick % c.all.length];
  const dir = c.dirs[p.pick % c.dirs.length];
  return dir === '/' ? `/${p.fresh}` : `${dir}/${p.fresh}`;
}

export function resolveOp(a: AbstractOp, c: Candidates): Op {
  const [p, q] = a.paths.map((x) => resolvePath(x, c));
  switch (a.op) {
    case 'open': return { op: 'open', path: p, flags: a.flags as OpenFlag[], mode: a.mode, ...(a.data !== undefined && !a.flags.includes('O_RDONLY') ? { data: a.data } : {}) };
    case 'truncate': return { op: 'truncate', path: p, size: a.size };
    case 'unlink': return { op: 'unlink', path: p };
    case 'mkdir': return { op: 'mkdir', path: p, mode: a.mode };
    case 'rmdir': return { op: 'rmdir', path: p };
    case 'rename': return { op: 'rename', src: p, dst: q, ...(a.flags.length ? { flags: a.flags as RenameFlag[] } : {}) };
    case 'symlink': return { op: 'symlink', target: q.slice(1), path: p };
    case 'link': return { op: 'link', src: p, dst: q };
    case 'chmod': return { op: 'chmod', path: p, mode: a.mode };
    case 'mknod': return { op: 'mknod', path: p, kind: a.flags[0] as 'fifo' | 'whiteout', mode: a.mode };
    case 'setxattr': return { op: 'setxattr', path: p, name: a.name, value: a.value, ...(a.flags[0] !== 'none' ? { flags: a.flags[0] as XattrFlag } : {}) };
    case 'removexattr': return { op: 'removexattr', path: p, name: a.name };
    case 'remount': return { op: 'remount' };
    case 'rotate': return { op: 'rotate' };
  }
}

/** A step the way a C programmer would write it. */
export function formatOp(op: Op): string {
  const q = (s: string) => JSON.stringify(s);
  const o = (m: number) => '0' + m.toString(8);
  switch (op.op) {
    case 'open': return `open(${q(op.path)}, ${op.flags.join('|')}${op.flags.includes('O_CREAT') ? ', ' + o(op.mode ?? 0o644) : ''})${op.data !== undefined ? ` + write(${q(op.data)})` : ''}`;
    case 'truncate': return `truncate(${q(op.path)}, ${op.size})`;
    case 'unlink': return `unlink(${q(op.path)})`;
    case 'mkdir': return `mkdir(${q(op.path)}, ${o(op.mode)})`;
    case 'rmdir': return `rmdir(${q(op.path)})`;
    case 'rename': return `renameat2(${q(op.src)}, ${q(op.dst)}, ${op.flags?.length ? op.flags.join('|') : '0'})`;
    case 'symlink': return `symlink(${q(op.target)}, ${q(op.path)})`;
    case 'link': return `link(${q(op.src)}, ${q(op.dst)})`;
    case 'chmod': return `chmod(${q(op.path)}, ${o(op.mode)})`;
    case 'mknod': return `mknod(${q(op.path)}, ${op.kind === 'fifo' ? 'S_IFIFO' : 'S_IFCHR 0/0'}|${o(op.mode)})`;
    case 'setxattr': return `setxattr(${q(op.path)}, ${q(op.name)}, ${q(op.value)}, ${op.flags ?? '0'})`;
    case 'removexattr': return `removexattr(${q(op.path)}, ${q(op.name)})`;
    case 'remount': return 'umount + mount';
    case 'rotate': return 'rotate: umount, the upper becomes the top lower, mount with a new upper';
  }
}
