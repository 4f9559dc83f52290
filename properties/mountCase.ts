// The mount case file: one mount request, or one sequence of mounts and unmounts, that
// replays anywhere (`ovlcheck replay FILE`), with its known answers. What the two mount
// properties (properties/mountValidation.ts) save when they diverge, and the form of the
// regression cases properties/cases/mount-*.json. The other case files are caseFile.ts's.

import { z } from 'zod';
import { emptySequence, footprint, MOUNT_POINTS, stepSequence, type SeqAction, type StepSequence } from '../model/mountSequence.js';
import { predictMount, unescape } from '../model/mountCheck.js';
import type { KernelVersion } from '../model/types.js';
import { buildWorld, closeWorld, SEQUENCE_DIRS, validationWorld } from '../harness/mountWorld.js';
import { kernelOf, type Sys } from '../harness/sys.js';
import { CaseError, outsideKernels, readJson } from './caseFile.js';
import { oneLine, validate } from './caseSchema.js';
import {
  checkRequest, formatMountFailure, formatSequenceFailure, mountSignature, runSequence, sequenceSignature,
  type MountFailure, type SequenceFailure,
} from './mountValidation.js';

// ------------------------------------------------------------------ the format

const outcome = z.string().regex(/^(ok|E[A-Z0-9]+)$/, 'an outcome is "ok" or an errno name such as "ESTALE"');
const dir = z.enum(SEQUENCE_DIRS as [string, ...string[]]);

/** Paths stay inside the world: relative, without "..", whatever the escapes (S1.8). */
const worldPath = z.string().refine((p) => unescape(p).split(':').every((x) => !x.startsWith('/') && !x.split('/').includes('..')), {
  message: 'a path is relative to the world and has no ".." (it must not leave the sandbox)',
});
const PATH_KEYS = new Set(['lowerdir', 'lowerdir+', 'upperdir', 'workdir', 'datadir+']);
const option = z.string().refine((o) => o.split(',').every((kv) => !PATH_KEYS.has(kv.split('=')[0])), {
  message: 'layers are named by lowers/upper/work, not in options',
});

const observed = z.strictObject({
  model: outcome.describe('What the model predicted.'),
  kernel: outcome.describe('What mount(2) returned.'),
  rule: z.string().describe('The catalog item of the model\'s prediction.'),
}).describe('What the model and the kernel gave when the case was saved (informative, not checked).');

const mountStep = z.strictObject({
  do: z.literal('mount').describe('mount(2) of lowerdir=LOWER,upperdir=UPPER,workdir=WORK (and the options below) at the first free mount point m0..m2.'),
  lower: dir.describe('The lower layer.'),
  upper: z.enum(['u0', 'u1', 'u0/d']).describe('The upper layer.'),
  work: z.enum(['w0', 'w1', 'u1/w']).describe('The workdir.'),
  index: z.boolean().optional().describe('index=on (default: not given, which is off here).'),
  volatile: z.boolean().optional().describe('volatile (default: not given).'),
  userxattr: z.boolean().optional().describe('userxattr: P is user.overlay. (default: not given).'),
  uuid: z.enum(['on', 'off', 'null', 'auto']).optional().describe('uuid=VALUE (default: not given; null and auto came in 6.6).'),
  expect: outcome.optional().describe('Known answer: what mount(2) returns ("ok" or an errno name).'),
  leaves: z.record(z.string().min(1), z.boolean()).optional().describe(
    'Known answer: what the layer dirs hold after this step; a name made by a mount ("w1/work/incompat/volatile/dirty") or a P.* xattr ("u0@origin", "w1/index@upper"; user.overlay.* as "u0@user.origin") that is there (true) or not (false). Others are not checked.',
  ),
  observed: observed.optional(),
});

const umountStep = z.strictObject({
  do: z.literal('umount').describe('umount(2) of a live mount.'),
  at: z.number().int().min(0).max(MOUNT_POINTS - 1).describe('Its mount point: 0 for m0.'),
});

const found = z.strictObject({
  seed: z.number().int().describe('The --seed it was found with.'),
  path: z.string().describe('fast-check\'s counterexample path.'),
  kernel: z.string().describe('uname -r of the kernel it was found on.'),
  date: z.string().describe('When it was saved (ISO 8601).'),
}).describe('How the case was found: `ovlcheck run --seed SEED` finds it again.');

const divergence = z.strictObject({
  step: z.number().int().min(1).optional().describe('The step (from 1) where kernel and model differ.'),
  field: z.enum(['outcome', 'layers']).describe('What differs: the errno of mount(2), or what the layer dirs hold after it.'),
  expected: z.string().describe('The model\'s answer.'),
  actual: z.string().describe('The kernel\'s answer.'),
  rule: z.string().describe('The catalog items of the model\'s answer.'),
  missing: z.array(z.string()).optional().describe('field layers: what the model has that the kernel\'s layers lack.'),
  unexpected: z.array(z.string()).optional().describe('field layers: what the kernel\'s layers have that the model lacks.'),
  signature: z.string().describe('The kind of divergence, in one line.'),
  text: z.string().describe('The divergence as printed.'),
}).describe('The divergence as it was reported when the case was saved (informative).');

const common = {
  ovlcheck: z.literal(1).describe('The case-file format version.'),
  name: z.string().optional().describe('A short title.'),
  description: z.string().optional().describe('What the case shows and why the known answers are right.'),
  cites: z.array(z.string().regex(/^S\d+\.\d+[a-z]?$/, 'a catalog item such as "S12.1"')).optional().describe('Catalog items the case demonstrates.'),
  kernels: z.string().optional().describe(
    'The kernels its known answers hold for: comparisons (">=6.6 <6.16") and behaviours of model/versions.ts ("with:uuidAutoNull"), all of which must hold; elsewhere the case is not replayed.',
  ),
  found: found.optional(),
  divergence: divergence.optional(),
};

const sequenceCase = z.strictObject({
  kind: z.literal('mount-sequence').describe(`Mounts and unmounts over dirs ${SEQUENCE_DIRS.join(' ')} of a fresh tmpfs, mount points m0..m2.`),
  ...common,
  steps: z.array(z.discriminatedUnion('do', [mountStep, umountStep])).min(1).describe('In order; every mount stays until unmounted.'),
});

const requestCase = z.strictObject({
  kind: z.literal('mount-request').describe('One mount(2) in the mount-time validation world, unmounted at once if it succeeds.'),
  ...common,
  request: z.strictObject({
    lowers: z.array(worldPath).max(600).describe('lowerdir= entries in order, relative to the world, with backslash escapes as typed ("c\\\\:1").'),
    separator: z.enum(['leading', 'trailing', 'triple']).optional().describe('A fault in the separators of lowerdir= (S1.8).'),
    upper: worldPath.optional().describe('upperdir=, relative to the world.'),
    work: worldPath.optional().describe('workdir=, relative to the world.'),
    options: z.array(option).describe('Further options, e.g. "metacopy=on", "bogus=1".'),
  }).describe('The mount request (model/mountCheck.ts MountRequest); the world: dirs l0 l1 l2 l3 l0/sub u u/sub w w2 "c:1" m0..m500, file "file", a second tmpfs at "other".'),
  expect: outcome.optional().describe('Known answer: what mount(2) returns.'),
});

export const mountCaseSchema = z.discriminatedUnion('kind', [sequenceCase, requestCase]).describe('An ovlcheck mount case file.');

export type MountCase = z.infer<typeof mountCaseSchema>;
export type SequenceCase = z.infer<typeof sequenceCase>;
export type RequestCase = z.infer<typeof requestCase>;
type CaseStep = SequenceCase['steps'][number];

const KINDS = new Set(['mount-sequence', 'mount-request']);

/** Whether a parsed JSON document is a mount case (by its kind), not one of caseFile.ts's. */
export function isMountCase(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && KINDS.has((raw as { kind?: unknown }).kind as string);
}

/** Parse and validate; throws CaseError with a one-line reason of at most 200 characters. */
export function parseMountCase(text: string, source = 'case'): MountCase {
  const r = validate(mountCaseSchema, readJson(text, source), source);
  if (!r.ok) throw new CaseError(r.message);
  if (r.data.kernels !== undefined) {
    try {
      mountCaseRefusal(r.data, [0, 0, 0]);
    } catch (e) {
      if (e instanceof CaseError) throw caseError(`${source}: ${e.message.replace(/^case: /, '')}`);
      throw e;
    }
  }
  return r.data;
}

function caseError(line: string): CaseError {
  return new CaseError(oneLine(line));
}

/** null if the case's known answers hold for this kernel, else why it is not replayed there. */
export function mountCaseRefusal(c: MountCase, k: KernelVersion): string | null {
  if (c.kernels === undefined) return null;
  // caseFile.ts reads only "kernels" of the case it is given.
  return outsideKernels(c, k);
}

// ------------------------------------------------------------------ from a failure

export interface Found {
  seed: number;
  path?: string;
  /** uname -r. */
  kernel: string;
  date: string;
}

/** The case file of a mount-time validation divergence. */
export function mountFailureCase(f: MountFailure, at: Found): RequestCase {
  const text = formatMountFailure(f, at.seed, at.path);
  return {
    kind: 'mount-request', ovlcheck: 1,
    name: `mount-time validation: expected ${f.expected} actual ${f.actual}`,
    description: `Found by ovlcheck run on ${at.kernel}: mount -o '${f.options.slice(0, 300)}' gave ${f.actual}, the model ${f.expected} [${f.rule}].`,
    cites: citesOf(f.rule),
    request: f.request,
    found: { seed: at.seed, path: at.path ?? '', kernel: at.kernel, date: at.date },
    divergence: { field: 'outcome', expected: f.expected, actual: f.actual, rule: f.rule, signature: mountSignature(f), text },
  };
}

/** The case file of a mount-sequence divergence: every step it ran, with what each gave. */
export function sequenceFailureCase(f: SequenceFailure, at: Found): SequenceCase {
  const text = formatSequenceFailure(f, at.seed, at.path);
  const steps: CaseStep[] = f.trace.map((t) => {
    if (t.action.do === 'umount') return { do: 'umount', at: t.at };
    const { lower, upper, work, index, volatile, userxattr, uuid } = t.action;
    const agreed = t.expected === t.actual;
    return {
      do: 'mount', lower, upper: upper as 'u0', work: work as 'w0', ...(index ? { index } : {}), ...(volatile ? { volatile } : {}), ...(userxattr ? { userxattr } : {}), ...(uuid ? { uuid } : {}),
      ...(agreed ? { expect: t.actual } : {}), observed: { model: t.expected, kernel: t.actual, rule: t.rule },
    };
  });
  return {
    kind: 'mount-sequence', ovlcheck: 1,
    name: f.field === 'outcome' ? `mount sequence: expected ${f.expected} actual ${f.actual}` : `mount sequence: layers differ after step ${f.trace.length}`,
    description: `Found by ovlcheck run on ${at.kernel}; the known answers are the steps on which the kernel and the model agreed.`,
    cites: citesOf(f.rule),
    steps,
    found: { seed: at.seed, path: at.path ?? '', kernel: at.kernel, date: at.date },
    divergence: {
      step: f.trace.length, field: f.field, expected: f.expected, actual: f.actual, rule: f.rule,
      ...(f.missing ? { missing: f.missing, unexpected: f.unexpected ?? [] } : {}), signature: sequenceSignature(f), text,
    },
  };
}

function citesOf(rule: string): string[] | undefined {
  const ids = rule.split(/\s+/).filter((r) => /^S\d+\.\d+[a-z]?$/.test(r));
  return ids.length ? ids : undefined;
}

// ------------------------------------------------------------------ replay

export interface MountReplay {
  /** The divergence, formatted as the property prints it. */
  divergence?: string;
  /** Known answers that the kernel or the model did not give. */
  knownAnswerErrors: string[];
  signature?: string;
  /** Not replayed on this kernel: why. */
  skipped?: string;
}

export interface MountReplayOptions {
  /** The models under test (as the properties take them). */
  predict?: typeof predictMount;
  step?: StepSequence;
}

/** Replays a mount case on the kernel sys reaches, against the model at that kernel's version. */
export async function replayMountCase(c: MountCase, sys: Sys, o: MountReplayOptions = {}): Promise<MountReplay> {
  const kernel = kernelOf(sys);
  const why = mountCaseRefusal(c, kernel);
  if (why) return { knownAnswerErrors: [], skipped: why };
  await new Promise<void>((resolve) => setImmediate(resolve));
  return c.kind === 'mount-request' ? replayRequest(c, sys, kernel, o.predict) : replaySequence(c, sys, kernel, o.step ?? stepSequence);
}

function replayRequest(c: RequestCase, sys: Sys, kernel: KernelVersion, predict = predictMount): MountReplay {
  const w = buildWorld(sys);
  try {
    const predicted = predict(w.world, c.request, kernel).outcome;
    const r = checkRequest(sys, w, c.request, kernel, predict);
    const errors = c.expect === undefined ? [] : [
      ...(predicted !== c.expect ? [`model: outcome ${predicted}, known answer ${c.expect}`] : []),
      ...(r.actual !== c.expect ? [`kernel: outcome ${r.actual}, known answer ${c.expect}`] : []),
    ];
    if (!r.failure) return { knownAnswerErrors: errors };
    return { divergence: formatMountFailure(r.failure, c.found?.seed ?? 'replay', c.found?.path), knownAnswerErrors: errors, signature: mountSignature(r.failure) };
  } finally {
    closeWorld(sys, w);
  }
}

function replaySequence(c: SequenceCase, sys: Sys, kernel: KernelVersion, step: StepSequence): MountReplay {
  const r = runSequence(sys, actionsOf(c.steps), kernel, step, idleStep);
  const errors: string[] = [];
  r.trace.forEach((t, i) => {
    const s = c.steps[i];
    if (s.do !== 'mount') return;
    const where = `step ${i + 1}`;
    if (s.expect !== undefined) {
      if (t.expected !== s.expect) errors.push(`${where} model: outcome ${t.expected}, known answer ${s.expect}`);
      if (t.actual !== s.expect) errors.push(`${where} kernel: outcome ${t.actual}, known answer ${s.expect}`);
    }
    for (const [item, there] of Object.entries(s.leaves ?? {})) {
      for (const [side, has] of [['model', t.modelLeaves], ['kernel', t.leaves]] as const) {
        if (has && has.includes(item) !== there) errors.push(`${where} ${side}: ${item} ${there ? 'absent' : 'present'}, known answer: ${there ? 'present' : 'absent'}`);
      }
    }
  });
  if (!r.failure) return { knownAnswerErrors: errors };
  return { divergence: formatSequenceFailure(r.failure, c.found?.seed ?? 'replay', c.found?.path), knownAnswerErrors: errors, signature: sequenceSignature(r.failure) };
}

/**
 * The known answers on the model alone, at a kernel version (no kernel needed): one line per
 * answer the model does not give.
 */
export function modelKnownAnswerErrors(c: MountCase, kernel: KernelVersion): string[] {
  if (c.kind === 'mount-request') {
    const predicted = predictMount(validationWorld(), c.request, kernel).outcome;
    return c.expect !== undefined && predicted !== c.expect ? [`model: outcome ${predicted}, known answer ${c.expect}`] : [];
  }
  const errors: string[] = [];
  let st = emptySequence();
  for (const [i, a] of actionsOf(c.steps).entries()) {
    const next = stepSequence(st, a, kernel);
    if (next.at === null) idleStep(i, a);
    const s = c.steps[i];
    st = next.state;
    if (s.do !== 'mount') continue;
    if (s.expect !== undefined && next.outcome !== s.expect) errors.push(`step ${i + 1} model: outcome ${next.outcome}, known answer ${s.expect}`);
    const leaves = footprint(st);
    for (const [item, there] of Object.entries(s.leaves ?? {})) {
      if (leaves.includes(item) !== there) errors.push(`step ${i + 1} model: ${item} ${there ? 'absent' : 'present'}, known answer: ${there ? 'present' : 'absent'}`);
    }
  }
  return errors;
}

/** The case's steps as the model's actions. */
function actionsOf(steps: CaseStep[]): SeqAction[] {
  return steps.map((s) => s.do === 'umount'
    ? { do: 'umount', at: s.at }
    : { do: 'mount', lower: s.lower, upper: s.upper, work: s.work, index: s.index ?? false, ...(s.volatile ? { volatile: true } : {}),
      ...(s.userxattr ? { userxattr: true } : {}), ...(s.uuid ? { uuid: s.uuid } : {}) });
}

/** A step that does nothing is an error of the case (the property skips them). */
function idleStep(i: number, a: SeqAction): never {
  throw caseError(a.do === 'mount'
    ? `steps[${i}]: no free mount point (m0..m${MOUNT_POINTS - 1} are all mounted)`
    : `steps[${i}]: nothing is mounted at m${'at' in a ? a.at : '?'} there`);
}

