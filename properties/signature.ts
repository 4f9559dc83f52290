// A divergence's signature: how much harm, when, and what went differently, without the
// names that happened to be generated. `compare` groups findings by it, tolerates the ones
// already found (so that further ones surface) and matches them against an
// implementation's expectations file. Fine enough that tolerating one hides nothing of
// another class (properties/harm.ts) or phase, or of another operation:
//
//   outcome: "outcome: unlink file from lower: expected ok, actual EPERM"
//   view:    "data: after the final remount: merged: data truncated, file from lower"
//            "metadata: after chmod -> ok: merged: mode, file from lower"
//            "bookkeeping: after a step: upper: unexpected whiteout in upper"
//            "bookkeeping: at mount: merged: nlink (more), root"
//
// The layer situation of a name is taken from the reference's views before the step: where
// the name lives (in the upper only, from a lower, whited out, new) and what it is in the
// merged view. Left out as the generator's choice, not the divergence's: which user xattr,
// which open flags beyond create, excl and write, which setxattr flag, how many links.

import type { Op, Outcome, Snapshot } from '../model/types.js';
import type { Difference } from '../harness/compare.js';
import { contentShape, differenceHarm, harmRank, outcomeHarm, severity, type HarmClass } from './harm.js';

export type Views = Map<string, Snapshot>;

/** Where a name lived: in the upper only, from a lower (merged or not), new, whited out. */
function situation(views: Views, path: string): string {
  if (path === '/') return 'at root';
  const upper = views.get('upper')?.get(path);
  if (upper?.kind === 'whiteout') return 'whited out';
  for (const [view, snap] of views) {
    const e = /^(lower|data)\d/.test(view) ? snap.get(path) : undefined;
    if (e && e.kind !== 'whiteout') return 'from lower';
  }
  return upper ? 'in upper' : 'new';
}

function thing(views: Views, path: string): string {
  const where = situation(views, path);
  if (where === 'new') return 'new name';
  if (where === 'whited out') return 'whited-out name';
  return `${views.get('merged')?.get(path)?.kind ?? 'hidden name'} ${where}`;
}

/** The step's name, and whether a user other than root made it (S11). */
function opName(op: Op, before: Views): string {
  return kindName(op, before) + (op.as && op.as.uid !== 0 ? ' as a user' : '');
}

function kindName(op: Op, before: Views): string {
  if (op.op === 'open') {
    // Only the flags that decide most outcomes; O_NOFOLLOW only where there is a link to follow.
    const f = new Set(op.flags);
    const symlink = before.get('merged')?.get(op.path)?.kind === 'symlink';
    const parts = [
      f.has('O_CREAT') ? 'create' : '', f.has('O_EXCL') ? 'excl' : '',
      f.has('O_WRONLY') || f.has('O_RDWR') ? 'write' : 'read', symlink && f.has('O_NOFOLLOW') ? 'nofollow' : '',
    ];
    return `open(${parts.filter(Boolean).join(',')})`;
  }
  if (op.op === 'rename' && op.flags?.length) return `rename(${op.flags.join('|')})`;
  if (op.op === 'mknod') return `mknod(${op.kind})`;
  return op.op;
}

export function outcomeSignature(op: Op, expected: Outcome, actual: Outcome, before: Views): string {
  const subject = 'src' in op ? `${thing(before, op.src)} to ${thing(before, op.dst)}` : 'path' in op ? thing(before, op.path) : '';
  return `${opName(op, before)}${subject ? ' ' + subject : ''}: expected ${expected}, actual ${actual}`;
}

/**
 * The field a difference is in, with which ordinary xattr folded in: that is the generator's
 * choice (user.a or user.b; trusted.a or trusted.b where the layers have no user.*, S20.1).
 */
function fieldOf(d: Difference): string {
  return d.what.replace(/^xattr user\..*/, 'xattr user.*').replace(/^xattr trusted\.[ab]$/, 'xattr trusted.*');
}

function presence(v: unknown): string {
  return v === '(absent)' ? 'absent' : 'present';
}

/** The core of a view difference's signature; `now` (the expected views after the step) names another name's data. */
export function differenceSignature(d: Difference, before: Views, now?: Views): string {
  const view = d.view.replace(/\d+$/, '');
  const what = fieldOf(d);
  const where = d.path === '/' ? 'at root' : situation(before, d.path);
  const subject = d.path === '/' ? 'root' : thing(before, d.path);
  const kindOf = (v: unknown) => String(v).split(' ')[0];
  switch (d.what) {
    case 'missing': return `${view}: missing ${kindOf(d.expected)} ${where}`;
    case 'unexpected': return `${view}: unexpected ${kindOf(d.actual)} ${where}`;
    case 'kind':
    case 'errno':
      return `${view}: ${what} ${d.expected} became ${d.actual}, ${subject}`;
    case 'nlink':
      return `${view}: nlink (${Number(d.actual) > Number(d.expected) ? 'more' : 'fewer'}), ${subject}`;
    case 'data': {
      const others = [...(now?.get(d.view) ?? new Map()).entries()].filter(([p, e]) => p !== d.path && e.kind === 'file').map(([, e]) => e.data ?? '');
      return `${view}: data ${contentShape(String(d.expected ?? ''), String(d.actual ?? ''), others)}, ${subject}`;
    }
    default:
      if (what.startsWith('xattr ')) {
        const how = presence(d.expected) === presence(d.actual) ? 'value differs' : `${presence(d.expected)} became ${presence(d.actual)}`;
        return `${view}: ${what} ${how}, ${subject}`;
      }
      return `${view}: ${what}, ${subject}`;
  }
}

/** One part of a divergence (its outcome, or one difference), classed and signed. */
export interface Part {
  harm: HarmClass;
  signature: string;
  /** Within the class, lower ranks first (harm.ts severity). */
  rank: number;
}

/** When a comparison happens: at mount, after a step (with its outcome), after the final remount. */
export interface Moment {
  phase: 'mount' | 'step' | 'remount' | 'kernel-read';
  op?: Op;
  expected?: Outcome;
  actual?: Outcome;
}

/** "at mount", "after rename -> EXDEV", "after a rotation", "after the final remount". */
export function momentText(at: Moment, before: Views): string {
  if (at.phase === 'mount') return 'at mount';
  if (at.phase === 'kernel-read') return 'when the kernel mounts its layers';
  if (at.phase === 'remount') return 'after the final remount';
  if (at.op?.op === 'remount') return 'after a remount';
  if (at.op?.op === 'rotate') return 'after a rotation';
  const result = at.expected === at.actual ? `${at.actual}` : `${at.expected} (actual ${at.actual})`;
  return `after ${at.op ? opName(at.op, before) : 'a step'} -> ${result}`;
}

/** A phase other than an ordinary step: the layers were unmounted and mounted since. */
function remounted(at: Moment): boolean {
  return at.phase === 'remount' || at.phase === 'kernel-read' || at.op?.op === 'remount' || at.op?.op === 'rotate';
}

export function outcomePart(at: Moment, before: Views): Part {
  const harm = outcomeHarm(at.actual!);
  const core = at.op ? outcomeSignature(at.op, at.expected!, at.actual!, before) : `${at.phase}: expected ${at.expected}, actual ${at.actual}`;
  return { harm, signature: `${harm}: ${core}`, rank: severity({ harm, expected: at.expected, actual: at.actual }) };
}

export function differencePart(d: Difference, at: Moment, before: Views, now?: Views): Part {
  const harm = differenceHarm(d);
  // Bookkeeping keeps the phase but not the operation: a link count that a merged dir gets
  // wrong would otherwise be one finding per operation that makes a dir merged.
  const moment = harm === 'bookkeeping' && at.phase === 'step' && !remounted(at) ? 'after a step' : momentText(at, before);
  return {
    harm,
    signature: `${harm}: ${moment}: ${differenceSignature(d, before, now)}`,
    rank: severity({ harm, view: d.view, phase: remounted(at) ? 'remount' : 'step' }),
  };
}

/** The worst of some parts: by class, then by rank within it, then the first. */
export function worstPart<T extends Part>(parts: T[]): T {
  return parts.reduce((w, p) => (harmRank(p.harm) < harmRank(w.harm) || (p.harm === w.harm && p.rank < w.rank) ? p : w));
}

/**
 * What makes a difference the same one at the next comparison: its view, name and field,
 * and its values, except for bookkeeping, where only the direction counts (a link count that
 * stays wrong by one more link after a mkdir is the same fault). A difference tolerated at
 * one comparison that is still there, unchanged, at the next is not a new one.
 */
export function carryKey(d: Difference): string {
  const field = fieldOf(d);
  // By field, not by class: a rotation turns an upper (bookkeeping) difference into a lower one.
  if (/^(nlink|st_ino|st_dev)/.test(d.what)) {
    const direction = d.what === 'nlink' ? (Number(d.actual) > Number(d.expected) ? 'more' : 'fewer') : '';
    return `${d.path}|${field}|${direction}`;
  }
  return `${d.path}|${field}|${JSON.stringify([d.expected, d.actual])}`;
}

/** Which divergences count: none tolerated by default. */
export interface Tolerance {
  has(signature: string): boolean;
}

/**
 * Signatures to tolerate; one with "*" is a pattern ("bookkeeping: *nlink*"). A pattern
 * must name its class literally, so that it can never tolerate a finding of another class.
 */
export function toleranceOf(signatures: Iterable<string>): Tolerance & { add(signature: string): void } {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  const add = (s: string) => {
    if (!s.includes('*')) exact.add(s);
    else patterns.push(new RegExp('^' + s.split('*').map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's'));
  };
  for (const s of signatures) add(s);
  return { has: (s) => exact.has(s) || patterns.some((p) => p.test(s)), add };
}
