// The case file: a JSON document that replays one case anywhere (see README, "Case files", and
// properties/case-format.md, generated from the schema in properties/caseSchema.ts).

import { DEFAULT_PROFILE, namedProfile } from '../model/index.js';
import type { DirReadSpec, Dirent, DType, KernelVersion, Op, Outcome, Profile, SnapEntry, StackSpec } from '../model/index.js';
import { caseSchema, kernelTerms, oneLine, show, validate } from './caseSchema.js';
import { inoHigh } from '../harness/compare.js';

/** Partial facts about one name; null means "must not exist". */
export type EntryExpect = Partial<Pick<SnapEntry, 'kind' | 'mode' | 'uid' | 'gid' | 'data' | 'target' | 'nlink' | 'errno' | 'inoHigh' | 'blocks' | 'mtime'>> & {
  /** The class of st_dev: the merged root's, a layer's own, or another (a pseudo device, S8.2). */
  dev?: DevClass;
  xattrs?: Record<string, string | null>;
};

export type DevClass = 'overlay' | 'pseudo' | 'layer';

/** Path -> expected entry, or null: absent. */
export type ViewExpect = Record<string, EntryExpect | null>;

export interface Expectation {
  outcome?: Outcome;
  merged?: ViewExpect;
  upper?: ViewExpect;
  /** lowers[i] is the view lower<i>, data[i] the view data<i>. */
  lowers?: ViewExpect[];
  data?: ViewExpect[];
  /** Names ("/a", "upper:/a", "lower0:/a") that are one object: same st_dev and st_ino. */
  sameInode?: string[][];
  /** Names no two of which are one object. */
  distinctInode?: string[][];
  /** Names that show the same st_ino number, whatever their st_dev. */
  sameIno?: string[][];
  /** Name -> its st_ino against the point inoSinceStep: "same", "changed", or the st_ino another name showed then. */
  inoSince?: Record<string, string>;
  /** 0: right after the mount (default); N: after step N. */
  inoSinceStep?: number;
  /** Merged dir -> the names a full listing gives ("." and ".." left out), any order. */
  listing?: Record<string, string[]>;
  /** readdir: the entries the step read, any order. */
  read?: { name: string; type?: DType }[];
  /** What an fd step observed: "/fd<slot>" -> fdstat's entry, or fdread's bytes as data (model/fds.ts). */
  fd?: ViewExpect;
}

/**
 * What one side read in a readdir step, for `read`: the entries (an implementation), or what
 * the model says the read may return and what the stream had read before it (the model).
 */
export type ReadSide = { entries: Dirent[] } | { may: DirReadSpec; before: string[] };

export type CaseStep = Op & { expect?: Expectation };

export interface CaseFile {
  ovlcheck: 1;
  name?: string;
  description?: string;
  /** Catalog items the case demonstrates. */
  cites?: string[];
  /**
   * The kernels its known answers hold for: comparisons (">=6.7 <6.16") and behaviours of
   * model/versions.ts ("with:indexedNlinkXattr", "without:escapedXattrs"), all of which must
   * hold; elsewhere the case is not replayed.
   */
  kernels?: string;
  /** A profile name (see `ovlcheck probe`) or explicit effective options; default: the upstream defaults. */
  profile?: string | Partial<Profile>;
  layers: StackSpec;
  /** Expectations right after mount, before any step. */
  expect?: Expectation;
  steps: CaseStep[];
  /** Expectations after the final unmount and mount. */
  expectAfterRemount?: Expectation;
  /** How the case was found: `ovlcheck run --seed S --path P` reproduces it. */
  found?: { seed: number; path: string; kernel: string; date: string; options: string; moduleDefaults?: Record<string, string>; implementation?: string };
  /** The divergence as it was reported when the case was saved (informative). */
  divergence?: unknown;
}

export class CaseError extends Error {}

/**
 * Parse and validate against the format's schema (properties/caseSchema.ts); throws CaseError
 * with one line naming the field and the problem ("case.json: steps[2].flags[0]: unknown open flag ...").
 */
export function parseCase(text: string, source = 'case'): CaseFile {
  const raw = readJson(text, source);
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (typeof kind === 'string' && kind.startsWith('mount-')) {
    throw new CaseError(oneLine(`${source}: "kind": ${show(kind)} is a mount case (properties/mountCase.ts reads those), not a case of layers and steps`));
  }
  const r = validate(caseSchema, raw, source);
  if (!r.ok) throw new CaseError(r.message);
  const c: CaseFile = r.data; // the schema's output is a CaseFile: checked here by the compiler
  return c;
}

/** The terms of a kernels condition, each a test of a kernel version. */
function parseRange(range: string, source: string): ((k: KernelVersion) => boolean)[] {
  try {
    return kernelTerms(range);
  } catch (e) {
    throw new CaseError(oneLine(`${source}: ${(e as Error).message}`));
  }
}

/** The JSON of a case file of any kind (a leading byte-order mark allowed); CaseError if it is not JSON. */
export function readJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (e) {
    throw new CaseError(oneLine(`${source}: not JSON (${(e as Error).message})`));
  }
}

/** null if the case's known answers hold for this kernel, else why it is not replayed there. */
export function outsideKernels(c: Pick<CaseFile, 'kernels'>, k: KernelVersion): string | null {
  if (!c.kernels) return null;
  const holds = parseRange(c.kernels, 'case').every((test) => test(k));
  return holds ? null : `its known answers hold for kernels ${c.kernels}, this one is ${k.join('.')}`;
}

export function profileOf(c: CaseFile): Profile {
  if (typeof c.profile === 'string') {
    try {
      return namedProfile(c.profile);
    } catch (e) {
      throw new CaseError(`profile: ${(e as Error).message}`);
    }
  }
  return { ...DEFAULT_PROFILE, ...(c.profile ?? {}) };
}

type Views = Map<string, Map<string, SnapEntry>>;

/** The views an expectation names, as a session reports them: merged, upper, lower<i>, data<i>. */
function expectedViews(exp: Expectation): [string, ViewExpect][] {
  return [
    ...(['merged', 'upper', 'fd'] as const).flatMap((v): [string, ViewExpect][] => (exp[v] ? [[v, exp[v]]] : [])),
    ...(exp.lowers ?? []).map((v, i): [string, ViewExpect] => [`lower${i}`, v]),
    ...(exp.data ?? []).map((v, i): [string, ViewExpect] => [`data${i}`, v]),
  ];
}

/** "upper:/a" -> ["upper", "/a"]; "/a" -> ["merged", "/a"]. */
export function splitNameRef(ref: string): [string, string] {
  const at = ref.indexOf(':/');
  return at < 0 ? ['merged', ref] : [ref.slice(0, at), ref.slice(at + 1)];
}

/** The st_ino an entry shows, bits 32-63 included (the model names it, with xino's fsid apart). */
function inoOf(e: SnapEntry): string {
  return `${String(e.ino)}#${e.inoHigh ?? 0}`;
}

/** The object an entry is: st_dev and st_ino. */
function objectOf(e: SnapEntry): string {
  return `${String(e.dev)}|${inoOf(e)}`;
}

/** The class of a device: the merged root's (the overlay's), a layer's own fs's, or another (a pseudo device). */
function devClass(dev: SnapEntry['dev'], views: Views): DevClass {
  if (dev === views.get('merged')?.get('/')?.dev) return 'overlay';
  for (const [view, snap] of views) if (view !== 'merged' && snap.get('/')?.dev === dev) return 'layer';
  return 'pseudo';
}

/** Check a known answer against one side's views; returns one line per mismatch. */
export function checkExpectation(
  exp: Expectation | undefined, outcome: Outcome | undefined, views: Views, side: string, earlier?: (step: number) => Views | undefined, read?: ReadSide,
): string[] {
  if (!exp) return [];
  const out: string[] = [];
  if (exp.listing) out.push(...checkListing(exp.listing, views.get('merged'), side));
  if (exp.read) out.push(...checkRead(exp.read, read, side));
  if (exp.outcome !== undefined && outcome !== undefined && exp.outcome !== outcome) {
    out.push(`${side}: outcome ${outcome}, known answer ${exp.outcome}`);
  }
  for (const [view, want] of expectedViews(exp)) {
    const snap = views.get(view);
    if (!snap) {
      // A layer view may be {} to leave that layer unchecked; an upper expectation needs an upper.
      if (view === 'fd') out.push(`${side}: the step observed nothing through an fd`);
      else if (view === 'upper') out.push(`${side}: no upper view (the mount has no upper layer)`);
      else if (Object.keys(want).length > 0) out.push(`${side}: no ${view} view (the stack has no such layer)`);
      continue;
    }
    checkView(view, want, snap, views, `${side}:`, out);
  }
  checkIdentities(exp, views, `${side}:`, out, earlier);
  return out;
}

function checkView(view: string, wants: ViewExpect, snap: Map<string, SnapEntry>, views: Views, side: string, out: string[]): void {
  for (const [path, want] of Object.entries(wants)) {
    const got = snap.get(path);
    if (want === null) {
      if (got) out.push(`${side} ${view} ${path} exists, known answer: absent`);
      continue;
    }
    if (!got) {
      out.push(`${side} ${view} ${path} is absent`);
      continue;
    }
    for (const [k, v] of Object.entries(want)) {
      if (k === 'xattrs') {
        for (const [xn, xv] of Object.entries(v as Record<string, string | null>)) {
          const gv = got.xattrs[xn];
          if (xv === null ? gv !== undefined : gv !== xv && xv !== '*') out.push(`${side} ${view} ${path} xattr ${xn} = ${JSON.stringify(gv)}, known answer ${JSON.stringify(xv)}`);
          if (xv === '*' && gv === undefined) out.push(`${side} ${view} ${path} xattr ${xn} absent, known answer: present`);
        }
        continue;
      }
      if (k === 'blocks' && got.blocks === undefined) continue; // an implementation whose walk does not read st_blocks
      const actual = k === 'dev' ? devClass(got.dev, views) : k === 'inoHigh' ? inoHigh(got) : (got as unknown as Record<string, unknown>)[k];
      if (actual !== v) out.push(`${side} ${view} ${path} ${k} = ${JSON.stringify(actual)}, known answer ${JSON.stringify(v)}`);
    }
  }
}

/** sameInode, distinctInode, sameIno and inoSince. */
function checkIdentities(exp: Expectation, views: Views, side: string, out: string[], earlier?: (step: number) => Views | undefined): void {
  const entryIn = (vs: Views, ref: string, when = ''): SnapEntry | undefined => {
    const [view, path] = splitNameRef(ref);
    const e = vs.get(view)?.get(path);
    if (!e) out.push(`${side} ${ref} is absent${when}, known answer names it`);
    else if (e.kind === 'error') out.push(`${side} ${ref} is listed but its lookup fails (${e.errno})${when}: it has no st_ino`);
    return e?.kind === 'error' ? undefined : e;
  };
  const groups = (list: string[][] | undefined, key: (e: SnapEntry) => string, holds: (keys: string[]) => boolean, what: string, known: string) => {
    for (const group of list ?? []) {
      const entries = group.map((ref) => entryIn(views, ref));
      if (entries.some((e) => e === undefined)) continue;
      const keys = entries.map((e) => key(e!));
      if (!holds(keys)) out.push(`${side} ${group.join(', ')} ${what}, known answer: ${known}`);
    }
  };
  groups(exp.sameInode, objectOf, (k) => new Set(k).size === 1, 'are not all one object (st_dev and st_ino)', 'one object');
  groups(exp.distinctInode, objectOf, (k) => new Set(k).size === k.length, 'include one object twice (st_dev and st_ino)', 'all distinct');
  groups(exp.sameIno, inoOf, (k) => new Set(k).size === 1, 'do not all show one st_ino', 'one st_ino');
  if (!exp.inoSince) return;
  const at = exp.inoSinceStep ?? 0;
  const then = earlier?.(at);
  const point = at === 0 ? 'the mount' : `step ${at}`;
  if (!then) {
    out.push(`${side} no views of ${point} to compare st_ino with`);
    return;
  }
  for (const [ref, how] of Object.entries(exp.inoSince)) {
    const now = entryIn(views, ref);
    const before = entryIn(then, how === 'same' || how === 'changed' ? ref : how, ` after ${point}`);
    if (!now || !before) continue;
    // The model names a number the overlay hands out for one mount "…@<mount>" (S8.2): the
    // kernel may hand out the same one at the next mount, or not; no known answer holds.
    const mounts = [now, before].map((e) => /@(\d+)$/.exec(String(e.ino))?.[1]);
    if (mounts.some((m) => m !== undefined) && mounts[0] !== mounts[1]) {
      out.push(`${side} ${ref} shows an st_ino the overlay hands out for one mount (S8.2): whether it is the same after another mount is not known`);
      continue;
    }
    const same = inoOf(now) === inoOf(before);
    if (how === 'changed' ? same : !same) {
      const was = how === 'same' || how === 'changed' ? 'it' : how;
      out.push(`${side} ${ref} st_ino ${same ? 'is the one' : 'is not the one'} ${was} showed after ${point}, known answer: ${how === 'changed' ? 'changed' : 'the same'}`);
    }
  }
}

/** `listing`: the merged view's names under each dir (the walk lists every dir), exactly. */
function checkListing(listing: Record<string, string[]>, merged: Map<string, SnapEntry> | undefined, side: string): string[] {
  const out: string[] = [];
  for (const [dir, names] of Object.entries(listing)) {
    if (merged?.get(dir)?.kind !== 'dir') {
      out.push(`${side}: listing ${dir}: not a dir in the merged view`);
      continue;
    }
    const prefix = dir === '/' ? '/' : dir + '/';
    const got = [...merged.keys()].filter((p) => p.startsWith(prefix) && p !== '/' && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
    const show = (xs: string[]) => (xs.length ? [...xs].sort().join(' ') : '(none)');
    if (show(got) !== show(names)) out.push(`${side}: listing ${dir} = ${show(got)}, known answer ${show(names)}`);
  }
  return out;
}

/** `read`: the entries a readdir read, as a set; on the model's side, as far as its prediction goes. */
function checkRead(want: { name: string; type?: DType }[], read: ReadSide | undefined, side: string): string[] {
  if (!read) return [`${side}: the step read no entries, known answer: ${want.length} entries`];
  const show = (xs: string[]) => (xs.length ? [...xs].sort().join(' ') : '(none)');
  const out: string[] = [];
  if ('entries' in read) {
    const got = new Map(read.entries.map((e) => [e.name, e.type]));
    if (show(read.entries.map((e) => e.name)) !== show(want.map((e) => e.name))) out.push(`${side}: read ${show(read.entries.map((e) => e.name))}, known answer ${show(want.map((e) => e.name))}`);
    for (const w of want) if (w.type && got.has(w.name) && got.get(w.name) !== w.type) out.push(`${side}: read ${w.name} d_type ${got.get(w.name)}, known answer ${w.type}`);
    return out;
  }
  const had = new Set(read.before);
  const pool = new Map(read.may.pool.filter((e) => !had.has(e.name)).map((e) => [e.name, e.type]));
  const count = Math.min(read.may.n, pool.size);
  if (read.may.exact && want.length !== count) out.push(`${side}: reads ${count} of ${show([...pool.keys()])}, known answer ${show(want.map((e) => e.name))}`);
  for (const w of want) {
    if (!pool.has(w.name)) out.push(`${side}: cannot read ${w.name} (may read ${show([...pool.keys()])})`);
    else if (w.type && pool.get(w.name) !== null && pool.get(w.name) !== w.type) out.push(`${side}: read ${w.name} d_type ${pool.get(w.name)}, known answer ${w.type}`);
  }
  return out;
}
