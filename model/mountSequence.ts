// Mounts that depend on earlier mounts (super.c ovl_fill_super): index=on makes an upper and
// workdir exclusive while mounted (S12.2) and ties them to their first lower layer and to each
// other (S12.1); volatile marks its workdir for good (S14.3). A mount writes to its layers as
// it goes, so one that fails has already left whatever its earlier steps wrote, and later
// mounts check that. A sequence of mounts and unmounts over a few directories, with what each
// returns and what the layer dirs then hold.

import { cover, covered } from './coverage.js';
import type { KernelVersion, Outcome } from './types.js';
import { hasFeature } from './versions.js';

/** One mount of the sequence: lowerdir=<lower>,upperdir=<upper>,workdir=<work>[,index=on][,volatile][,userxattr][,uuid=<uuid>]. */
export interface SeqMount {
  lower: string;
  upper: string;
  work: string;
  index: boolean;
  volatile?: boolean;
  /** P is user.overlay. instead of trusted.overlay. (S10.3): a namespace of its own for origin, upper and uuid. */
  userxattr?: boolean;
  /** Not given: the default (auto from 6.6, on before). null and auto came in 6.6. */
  uuid?: 'on' | 'off' | 'null' | 'auto';
}

/**
 * Mount at the first free mount point; or unmount the pick-th live mount (modulo their number,
 * as generated), or the one at a mount point (as a case file names it).
 */
export type SeqAction = ({ do: 'mount' } & SeqMount) | { do: 'umount'; pick: number } | { do: 'umount'; at: number };

export interface SeqState {
  /** Live mounts by mount point, with the dirs each holds the in-use lock on. */
  live: ReadonlyMap<number, { m: SeqMount; locked: readonly string[] }>;
  /**
   * P.origin on an upper root, set by the first index=on mount that reached it: the lower's
   * handle (fileHandle). Keyed by xattrKey: trusted.overlay.* and user.overlay.* apart.
   */
  origin: ReadonlyMap<string, string>;
  /** P.upper on a workdir's index dir (W/index), set by the first index=on mount that reached it: the upper's handle. */
  indexOf: ReadonlyMap<string, string>;
  /** Upper roots with P.uuid (ovl_init_uuid_xattr, 6.6 on), by xattrKey. */
  uuid: ReadonlySet<string>;
  /** Workdirs holding W/work (ovl_make_workdir). */
  work: ReadonlySet<string>;
  /** Workdirs holding W/work/incompat/volatile/dirty (ovl_create_volatile_dirty). */
  dirty: ReadonlySet<string>;
}

export const MOUNT_POINTS = 3;
/** The default kernel of the model when none is given (the suite passes the one it runs on). */
const NEWEST: KernelVersion = [6, 18, 0];

export function emptySequence(): SeqState {
  return { live: new Map(), origin: new Map(), indexOf: new Map(), uuid: new Set(), work: new Set(), dirty: new Set() };
}

export interface SeqStep {
  /** Mount point acted on; null: nothing to do (no free point, or nothing mounted). */
  at: number | null;
  outcome: Outcome;
  rule: string;
  state: SeqState;
}

export type StepSequence = (st: SeqState, a: SeqAction, kernel: KernelVersion) => SeqStep;

export function stepSequence(st: SeqState, a: SeqAction, kernel: KernelVersion = NEWEST): SeqStep {
  return covered(stepOne(st, a, kernel));
}

function stepOne(st: SeqState, a: SeqAction, kernel: KernelVersion): SeqStep {
  if (a.do === 'umount') {
    const points = [...st.live.keys()].sort();
    const at = 'at' in a ? (st.live.has(a.at) ? a.at : undefined) : points[a.pick % points.length];
    if (at === undefined) return { at: null, outcome: 'ok', rule: '-', state: st };
    const live = new Map(st.live);
    live.delete(at); // its in-use locks go with it; what it wrote stays (a volatile dirty file too)
    return { at, outcome: 'ok', rule: 'S12.2', state: { ...st, live } };
  }
  let at = 0;
  while (st.live.has(at)) at++;
  if (at >= MOUNT_POINTS) return { at: null, outcome: 'ok', rule: '-', state: st };
  const m: SeqMount = {
    lower: a.lower, upper: a.upper, work: a.work, index: a.index,
    ...(a.volatile ? { volatile: true } : {}), ...(a.userxattr ? { userxattr: true } : {}), ...(a.uuid ? { uuid: a.uuid } : {}),
  };
  const d = draftOf(st);
  const held = new Set([...st.live.values()].flatMap((l) => l.locked));
  const verdict = fillSuper(d, m, held, kernel);
  const written: SeqState = { ...st, ...d };
  if (verdict.outcome !== 'ok') return { at, ...verdict, state: written }; // its locks are dropped, its writes stay
  // Success: the in-use locks are taken where free (ovl_inuse_trylock), whatever index says.
  const locked = [m.upper, m.work].filter((dir) => !held.has(dir));
  return { at, ...verdict, state: { ...written, live: new Map(st.live).set(at, { m, locked }) } };
}

export function seqOptions(m: SeqMount): string {
  const flags = [m.index && 'index=on', m.volatile && 'volatile', m.userxattr && 'userxattr', m.uuid && `uuid=${m.uuid}`].filter(Boolean);
  return [`lowerdir=${m.lower},upperdir=${m.upper},workdir=${m.work}`, ...flags].join(',');
}

// ------------------------------------------------------------------ one mount, check by check

/** The persistent part of the state, copied so that a mount can write as it goes. */
interface Draft {
  origin: Map<string, string>;
  indexOf: Map<string, string>;
  uuid: Set<string>;
  work: Set<string>;
  dirty: Set<string>;
}

function draftOf(st: SeqState): Draft {
  return { origin: new Map(st.origin), indexOf: new Map(st.indexOf), uuid: new Set(st.uuid), work: new Set(st.work), dirty: new Set(st.dirty) };
}

type Verdict = { outcome: Outcome; rule: string };
const fail = (outcome: Outcome, rule: string): Verdict => ({ outcome, rule });

/**
 * ovl_fill_super with an upper layer, in its order; every write is made in d at the point the
 * kernel makes it, so a later failure keeps it. held: the dirs other live mounts hold the
 * in-use lock on. The same order on 6.1 (legacy parser: paths resolved here too, all exist).
 */
function fillSuper(d: Draft, m: SeqMount, held: ReadonlySet<string>, kernel: KernelVersion): Verdict {
  const newUuid = hasFeature(kernel, 'uuidAutoNull');
  if ((m.uuid === 'null' || m.uuid === 'auto') && !newUuid) return fail('EINVAL', 'S1.1'); // an unknown option (S20.1)
  // ovl_report_in_use: with index=on a dir in use as another mount's upper or workdir is
  // EBUSY; without, the kernel only warns and takes no lock.
  let index = m.index;
  const inUse = (dir: string) => index && held.has(dir);
  if (inUse(m.upper)) return fail('EBUSY', 'S12.2'); // ovl_get_upper
  // ovl_get_workdir: "workdir and upperdir must be separate subtrees" (ovl_workdir_ok), then in use.
  if (m.work === m.upper || isBelow(m.work, m.upper) || isBelow(m.upper, m.work)) return fail('EINVAL', 'S15.1');
  if (inUse(m.work)) return fail('EBUSY', 'S12.2');
  const bad = makeWorkdir(d, m);
  if (bad) return bad;
  // ovl_make_workdir then tries P.opaque on W/work: the layers are a tmpfs, which holds user.*
  // xattrs from 6.6 only; without, userxattr falls back to index=off (and uuid=null) (S15.6).
  const xattrs = !m.userxattr || hasFeature(kernel, 'tmpfsUserXattrs');
  if (index && !xattrs) cover('S15.6');
  index &&= xattrs;
  // ovl_get_layers: the lower's trap ("conflicting lowerdir path"), then its in-use bit.
  if (m.lower === m.upper || m.lower === m.work) return fail('ELOOP', 'S15.2');
  if (inUse(m.lower)) return fail('EBUSY', 'S12.2');
  // ovl_init_uuid_xattr: uuid=on, or auto (the default from 6.6) on an upper root that is not
  // impure (never, here: nothing is copied up); not null or off.
  if (newUuid && xattrs && (m.uuid ?? 'auto') !== 'null' && m.uuid !== 'off') d.uuid.add(xattrKey(m, m.upper));
  cover('S8.9');
  if (index) {
    const stale = getIndexdir(d, m);
    if (stale) return stale;
  }
  return checkOverlappingLayers(m, held, index) ?? { outcome: 'ok', rule: index ? 'S12.1' : 'S12.2' };
}

/**
 * ovl_make_workdir: W/work is made anew (ovl_workdir_create empties an old one, and refuses
 * when W/work/incompat holds anything: "overlay with incompat feature 'volatile' cannot be
 * mounted", S14.3); a volatile mount then leaves W/work/incompat/volatile/dirty, which no
 * unmount removes.
 */
function makeWorkdir(d: Draft, m: SeqMount): Verdict | null {
  d.work.add(m.work);
  cover('S15.1a');
  if (d.dirty.has(m.work)) return fail('EINVAL', 'S14.3');
  if (m.volatile) d.dirty.add(m.work);
  return null;
}

/**
 * ovl_get_indexdir: the upper root's P.origin must name the lower, and is set if absent
 * (ovl_verify_origin_fh); then W/index is made (kept if there) and its P.upper must name the
 * upper, and is set if absent (ovl_verify_upper). S12.1.
 */
function getIndexdir(d: Draft, m: SeqMount): Verdict | null {
  const lower = fileHandle(m, m.lower);
  const origin = d.origin.get(xattrKey(m, m.upper));
  if (origin !== undefined && origin !== lower) return fail('ESTALE', 'S12.1'); // "failed to verify upper root origin"
  d.origin.set(xattrKey(m, m.upper), lower);
  const upper = fileHandle(m, m.upper);
  const owner = d.indexOf.get(xattrKey(m, m.work));
  if (owner !== undefined && owner !== upper) return fail('ESTALE', 'S12.1'); // "failed to verify index dir 'upper' xattr"
  d.indexOf.set(xattrKey(m, m.work), upper);
  return null;
}

const USER = 'user:';

/** Where a mount's P.* xattr on dir is kept in the state: with userxattr, apart (S10.3). */
function xattrKey(m: SeqMount, dir: string): string {
  if (m.userxattr) cover('S10.3');
  return m.userxattr ? USER + dir : dir;
}

/** A footprint entry for the P.* xattr name on the dir of a state key ("u0@origin", "u0@user.origin"). */
function xattrItem(key: string, name: string): string {
  return key.startsWith(USER) ? `${key.slice(USER.length)}@user.${name}` : `${key}@${name}`;
}

/**
 * A dir's file handle as a mount stores and compares it (ovl_encode_real_fh): the layer fs's
 * uuid is in it, but null with uuid=off, so a handle stored by a uuid=off mount matches no
 * other mount's, and the other way round (ovl_verify_fh compares the bytes).
 */
function fileHandle(m: SeqMount, dir: string): string {
  return m.uuid === 'off' ? `${dir} (null uuid)` : dir;
}

/**
 * ovl_check_overlapping_layers, after the index dir: the ancestors of the upper, of the
 * workdir, then of the lower (ovl_check_layer, nearest first). A lower below one of this
 * mount's layers is ELOOP ("overlapping lowerdir path", S15.2); a layer below a dir in use by
 * another mount is EBUSY with index=on (S12.2).
 */
function checkOverlappingLayers(m: SeqMount, held: ReadonlySet<string>, index: boolean): Verdict | null {
  const own = new Set([m.upper, m.work].filter((dir) => !held.has(dir)));
  const inUse = (dir: string) => index && (held.has(dir) || own.has(dir));
  for (const layer of [m.upper, m.work]) {
    if (ancestors(layer).some(inUse)) return fail('EBUSY', 'S12.2');
  }
  const traps = new Set([m.upper, m.work, `${m.work}/${index ? 'index' : 'work'}`, m.lower]);
  for (const a of ancestors(m.lower)) {
    if (traps.has(a)) return fail('ELOOP', 'S15.2');
    if (inUse(a)) return fail('EBUSY', 'S12.2');
  }
  return null;
}

const isBelow = (p: string, dir: string) => p.startsWith(`${dir}/`);

/** The dirs above p inside the world, nearest first ("u0/d" -> ["u0"]). */
function ancestors(p: string): string[] {
  const parts = p.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, parts.length - 1 - i).join('/'));
}

// ------------------------------------------------------------------ what the layer dirs hold

/**
 * What the mounts have left in the layer dirs: every name they made ("w1/work", "w1/index")
 * and every P.* xattr ("u0@origin", "w1/index@upper"; with userxattr "u0@user.origin"), sorted. harness/mountWorld.ts reads
 * the same from the kernel's layers.
 */
export function footprint(st: SeqState): string[] {
  const out: string[] = [];
  for (const u of st.origin.keys()) out.push(xattrItem(u, 'origin'));
  for (const u of st.uuid) out.push(xattrItem(u, 'uuid'));
  for (const w of st.work) out.push(`${w}/work`);
  for (const w of st.dirty) out.push(`${w}/work/incompat`, `${w}/work/incompat/volatile`, `${w}/work/incompat/volatile/dirty`);
  for (const k of st.indexOf.keys()) {
    const w = k.startsWith(USER) ? k.slice(USER.length) : k;
    out.push(`${w}/index`, xattrItem(`${k}/index`, 'upper'));
  }
  return [...new Set(out)].sort();
}

/** The catalog item behind one footprint entry. */
export function footprintRule(item: string): string {
  if (item.includes('/work/incompat')) return 'S14.3';
  if (item.endsWith('@origin') || item.includes('/index')) return 'S12.1';
  if (item.endsWith('@uuid')) return 'S8.9';
  return 'S15.1a';
}
