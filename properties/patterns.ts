// What a finished case did: detectors over its stack, its concrete steps with their outcomes
// and the model state before each step. They measure the generator's reach (issue 10) from
// what happened, not from what a command meant to do: properties/stats.ts counts them.

import { baseName, parentPath } from '../model/layerFs.js';
import { isDir, isMergedDir, isPositive, lookupChild, lookupPath, type OvlDentry } from '../model/lookup.js';
import { checkEmptyDir } from '../model/readdir.js';
import { upperView } from '../model/views.js';
import type { Op, Outcome, OvlState, StackSpec } from '../model/index.js';
import { opPaths } from './commands.js';

export interface TraceStep {
  op: Op;
  outcome: Outcome;
  /** The model state before the step. */
  before: OvlState;
  /** The model state the step left (before the walk that follows it). */
  after: OvlState;
}

export interface CaseTrace {
  stack: StackSpec;
  steps: TraceStep[];
}

export interface Pattern {
  name: string;
  /** 'scenario': several steps that follow each other; 'single-step': one step in a situation. */
  kind: 'scenario' | 'single-step';
  rule: string;
  detect(t: CaseTrace): boolean;
}

/** How many steps later a follow-up still counts as following. */
const WINDOW = 3;

/** The positive dentry at a path in a state, or null (missing, or a lookup the model does not hold). */
function at(s: OvlState, path: string): OvlDentry | null {
  try {
    const d = lookupPath(s, path);
    return d && isPositive(d) ? d : null;
  } catch {
    return null;
  }
}

/** The name is hidden by a whiteout in the upper (S2.5). */
function upperWhiteoutAt(s: OvlState, path: string): boolean {
  const parent = path === '/' ? null : at(s, parentPath(path));
  if (!parent || !isDir(parent)) return false;
  try {
    return lookupChild(s, parent, baseName(path)).upperWhiteout;
  } catch {
    return false;
  }
}

/** The step wrote to the upper layer. */
function upperChanged(a: TraceStep): boolean {
  if (a.after.upper === a.before.upper) return false;
  const key = (s: OvlState) => JSON.stringify([...upperView(s)]);
  return key(a.after) !== key(a.before);
}

const fromLower = (d: OvlDentry | null): d is OvlDentry => d !== null && d.lowers.length > 0;

/** Stands for a missing name where a dentry is needed. */
const negative: OvlDentry = { path: '', upper: null, upperWhiteout: false, lowers: [] };

/** Only in lower layers (nothing in the upper yet): a dir, or not. */
function isLowerOnly(d: OvlDentry | null, dir: boolean): boolean {
  return fromLower(d) && !d.upper && isDir(d) === dir;
}

const ok = (t: TraceStep) => t.outcome === 'ok';
const under = (p: string, dir: string) => p !== dir && (dir === '/' || p.startsWith(dir + '/'));
const writes = (op: Op) => op.op === 'open' && (op.flags.includes('O_WRONLY') || op.flags.includes('O_RDWR') || op.flags.includes('O_TRUNC'));

/** A step that changes the object at a path (not the namespace). */
function modifies(op: Op): string | null {
  if (writes(op) || op.op === 'truncate' || op.op === 'chmod' || op.op === 'setxattr' || op.op === 'removexattr') return (op as { path: string }).path;
  return null;
}

/** The name a step creates, if it creates one (looked at before the step). */
function creates(t: TraceStep): string | null {
  const op = t.op;
  switch (op.op) {
    case 'mkdir': case 'mknod': case 'symlink': return op.path;
    case 'open': return op.flags.includes('O_CREAT') && !at(t.before, op.path) ? op.path : null;
    case 'link': return op.dst;
    case 'rename': return op.flags?.includes('RENAME_EXCHANGE') ? null : op.dst;
    default: return null;
  }
}

/** The name a step removes. */
function removes(op: Op): string | null {
  if (op.op === 'unlink' || op.op === 'rmdir') return op.path;
  if (op.op === 'rename' && !op.flags?.includes('RENAME_EXCHANGE')) return op.src;
  return null;
}

/** Some step i, and a step j at most `window` steps after it, for which the tests hold. */
function followed(t: CaseTrace, first: (a: TraceStep) => boolean, then: (a: TraceStep, b: TraceStep) => boolean, window = WINDOW): boolean {
  const s = t.steps;
  for (let i = 0; i < s.length; i++) {
    if (!first(s[i])) continue;
    for (let j = i + 1; j < s.length && j <= i + window; j++) if (then(s[i], s[j])) return true;
  }
  return false;
}

function single(t: CaseTrace, test: (a: TraceStep) => boolean): boolean {
  return t.steps.some(test);
}

/** The child a step changes (write, chmod, setxattr, create, unlink), when it has a parent below the root. */
function changedChild(a: TraceStep): string | null {
  if (!ok(a)) return null;
  const p = modifies(a.op) ?? creates(a) ?? removes(a.op);
  return p && parentPath(p) !== '/' ? p : null;
}

export const PATTERNS: Pattern[] = [
  {
    name: 'read-dir-while-changing',
    kind: 'scenario',
    rule: 'S9.7',
    // A stream that had read part of its dir reads on after a name in that dir was created,
    // removed or renamed since its last read.
    detect: (t) => t.steps.some((b, j) => {
      if (b.op.op !== 'readdir' || !ok(b)) return false;
      const slot = b.op.dir;
      const st = b.before.streams?.[slot];
      if (!st || st.marks.length === 0 || st.path === null) return false;
      const last = t.steps.slice(0, j).map((a) => a.op.op === 'readdir' && a.op.dir === slot).lastIndexOf(true);
      return last >= 0 && t.steps.slice(last + 1, j).some((a) => ok(a) && a.op.op !== 'readdir' && opPaths(a.op).some((p) => p !== '/' && parentPath(p) === st.path));
    }),
  },
  {
    name: 'empty-then-remove',
    kind: 'scenario',
    rule: 'S4.8, S5.9',
    // rmdir of (or rename onto) a merged dir that the case emptied: the merged view is empty,
    // and its upper holds whiteouts of names that earlier steps removed.
    detect: (t) => t.steps.some((b, j) => {
      const dir = b.op.op === 'rmdir' ? b.op.path : b.op.op === 'rename' ? b.op.dst : null;
      if (!dir || dir === '/') return false;
      const d = at(b.before, dir);
      if (!d || !isDir(d) || !d.upper || d.lowers.length === 0 || !checkEmptyDir(b.before, d)) return false;
      const whiteouts = [...d.upper.children!].filter(([, c]) => c.type === 'whiteout').map(([n]) => `${dir}/${n}`);
      return whiteouts.length > 0 && t.steps.slice(0, j).some((a) => ok(a) && whiteouts.includes(removes(a.op) ?? ''));
    }),
  },
  {
    name: 'child-then-parent',
    kind: 'scenario',
    rule: 'S6.2, S5.2',
    // A child changed, then its lower or merged parent renamed or copied up (chmod, xattrs).
    detect: (t) => followed(t, (a) => changedChild(a) !== null, (a, b) => {
      const parent = parentPath(changedChild(a)!);
      const onParent = (b.op.op === 'rename' && b.op.src === parent) || modifies(b.op) === parent;
      return onParent && fromLower(at(b.before, parent));
    }),
  },
  {
    name: 'fail-then-look',
    kind: 'scenario',
    rule: 'S22.4',
    // A call failed on a name from a lower layer but left something in the upper (a copy-up,
    // S22.4); a next step works on that name, its parent or a child.
    detect: (t) => followed(t, (a) => !ok(a) && upperChanged(a) && opPaths(a.op).some((p) => fromLower(at(a.before, p))), (a, b) =>
      opPaths(a.op).filter((p) => fromLower(at(a.before, p))).some((p) =>
        opPaths(b.op).some((q) => q === p || q === parentPath(p) || under(q, p))), 2),
  },
  {
    name: 'delete-then-recreate',
    kind: 'scenario',
    rule: 'S4.2, S3.6',
    // A lower name removed (a whiteout), then created again: the whiteout replaced, a dir opaque.
    detect: (t) => followed(t, (a) => ok(a) && (a.op.op === 'unlink' || a.op.op === 'rmdir') && fromLower(at(a.before, a.op.path)),
      (a, b) => ok(b) && creates(b) === (a.op as { path: string }).path, WINDOW + 1),
  },
  {
    name: 'rename-dir-then-inside',
    kind: 'scenario',
    rule: 'S5.3, S5.8',
    // A dir renamed, then a name created or removed inside it at its new place.
    detect: (t) => followed(t, (a) => ok(a) && a.op.op === 'rename' && isDir(at(a.before, a.op.src) ?? negative)
      && !a.op.flags?.includes('RENAME_EXCHANGE'), (a, b) => {
      const dst = (a.op as { dst: string }).dst;
      const p = creates(b) ?? removes(b.op);
      return ok(b) && p !== null && under(p, dst);
    }),
  },
  {
    name: 'link-then-modify',
    kind: 'scenario',
    rule: 'S4.6, S6.6',
    // A hard link made, then the file changed through one of its two names.
    detect: (t) => followed(t, (a) => ok(a) && a.op.op === 'link', (a, b) => {
      const op = a.op as { src: string; dst: string };
      const p = modifies(b.op);
      return ok(b) && (p === op.src || p === op.dst);
    }),
  },
  {
    name: 'dir-copy-up-then-inside',
    kind: 'scenario',
    rule: 'S6.2',
    // A lower dir copied up by chmod or an xattr change (the dir alone), then a name inside it changed.
    detect: (t) => followed(t, (a) => ok(a) && ['chmod', 'setxattr', 'removexattr'].includes(a.op.op) && isLowerOnly(at(a.before, (a.op as { path: string }).path), true),
      (a, b) => ok(b) && opPaths(b.op).some((p) => under(p, (a.op as { path: string }).path))),
  },
  // Single steps the property reached before issue 10: their rates must not drop.
  {
    name: 'copy-up-by-open-for-write',
    kind: 'single-step',
    rule: 'S6.1',
    detect: (t) => single(t, (a) => ok(a) && writes(a.op) && isLowerOnly(at(a.before, (a.op as { path: string }).path), false)),
  },
  {
    name: 'unlink-of-lower-file',
    kind: 'single-step',
    rule: 'S4.7',
    detect: (t) => single(t, (a) => ok(a) && a.op.op === 'unlink' && fromLower(at(a.before, a.op.path))),
  },
  {
    name: 'rename-of-lower-dir-exdev',
    kind: 'single-step',
    rule: 'S5.2',
    detect: (t) => single(t, (a) => a.outcome === 'EXDEV' && a.op.op === 'rename' && [a.op.src, a.op.dst].some((p) => {
      const d = at(a.before, p);
      return fromLower(d) && isDir(d);
    })),
  },
  {
    name: 'rmdir-of-non-empty-merged-dir',
    kind: 'single-step',
    rule: 'S4.8',
    detect: (t) => single(t, (a) => a.outcome === 'ENOTEMPTY' && a.op.op === 'rmdir' && isMergedDir(at(a.before, a.op.path) ?? negative)),
  },
  {
    name: 'mkdir-over-whiteout',
    kind: 'single-step',
    rule: 'S4.2',
    detect: (t) => single(t, (a) => ok(a) && a.op.op === 'mkdir' && upperWhiteoutAt(a.before, a.op.path)),
  },
  {
    name: 'link-of-lower-file',
    kind: 'single-step',
    rule: 'S4.6',
    detect: (t) => single(t, (a) => ok(a) && a.op.op === 'link' && isLowerOnly(at(a.before, a.op.src), false)),
  },
  {
    name: 'setxattr-on-lower-dir',
    kind: 'single-step',
    rule: 'S6.1',
    detect: (t) => single(t, (a) => ok(a) && a.op.op === 'setxattr' && isLowerOnly(at(a.before, a.op.path), true)),
  },
  {
    name: 'rename-over-existing-name',
    kind: 'single-step',
    rule: 'S5.9, S5.10',
    detect: (t) => single(t, (a) => ok(a) && a.op.op === 'rename' && !a.op.flags?.includes('RENAME_EXCHANGE') && at(a.before, a.op.dst) !== null),
  },
  {
    name: 'refused-to-a-caller',
    kind: 'single-step',
    rule: 'S11.3',
    detect: (t) => single(t, (a) => byUser(a) && (a.outcome === 'EACCES' || a.outcome === 'EPERM')),
  },
  {
    name: 'created-by-a-caller',
    kind: 'single-step',
    rule: 'S4.5',
    detect: (t) => single(t, (a) => byUser(a) && ok(a) && 'path' in a.op && at(a.before, a.op.path) === null
      && (['mkdir', 'mknod', 'symlink'].includes(a.op.op) || (a.op.op === 'open' && a.op.flags.includes('O_CREAT')))),
  },
];

/** A step made by a user other than root (S11). */
function byUser(a: TraceStep): boolean {
  return a.op.as !== undefined && a.op.as.uid !== 0;
}

/** The patterns a finished case shows. */
export function detectPatterns(t: CaseTrace): string[] {
  return PATTERNS.filter((p) => p.detect(t)).map((p) => p.name);
}
