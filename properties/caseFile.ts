// The case file: a JSON document that replays one case anywhere (see README, "Case files").

import { BEHAVIOURS, DEFAULT_PROFILE, hasFeature, namedProfile, type Behaviour } from '../model/index.js';
import type { EntrySpec, KernelVersion, LayerSpec, Op, Outcome, Profile, SnapEntry, StackSpec } from '../model/index.js';

/** Partial facts about one name; null means "must not exist". */
export type EntryExpect = Partial<Pick<SnapEntry, 'kind' | 'mode' | 'data' | 'target' | 'nlink' | 'errno'>> & {
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
  if (c.kernels !== undefined) {
    if (typeof c.kernels !== 'string') throw new CaseError(`${source}: kernels must be a string such as ">=6.7 <6.16"`);
    parseRange(c.kernels, source);
  }
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
  if (op.op === 'symlink' && op.target !== '') checkTarget(op.target, `${where}.target`); // "" is ENOENT: a step may try it
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

/** The terms of a kernels condition, each a test of a kernel version. */
function parseRange(range: string, source: string): ((k: KernelVersion) => boolean)[] {
  const cmp = (a: KernelVersion, b: KernelVersion) => a[0] - b[0] || a[1] - b[1] || (a[2] ?? 0) - (b[2] ?? 0);
  return range.trim().split(/\s+/).map((part) => {
    const b = /^(with|without):(\w+)$/.exec(part);
    if (b) {
      if (!(b[2] in BEHAVIOURS)) throw new CaseError(`${source}: kernels: "${b[2]}" is not a behaviour of model/versions.ts (${Object.keys(BEHAVIOURS).join(', ')})`);
      return (k) => hasFeature(k, b[2] as Behaviour) === (b[1] === 'with');
    }
    const m = /^(>=|<=|>|<|=)(\d+)\.(\d+)(?:\.(\d+))?$/.exec(part);
    if (!m) throw new CaseError(`${source}: kernels: "${part}" is not a comparison such as >=6.7 or <6.16.3, nor with:BEHAVIOUR`);
    const v: KernelVersion = [Number(m[2]), Number(m[3]), Number(m[4] ?? 0)];
    const op = m[1];
    return (k) => {
      const d = cmp(k, v);
      return op === '>=' ? d >= 0 : op === '<=' ? d <= 0 : op === '>' ? d > 0 : op === '<' ? d < 0 : d === 0;
    };
  });
}

/** null if the case's known answers hold for this kernel, else why it is not replayed there. */
export function outsideKernels(c: CaseFile, k: KernelVersion): string | null {
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
