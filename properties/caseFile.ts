// The case file: a JSON document that replays one case anywhere (see README, "Case files", and
// properties/case-format.md, generated from the schema in properties/caseSchema.ts).

import { DEFAULT_PROFILE, namedProfile } from '../model/index.js';
import type { KernelVersion, Op, Outcome, Profile, SnapEntry, StackSpec } from '../model/index.js';
import { caseSchema, kernelTerms, oneLine, show, validate } from './caseSchema.js';

/** Partial facts about one name; null means "must not exist". */
export type EntryExpect = Partial<Pick<SnapEntry, 'kind' | 'mode' | 'data' | 'target' | 'nlink' | 'errno'>> & {
  xattrs?: Record<string, string | null>;
};

export interface Expectation {
  outcome?: Outcome;
  merged?: Record<string, EntryExpect | null>;
  upper?: Record<string, EntryExpect | null>;
  /** What an fd step observed: "/fd<slot>" -> fdstat's entry, or fdread's bytes as data (model/fds.ts). */
  fd?: Record<string, EntryExpect | null>;
}

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
  exp: Expectation | undefined, outcome: Outcome | undefined, views: Map<string, Map<string, SnapEntry>>, side: string,
): string[] {
  if (!exp) return [];
  const out: string[] = [];
  if (exp.outcome !== undefined && outcome !== undefined && exp.outcome !== outcome) {
    out.push(`${side}: outcome ${outcome}, known answer ${exp.outcome}`);
  }
  for (const view of ['merged', 'upper', 'fd'] as const) {
    const snap = views.get(view);
    if (!snap) {
      if (exp[view]) out.push(view === 'fd' ? `${side}: the step observed nothing through an fd` : `${side}: no ${view} view (the mount has no upper layer)`);
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
