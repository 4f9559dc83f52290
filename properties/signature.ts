// A divergence's signature: what went differently, without the names that happened to be
// generated. `compare` groups divergences by it, tolerates the ones already found (so that
// further ones surface) and matches them against an implementation's expectations file.
//
//   outcome:  "unlink file from lower: expected ok, actual EPERM"
//   view:     "upper: unexpected whiteout in upper", "merged: nlink (more), root"
//
// The layer situation of a name is taken from the reference's views before the step: where
// the name lives (in the upper only, from a lower, whited out, new) and what it is in the
// merged view. Deliberately coarse: which user xattr, which open flags beyond create, excl
// and write, and which setxattr flag are the generator's choice, not the divergence's.

import type { Op, Outcome, Snapshot } from '../model/types.js';
import type { Difference } from '../harness/compare.js';

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

function opName(op: Op, before: Views): string {
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

function presence(v: unknown): string {
  return v === '(absent)' ? 'absent' : 'present';
}

export function differenceSignature(d: Difference, before: Views): string {
  const view = d.view.replace(/\d+$/, '');
  const what = d.what.replace(/^xattr user\..*/, 'xattr user.*'); // which user xattr is the generator's choice
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
    default:
      if (what.startsWith('xattr ')) {
        const how = presence(d.expected) === presence(d.actual) ? 'value differs' : `${presence(d.expected)} became ${presence(d.actual)}`;
        return `${view}: ${what} ${how}, ${subject}`;
      }
      return `${view}: ${what}, ${subject}`;
  }
}

/** Which divergences count: none tolerated by default. */
export interface Tolerance {
  has(signature: string): boolean;
}
