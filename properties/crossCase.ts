// The cross case file: one case of the cross-implementation property (properties/crossUpper.ts)
// that replays anywhere both implementations run (`ovlcheck replay FILE`): the layers and steps
// go through `from`, the upper it wrote is mounted by `to` over the same lowers, and the two
// merged views are compared as `ovlcheck cross` compares them. What `cross` saves when it
// diverges. Layers and steps are those of ordinary case files (properties/caseSchema.ts);
// the other case files are caseFile.ts's and mountCase.ts's.

import { z } from 'zod';
import type { Op, StackSpec } from '../model/index.js';
import type { Difference } from '../harness/compare.js';
import { formatDifference } from '../harness/compare.js';
import { makeDriver, probeDriver, type DriverName } from '../harness/drivers/index.js';
import { implementationVersion } from '../harness/drivers/versions.js';
import type { Sandbox } from '../harness/sandbox.js';
import { CaseError, readJson } from './caseFile.js';
import { checkCase, Layers, show, Step, validate } from './caseSchema.js';
import { crossCase, formatCrossFailure, type CrossFailure } from './crossUpper.js';

/** The implementations `ovlcheck cross` moves an upper between. */
export const CROSS_IMPLEMENTATIONS = ['kernel', 'fuse-overlayfs', 'unionfs-fuse'] as const satisfies readonly DriverName[];
export type CrossImplementation = (typeof CROSS_IMPLEMENTATIONS)[number];

// ------------------------------------------------------------------ the format

const Implementation = z.enum(CROSS_IMPLEMENTATIONS, { error: (iss) => (iss.input === undefined ? 'missing' : undefined) })
  .describe(`An implementation: ${CROSS_IMPLEMENTATIONS.join(', ')} (as \`ovlcheck cross --from/--to\` names them).`)
  .meta({ id: 'CrossImplementation', title: 'Implementation' });

const Found = z.strictObject({
  seed: z.int().describe('The run\'s --seed.'),
  path: z.string().describe('fast-check\'s counterexample path: `ovlcheck cross --from F --to T --seed S` finds the case again.'),
  kernel: z.string().describe('uname -r of the kernel it was found on.'),
  date: z.string().describe('When it was saved (ISO 8601).'),
  fromVersion: z.string().describe('The writing implementation and its version then ("fuse-overlayfs 1.13-1").'),
  toVersion: z.string().describe('The mounting implementation and its version then.'),
}).describe('How the case was found (informative).').meta({ id: 'CrossFound', title: 'Found' });

const lines = (what: string) => z.array(z.string()).describe(what);

const Divergence = z.strictObject({
  signature: z.string().describe('The kind of divergence, in one line, without the generated names: replay says whether it is the same.'),
  outcomes: lines('What each step gave through `from`, in order ("ok" or an errno name).').optional(),
  differences: lines('The merged view under `to` against the one `from` showed (expected), one line per difference.').optional(),
  formatDifferences: lines('The upper `from` wrote, as `from` reads it (expected) and as `to` reads it (actual), one line per difference; empty: they read it alike.').optional(),
  text: z.string().describe('The divergence as printed.'),
}).describe('The divergence as it was reported when the case was saved (informative, not checked).').meta({ id: 'CrossDivergence', title: 'Divergence' });

/** What the format says about itself beyond field by field: for the documentation. */
export const CROSS_RULES: readonly string[] = [
  'Layers and steps are those of ordinary case files, mounted with the default profile: no data-only layers (`layers.data`), and the same bounds on paths, names, data and the whole case.',
  'No `remount` or `rotate` steps, and no `expect` on a step: the upper moves from one implementation to the other once, after the last step, and what is compared is the two merged views.',
  '`from` and `to` are two different implementations.',
];

/** Rules across the case: those of ordinary cases (its bounds), and what a cross case does not hold. */
function checkCrossCase(c: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message, input: undefined });
  if (typeof c.from === 'string' && c.from === c.to) return issue(['to'], `${show(c.to)}, as "from": a cross case moves an upper between two implementations`);
  const layers = c.layers as Record<string, unknown> | undefined;
  if (Array.isArray(layers?.data) && layers.data.some((l) => l !== null && typeof l === 'object' && Object.keys(l).length > 0)) {
    return issue(['layers', 'data'], 'a cross case mounts the default profile, which has no data-only layers: leave data out');
  }
  if (Array.isArray(c.steps)) {
    for (const [i, s] of (c.steps as unknown[]).entries()) {
      if (s === null || typeof s !== 'object') continue;
      const step = s as Record<string, unknown>;
      if (step.op === 'remount' || step.op === 'rotate') {
        return issue(['steps', i, 'op'], `${show(step.op)} has no place in a cross case: the upper moves between the implementations once, after the last step`);
      }
      if (step.expect !== undefined) return issue(['steps', i, 'expect'], 'a cross case has no known answers: what it compares is the two merged views');
    }
  }
  checkCase(c, ctx);
}

export const crossCaseSchema = z.strictObject({
  ovlcheck: z.literal(1).describe('The format version: 1.'),
  kind: z.literal('cross').describe('A case of the cross-implementation property (`ovlcheck cross`).'),
  $schema: z.string().optional().describe('For editors: the JSON Schema of the format ("cross-case.schema.json"); ignored.'),
  from: Implementation.describe('The implementation the layers are mounted with and the steps go through: it writes the upper.'),
  to: Implementation.describe('The implementation that mounts the upper `from` wrote, over the same lowers.'),
  name: z.string().optional().describe('A one-line title.'),
  description: z.string().optional().describe('What the case shows, and why.'),
  layers: Layers,
  steps: z.array(Step).describe('The operations through `from`, in order; no remount, rotate or expect.'),
  found: Found.optional(),
  divergence: Divergence.optional(),
})
  .superRefine((c, ctx) => checkCrossCase(c, ctx))
  .meta({ title: 'ovlcheck cross case file' })
  .describe('A JSON document that replays one case of the cross-implementation property: an upper written through `from`, mounted by `to` over the same lowers, must show the merged view `from` showed.');

/** A cross case, as parseCrossCase gives it. */
export interface CrossCase {
  ovlcheck: 1;
  kind: 'cross';
  $schema?: string;
  from: CrossImplementation;
  to: CrossImplementation;
  name?: string;
  description?: string;
  layers: StackSpec;
  steps: Op[];
  found?: { seed: number; path: string; kernel: string; date: string; fromVersion: string; toVersion: string };
  divergence?: { signature: string; outcomes?: string[]; differences?: string[]; formatDifferences?: string[]; text: string };
}

/** Whether a parsed JSON document is a cross case (by its kind), not one of caseFile.ts's or mountCase.ts's. */
export function isCrossCase(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && (raw as { kind?: unknown }).kind === 'cross';
}

/** Parse and validate; throws CaseError with one line of at most 200 characters ("x.json: steps[2].op: ..."). */
export function parseCrossCase(text: string, source = 'case'): CrossCase {
  const r = validate(crossCaseSchema, readJson(text, source), source);
  if (!r.ok) throw new CaseError(r.message);
  const c: CrossCase = r.data; // the schema's output is a CrossCase: checked here by the compiler
  return c;
}

// ------------------------------------------------------------------ signature

/** The kind of entry a difference's description names ("file 0644 ..." -> "file"). */
const kindOf = (described: unknown): string => (typeof described === 'string' ? described.split(' ')[0] : 'entry');

/** One difference without the names the generator chose; an implementation's own names (".wh..wh..opq") stay. */
function differenceShape(d: Difference): string {
  const name = d.path.split('/').pop() ?? '';
  const own = name.startsWith('.') ? ` ${name}` : ''; // generated names never start with "."
  if (d.what === 'missing') return `missing ${kindOf(d.expected)}${own}`;
  if (d.what === 'unexpected') return `unexpected ${kindOf(d.actual)}${own}`;
  if (d.what === 'kind') return `kind ${String(d.expected)} -> ${String(d.actual)}${own}`;
  // Which user xattr is the generator's choice; private ones say what is misread.
  const what = /^xattr user\.(?!overlay\.|fuseoverlayfs\.)/.test(d.what) ? 'xattr user.*' : d.what;
  return `${what}${own}`;
}

/** A cross divergence's signature: which implementations, and what went differently, without the generated names. */
export function crossSignature(f: CrossFailure, from: string, to: string): string {
  const shapes = [...new Set(f.differences.map(differenceShape))].sort();
  return `cross ${from} -> ${to}: ${shapes.join('; ')} (${f.formatDifferences.length ? 'the formats differ' : 'the formats read alike'})`;
}

// ------------------------------------------------------------------ from a failure

export interface CrossFound {
  from: DriverName;
  to: DriverName;
  seed: number;
  path?: string;
  /** uname -r. */
  kernelRelease: string;
  date: string;
}

function crossImplementation(name: DriverName): CrossImplementation {
  if (!(CROSS_IMPLEMENTATIONS as readonly string[]).includes(name)) throw new Error(`crossFailureCase: ${name} is not an implementation of cross (${CROSS_IMPLEMENTATIONS.join(', ')})`);
  return name as CrossImplementation;
}

/** The case file of a cross-implementation divergence, as `ovlcheck cross` found it. */
export function crossFailureCase(f: CrossFailure, at: CrossFound): CrossCase {
  const [from, to] = [crossImplementation(at.from), crossImplementation(at.to)];
  const [fromVersion, toVersion] = [implementationVersion(from), implementationVersion(to)];
  const text = formatCrossFailure(f, { writer: from, reader: to, seed: at.seed, path: at.path });
  return {
    ovlcheck: 1, kind: 'cross', from, to,
    name: `cross ${from} -> ${to}: ${f.differences.length} difference${f.differences.length === 1 ? '' : 's'} after ${f.steps.length} step${f.steps.length === 1 ? '' : 's'}`,
    description: `Found by ovlcheck cross on ${at.kernelRelease}: an upper written by ${fromVersion}, mounted by ${toVersion} over the same lowers, shows another merged view.`,
    layers: structuredClone(f.stack),
    steps: structuredClone(f.steps),
    found: { seed: at.seed, path: at.path ?? '', kernel: at.kernelRelease, date: at.date, fromVersion, toVersion },
    divergence: {
      signature: crossSignature(f, from, to),
      outcomes: [...f.outcomes],
      differences: f.differences.map(formatDifference),
      formatDifferences: f.formatDifferences.map(formatDifference),
      text,
    },
  };
}

// ------------------------------------------------------------------ replay

export interface CrossReplay {
  /** The divergence, formatted as `ovlcheck cross` prints it. */
  divergence?: string;
  signature?: string;
  /** Not replayed: why (an implementation this machine cannot run, or the two differ before any step). */
  skipped?: string;
}

/**
 * Replays a cross case: the layers and steps through `from`, its upper mounted by `to`; reports
 * as `ovlcheck cross` does. Drivers are made in sandbox and torn down.
 */
export async function replayCrossCase(c: CrossCase, sandbox: Sandbox): Promise<CrossReplay> {
  for (const name of [c.from, c.to]) {
    const why = probeDriver(name);
    if (why) return { skipped: `${name} cannot run here: ${why}` };
  }
  const writer = makeDriver(c.from, sandbox);
  const reader = makeDriver(c.to, sandbox);
  try {
    const steps = c.steps.map((s) => {
      const { expect: _expect, ...op } = s as Op & { expect?: unknown }; // refused by the schema; a case built in code may hold one
      return op as Op;
    });
    const f = await crossCase({ writer, reader }, structuredClone(c.layers), steps);
    if (f === 'skip') return { skipped: `${c.from} and ${c.to} show the initial stack differently already (a difference in behaviour, which ovlcheck compare reports)` };
    if (!f) return {};
    return {
      divergence: formatCrossFailure(f, { writer: c.from, reader: c.to, seed: c.found?.seed ?? 'replay', path: c.found?.path }),
      signature: crossSignature(f, c.from, c.to),
    };
  } finally {
    await writer.teardown();
    await reader.teardown();
  }
}
