// The case file: a JSON document that replays one case anywhere (see README, "Case files", and
// properties/case-format.md, generated from the schema in properties/caseSchema.ts).

import { DEFAULT_PROFILE, namedProfile } from '../model/index.js';
import type { DirReadSpec, Dirent, DType, KernelVersion, Op, Outcome, Profile, SnapEntry, StackSpec } from '../model/index.js';
import { caseSchema, kernelTerms, oneLine, show, validate } from './caseSchema.js';

/** Partial facts about one name; null means "must not exist". */
export type EntryExpect = Partial<Pick<SnapEntry, 'kind' | 'mode' | 'data' | 'target' | 'nlink' | 'errno'>> & {
  xattrs?: Record<string, string | null>;
};

export interface Expectation {
  outcome?: Outcome;
  merged?: Record<string, EntryExpect | null>;
  upper?: Record<string, EntryExpect | null>;
  /** Merged dir -> the names a full listing gives ("." and ".." left out), any order. */
  listing?: Record<string, string[]>;
  /** readdir: the entries the step read, any order. */
  read?: { name: string; type?: DType }[];
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
  found?: { seed: number; path: string; kernel: string; date: string; options: string; moduleDefaults?: Record<string, string> };
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

/** Check a known answer against one side's views; returns one line per mismatch. */
export function checkExpectation(
  exp: Expectation | undefined, outcome: Outcome | undefined, views: Map<string, Map<string, SnapEntry>>, side: string, read?: ReadSide,
): string[] {
  if (!exp) return [];
  const out: string[] = [];
  if (exp.listing) out.push(...checkListing(exp.listing, views.get('merged'), side));
  if (exp.read) out.push(...checkRead(exp.read, read, side));
  if (exp.outcome !== undefined && outcome !== undefined && exp.outcome !== outcome) {
    out.push(`${side}: outcome ${outcome}, known answer ${exp.outcome}`);
  }
  for (const view of ['merged', 'upper'] as const) {
    const snap = views.get(view);
    if (!snap) {
      if (exp[view]) out.push(`${side}: no ${view} view (the mount has no upper layer)`);
      continue;
    }
    for (const [path, want] of Object.entries(exp[view] ?? {})) {
      const got = snap.get(path);
      if (want === null) {
        if (got) out.push(`${side}: ${view} ${path} exists, known answer: absent`);
        continue;
      }
      if (!got) {
        out.push(`${side}: ${view} ${path} is absent`);
        continue;
      }
      for (const [k, v] of Object.entries(want)) {
        if (k === 'xattrs') {
          for (const [xn, xv] of Object.entries(v as Record<string, string | null>)) {
            const gv = got.xattrs[xn];
            if (xv === null ? gv !== undefined : gv !== xv && xv !== '*') out.push(`${side}: ${view} ${path} xattr ${xn} = ${JSON.stringify(gv)}, known answer ${JSON.stringify(xv)}`);
            if (xv === '*' && gv === undefined) out.push(`${side}: ${view} ${path} xattr ${xn} absent, known answer: present`);
          }
        } else if ((got as unknown as Record<string, unknown>)[k] !== v) {
          out.push(`${side}: ${view} ${path} ${k} = ${JSON.stringify((got as unknown as Record<string, unknown>)[k])}, known answer ${JSON.stringify(v)}`);
        }
      }
    }
  }
  return out;
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
