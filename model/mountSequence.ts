// Mounts that depend on earlier mounts (super.c): index=on makes an upper and workdir
// exclusive while mounted (S12.2) and ties them to their first lower layer and to each other
// (S12.1). A sequence of mounts and unmounts over a few directories, with what each returns.

import type { Outcome } from './types.js';

/** One mount of the sequence: lowerdir=<lower>,upperdir=<upper>,workdir=<work>[,index=on]. */
export interface SeqMount {
  lower: string;
  upper: string;
  work: string;
  index: boolean;
}

/** Mount at the first free mount point, or unmount the pick-th live mount (modulo their number). */
export type SeqAction = ({ do: 'mount' } & SeqMount) | { do: 'umount'; pick: number };

export interface SeqState {
  /** Live mounts by mount point, with the dirs each holds the in-use lock on. */
  live: ReadonlyMap<number, { m: SeqMount; locked: readonly string[] }>;
  /** P.origin on an upper root, recorded by its first index=on mount: the lower it names. */
  origin: ReadonlyMap<string, string>;
  /** P.upper on a workdir's index dir, recorded by its first index=on mount. */
  indexOf: ReadonlyMap<string, string>;
}

export const MOUNT_POINTS = 3;

export function emptySequence(): SeqState {
  return { live: new Map(), origin: new Map(), indexOf: new Map() };
}

export interface SeqStep {
  /** Mount point acted on; null: nothing to do (no free point, or nothing mounted). */
  at: number | null;
  outcome: Outcome;
  rule: string;
  state: SeqState;
}

export function stepSequence(st: SeqState, a: SeqAction): SeqStep {
  if (a.do === 'umount') {
    const points = [...st.live.keys()].sort();
    if (points.length === 0) return { at: null, outcome: 'ok', rule: '-', state: st };
    const at = points[a.pick % points.length];
    const live = new Map(st.live);
    live.delete(at); // its in-use locks go with it
    return { at, outcome: 'ok', rule: 'S12.2', state: { ...st, live } };
  }
  let at = 0;
  while (st.live.has(at)) at++;
  if (at >= MOUNT_POINTS) return { at: null, outcome: 'ok', rule: '-', state: st };
  const fail = (outcome: Outcome, rule: string): SeqStep => ({ at, outcome, rule, state: st });
  const lockedBy = new Set([...st.live.values()].flatMap((l) => l.locked));
  // ovl_report_in_use: with index=on a dir in use as another mount's upper or workdir is
  // EBUSY; without, the kernel only warns. Upper first, then workdir, then the lower.
  if (a.index && lockedBy.has(a.upper)) return fail('EBUSY', 'S12.2');
  if (a.index && lockedBy.has(a.work)) return fail('EBUSY', 'S12.2');
  if (a.lower === a.upper || a.lower === a.work) return fail('ELOOP', 'S15.2'); // "conflicting lowerdir path"
  if (a.index && lockedBy.has(a.lower)) return fail('EBUSY', 'S12.2');
  // S12.1: an upper indexed with one lower refuses another; so does an index dir made for another upper.
  const origin = st.origin.get(a.upper);
  if (a.index && origin !== undefined && origin !== a.lower) return fail('ESTALE', 'S12.1');
  const indexed = st.indexOf.get(a.work);
  if (a.index && indexed !== undefined && indexed !== a.upper) return fail('ESTALE', 'S12.1');
  // Success: the in-use locks are taken where free (ovl_inuse_trylock), whatever index says.
  const locked = [a.upper, a.work].filter((d) => !lockedBy.has(d));
  const live = new Map(st.live).set(at, { m: { lower: a.lower, upper: a.upper, work: a.work, index: a.index }, locked });
  if (!a.index) return { at, outcome: 'ok', rule: 'S12.2', state: { ...st, live } };
  return {
    at, outcome: 'ok', rule: 'S12.1',
    state: { live, origin: new Map(st.origin).set(a.upper, origin ?? a.lower), indexOf: new Map(st.indexOf).set(a.work, indexed ?? a.upper) },
  };
}

export function seqOptions(m: SeqMount): string {
  return `lowerdir=${m.lower},upperdir=${m.upper},workdir=${m.work}${m.index ? ',index=on' : ''}`;
}
