// How much harm a divergence shows. The one place that decides it: every part of a finding
// (an outcome, a difference in one view) gets a class, a finding takes its worst part's, and
// `compare` sorts, caps and gates by class.
//
//   data         content or names lost or changed that no operation asked for: in the merged
//                view (now, after a remount, after a rotation), in what the kernel reads from
//                the implementation's upper, in what an open fd reads, and any change to a
//                lower or data-only layer
//   hang         no answer within the deadline; the daemon crashed or exited
//   outcome      an errno where the reference succeeds or the reverse (success where the
//                reference refuses ranks first), or another errno
//   metadata     mode, owner, xattrs, kind, the errno of a name listed but not lookup-able,
//                what a directory stream reads (its names and d_type: a name it misses or
//                repeats is not lost, the merged view shows the tree)
//   bookkeeping  nlink, st_ino, st_dev, a stream's d_ino, and the upper's layout (its whiteouts, private
//                xattrs, copies) where the merged view does not show it
//
// A difference in the upper that the merged view does show is classed by the merged one;
// one that shows only after a remount is classed then, by what the merged view shows.

import type { Outcome } from '../model/types.js';
import type { Difference } from '../harness/compare.js';

export const HARM_CLASSES = ['data', 'hang', 'outcome', 'metadata', 'bookkeeping'] as const;
export type HarmClass = (typeof HARM_CLASSES)[number];

/** 0 is the worst. */
export function harmRank(c: HarmClass): number {
  return HARM_CLASSES.indexOf(c);
}

export function isHarmClass(s: string): s is HarmClass {
  return (HARM_CLASSES as readonly string[]).includes(s);
}

/** The class a signature names (its prefix, "data: ..."). */
export function harmOf(signature: string): HarmClass | undefined {
  const c = signature.slice(0, signature.indexOf(':'));
  return isHarmClass(c) ? c : undefined;
}

/**
 * Where a view sits: the merged mount (what the kernel reads from the upper, and what fstat
 * through an open fd shows, are seen through one too), the upper, a lower.
 */
function viewKind(view: string): 'merged' | 'upper' | 'lower' {
  if (view === 'merged' || view === 'kernel-read' || view === 'fd') return 'merged';
  if (view === 'upper') return 'upper';
  if (/^(lower|data)\d+$/.test(view)) return 'lower';
  throw new Error(`harm: no class for a difference in the view "${view}"`);
}

const BOOKKEEPING_FIELDS = /^(nlink|st_ino|st_dev)/;

export function differenceHarm(d: Difference): HarmClass {
  if (d.what === 'timeout') return 'hang';
  // What a dir stream read (S9): the merged view shows any name lost; d_ino is st_ino's bookkeeping.
  if (d.view === 'readdir') return d.what === 'd_ino' ? 'bookkeeping' : 'metadata';
  // What /proc/mounts shows (S1.4): the mount behaves as its options, whatever it shows.
  if (d.view === 'mounts') return 'bookkeeping';
  const kind = viewKind(d.view);
  if (kind === 'lower') return 'data'; // read-only layers: any change is damage
  if (kind === 'upper') return 'bookkeeping';
  if (BOOKKEEPING_FIELDS.test(d.what)) return 'bookkeeping';
  const isError = (v: unknown) => String(v).startsWith('error');
  switch (d.what) {
    case 'missing': return isError(d.expected) ? 'metadata' : 'data';
    case 'unexpected': return isError(d.actual) ? 'metadata' : 'data';
    case 'data':
    case 'target':
    case 'mount': // the kernel cannot mount the implementation's layers at all
      return 'data';
    case 'kind':
      // A name whose content can no longer be reached (or the reverse) lost its data.
      return d.expected === 'error' || d.actual === 'error' ? 'data' : 'metadata';
    default: return 'metadata'; // mode, uid, gid, xattrs, errno of a listed name
  }
}

export function outcomeHarm(actual: Outcome): HarmClass {
  return actual === 'TIMEOUT' ? 'hang' : 'outcome';
}

/**
 * Within a class, which parts rank first (lower is worse): damage to a lower layer, then
 * what shows after a remount or rotation; success where the reference refuses, then a
 * refusal where it succeeds, then another errno.
 */
export function severity(part: { harm: HarmClass; view?: string; phase?: string; expected?: Outcome; actual?: Outcome }): number {
  if (part.harm === 'data') {
    if (part.view && viewKind(part.view) === 'lower') return 0;
    return part.phase && part.phase !== 'step' ? 1 : 2;
  }
  if (part.harm === 'outcome' && part.expected !== undefined) {
    if (part.actual === 'ok') return 0;
    return part.expected === 'ok' ? 1 : 2;
  }
  return 0;
}

/** What is wrong with a content: the shape a signature carries, not the bytes. */
export function contentShape(expected: string, actual: string, otherContents: Iterable<string> = []): string {
  if (actual === '' && expected !== '') return 'lost all bytes';
  if (expected.startsWith(actual)) return 'truncated';
  if (actual.includes('\0') && !expected.includes('\0')) return 'zero-filled';
  if (actual.startsWith(expected)) return 'gained bytes';
  for (const other of otherContents) if (other === actual) return "another name's data";
  return 'other bytes';
}
