// The case file: a JSON document that replays one case anywhere (see README, "Case files").

import { DEFAULT_PROFILE, namedProfile } from '../model/index.js';
import type { EntrySpec, LayerSpec, Op, Outcome, Profile, SnapEntry, StackSpec } from '../model/index.js';

/** Partial facts about one name; null means "must not exist". */
export type EntryExpect = Partial<Pick<SnapEntry, 'kind' | 'mode' | 'data' | 'target' | 'nlink'>> & {
  xattrs?: Record<string, string | null>;
};

export interface Expectation {
  outcome?: Outcome;
  merged?: Record<string, EntryExpect | null>;
  upper?: Record<string, EntryExpect | null>;
}

export type CaseStep = Op & { expect?: Expectation };

export interface CaseFile {
  ovlcheck: 1;
  name?: string;
  description?: string;
  /** Catalog items the case demonstrates. */
  cites?: string[];
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

const OPS: Record<string, string[]> = {
  open: ['path', 'flags'], truncate: ['path', 'size'], unlink: ['path'], mkdir: ['path', 'mode'], rmdir: ['path'],
  rename: ['src', 'dst'], symlink: ['target', 'path'], link: ['src', 'dst'], chmod: ['path', 'mode'],
  mknod: ['path', 'kind', 'mode'], setxattr: ['path', 'name', 'value'], removexattr: ['path', 'name'], remount: [], rotate: [],
};
const ENTRY_TYPES = new Set(['dir', 'file', 'symlink', 'link', 'whiteout', 'fifo']);

/** Parse and validate; throws CaseError with a one-line reason. */
export function parseCase(text: string, source = 'case'): CaseFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CaseError(`${source}: not JSON (${(e as Error).message})`);
  }
  const c = raw as CaseFile;
  if (!c || typeof c !== 'object' || c.ovlcheck !== 1) throw new CaseError(`${source}: "ovlcheck": 1 is missing`);
  if (!c.layers || !Array.isArray(c.layers.lowers) || c.layers.lowers.length < 1) {
    throw new CaseError(`${source}: layers.lowers must list at least one layer`);
  }
  c.layers.upper ??= {};
  c.layers.lowers.forEach((l, i) => checkLayer(l, `${source}: layers.lowers[${i}]`));
  checkLayer(c.layers.upper, `${source}: layers.upper`);
  if (c.layers.data !== undefined) {
    if (!Array.isArray(c.layers.data)) throw new CaseError(`${source}: layers.data must list data-only layers`);
    c.layers.data.forEach((l, i) => checkLayer(l, `${source}: layers.data[${i}]`));
  }
  if (!Array.isArray(c.steps)) throw new CaseError(`${source}: steps must be an array`);
  c.steps.forEach((s, i) => checkOp(s, `${source}: steps[${i}]`));
  return c;
}

function checkLayer(layer: LayerSpec, where: string): void {
  if (!layer || typeof layer !== 'object') throw new CaseError(`${where}: must be an object of path -> entry`);
  for (const [path, e] of Object.entries(layer)) {
    checkPath(path, `${where}["${path}"]`);
    if (path === '/') throw new CaseError(`${where}: the layer root cannot be an entry`);
    const entry = e as EntrySpec;
    if (!entry || !ENTRY_TYPES.has(entry.type)) throw new CaseError(`${where}["${path}"]: unknown type ${JSON.stringify(entry?.type)}`);
    if (entry.type === 'symlink') checkTarget(entry.target, `${where}["${path}"].target`);
    if (entry.type === 'link') checkPath(entry.to, `${where}["${path}"].to`);
  }
}

function checkOp(op: Op, where: string): void {
  const need = OPS[op?.op];
  if (!need) throw new CaseError(`${where}: unknown op ${JSON.stringify(op?.op)}`);
  for (const k of need) {
    if (!(k in op)) throw new CaseError(`${where}: ${op.op} needs "${k}"`);
  }
  for (const k of ['path', 'src', 'dst'] as const) if (k in op) checkPath((op as Record<string, string>)[k], `${where}.${k}`);
  if (op.op === 'symlink') checkTarget(op.target, `${where}.target`);
}

function checkPath(p: unknown, where: string): void {
  if (typeof p !== 'string' || !p.startsWith('/')) throw new CaseError(`${where}: a path must be a string starting with "/"`);
  if (p.split('/').includes('..')) throw new CaseError(`${where}: ".." is not allowed in paths`);
}

/** Symlink targets stay inside the mount: relative, without "..". */
function checkTarget(t: unknown, where: string): void {
  if (typeof t !== 'string' || t === '' || t.startsWith('/') || t.split('/').includes('..')) {
    throw new CaseError(`${where}: a symlink target must be a relative path without ".." (it must not leave the mount)`);
  }
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
