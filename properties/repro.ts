// `ovlcheck repro CASE`: the inputs of a standalone reproducer (properties/reproScript.ts).
// The case is replayed on the implementation first, so that the script checks exactly what
// that replay found different; the model gives every step's expected outcome and the names'
// expected state where the script checks them.

import { release } from 'node:os';
import { basename } from 'node:path';
import { opCall, type Call } from '../harness/calls.js';
import { isDirStreamOp } from '../model/dirStream.js';
import { isFdOp } from '../model/fds.js';
import { layerPlan } from '../harness/materialize.js';
import { profileOptions } from '../harness/drivers/kernelOptions.js';
import { ModelDriver } from '../harness/drivers/model.js';
import type { Driver } from '../harness/driver.js';
import type { LayerCodec } from '../harness/codecs.js';
import { privatePrefix } from '../model/profile.js';
import { hasFeature } from '../model/versions.js';
import type { KernelVersion, Op, Profile, Snapshot, StackSpec } from '../model/types.js';
import { profileOf, type CaseFile } from './caseFile.js';
import { replayCase, toleratedBy } from './replay.js';
import { checksOf, hex, type MountRecipe, type ReproCheck, type ReproInput, type ReproStep } from './reproScript.js';
import { describeBuild, resolveBuild } from '../harness/drivers/builds.js';
import { fuseImplementation } from '../harness/drivers/fuse.js';
import { formatOp } from './commands.js';
import { formatStack } from './report.js';
import { kernelSaysLines, type UpstreamEntry } from './upstream.js';

/** Why a case has no script yet, or null. */
export function reproRefusal(c: CaseFile, profile: Profile): string | null {
  const op = c.steps.find((s) => (s.op === 'remount' && s.options !== undefined) || ((isFdOp(s as Op) || isDirStreamOp(s as Op)) && (s.as !== undefined || /\s/.test(('path' in s ? s.path : '') + ('name' in s ? s.name : '')))));
  if (op) return `its step ${op.op} has no shell form yet (${op.op === 'remount' ? 'a remount with other options' : 'an fd step as another user, or with a name holding white space'})`;
  if (profile.split || profile.nested || profile.dataOnly || profile.readonly !== undefined) return `profile ${profile.name}: only one layer filesystem, no data-only layers, read-write`;
  return null;
}

/** An fd or dir-stream step as the script's helper takes it (reproScript.ts PY_FD_SERVER). */
export function fdWords(op: Op): string[] {
  switch (op.op) {
    case 'fdopen': return [op.op, String(op.slot), op.path, op.flags.join('|') || 'O_RDONLY', (op.mode ?? 0o644).toString(8)];
    case 'fdwrite': return [op.op, String(op.slot), hex(op.data)];
    case 'fdpwrite': return [op.op, String(op.slot), String(op.offset), hex(op.data)];
    case 'fdtruncate': return [op.op, String(op.slot), String(op.size)];
    case 'fdchmod': return [op.op, String(op.slot), op.mode.toString(8)];
    case 'fdsetxattr': return [op.op, String(op.slot), op.name, hex(op.value)];
    case 'fdlink': return [op.op, String(op.slot), op.path];
    case 'fdread': case 'fdstat': case 'fdchown': case 'fdclose': return [op.op, String(op.slot)];
    case 'opendir': return [op.op, String(op.dir), op.path];
    case 'readdir': return [op.op, String(op.dir), String(op.n)];
    case 'seekdir': return [op.op, String(op.dir), String(op.to)];
    case 'closedir': return [op.op, String(op.dir)];
    default: throw new Error(`repro: ${op.op} is not an fd step`);
  }
}

/** The layer build of a stack as calls under @L0@, @L1@, ..., @U@ (harness/materialize.ts's plan). */
function layerCalls(stack: StackSpec, profile: Profile): Call[] {
  const P = privatePrefix(profile);
  return [...stack.lowers.flatMap((l, i) => layerPlan(`@L${i}@`, l, P)), ...layerPlan('@U@', stack.upper, P)].map((p) => p.call);
}

/** How the script mounts the kernel's overlayfs with the case's profile, over the layers in the kernel's format. */
export function kernelRecipe(stack: StackSpec, profile: Profile, kernel: KernelVersion): MountRecipe {
  // The options as the kernel that runs the script spells them: before 6.6, uuid=auto is said by saying nothing (S1.5).
  const spelled = (k: KernelVersion) => (profileOptions(profile, k) ? `,${profileOptions(profile, k)}` : '');
  const [since66, before66] = [spelled([6, 6, 0]), spelled([6, 5, 0])];
  return {
    name: 'kernel', describe: `the kernel's overlayfs (${release()})`, layers: layerCalls(stack, profile),
    kernelExtra: hasFeature(kernel, 'uuidAutoNull') ? since66 : before66, ...(since66 !== before66 ? { kernelExtraBefore66: before66, kernelExtraSince66: since66 } : {}),
  };
}

export interface FuseTarget {
  name: string;
  describe: string;
  /** The daemon's argv, with @LOWERS@ / @BRANCHES@ @UPPER@ @WORK@ @MERGED@ for the dirs. */
  daemon: string[];
  codec: LayerCodec;
}

/** The script's inputs: the case replayed on `driver` (a FUSE build, or the kernel), and the model. */
export async function reproInput(c: CaseFile, file: string, driver: Driver, target: FuseTarget | null, kernel: KernelVersion, kernelReader: Driver): Promise<ReproInput | string> {
  const profile = profileOf(c);
  const refusal = reproRefusal(c, profile);
  if (refusal) return refusal;
  const found = (c.divergence as { signature?: string } | undefined)?.signature;
  const r = await replayCase(c, driver, kernel, release(), undefined, toleratedBy(c), target ? kernelReader : undefined);
  if (!r.failure) return `it does not diverge on ${target?.describe ?? 'the kernel'} now`;
  const info = r.failure.info;
  if (found !== undefined && info.signature !== found) return `it diverges otherwise now (${info.signature}; found as ${found})`;
  // The model, step by step: outcomes, and the merged view where the script checks it.
  const model = new ModelDriver(kernel);
  await model.setup(c.layers, profile);
  const steps: ReproStep[] = [];
  // The lower layers a difference is in, as the model holds them at the same moment (nothing may change them).
  const lowerViews = [...new Set(info.differences.map((d) => /^lower(\d+)$/.exec(d.view)?.[1]).filter((n) => n !== undefined).map(Number))];
  const lowersNow = () => new Map(lowerViews.map((n) => [n, model.snapshot(n)]));
  let expected: Snapshot = model.snapshot('merged');
  let expectedLowers = lowersNow();
  const ops = c.steps.map(({ expect: _e, ...op }) => op as Op);
  for (const [i, op] of ops.entries()) {
    const outcome = model.apply(op);
    const call = op.op === 'remount' ? { c: 'remount' as const } : op.op === 'rotate' ? { c: 'rotate' as const }
      : isFdOp(op) || isDirStreamOp(op) ? { c: 'fd' as const, args: fdWords(op) } : opCall('', op);
    steps.push({ call, text: formatOp(op), expected: outcome });
    if (info.phase === 'step' && i + 1 === info.step) [expected, expectedLowers] = [model.snapshot('merged'), lowersNow()];
  }
  const finalRemount = info.phase === 'remount' || info.phase === 'kernel-read';
  if (finalRemount) {
    model.apply({ op: 'remount' });
    [expected, expectedLowers] = [model.snapshot('merged'), lowersNow()];
  }
  const codecStack = target ? target.codec.encode(c.layers) : c.layers;
  const impl: MountRecipe = target
    ? { name: target.name, describe: target.describe, daemon: target.daemon, branches: target.daemon.includes('@BRANCHES@'), layers: layerCalls(codecStack, profile) }
    : kernelRecipe(c.layers, profile, kernel);
  const outcomeDiffers = info.expected !== undefined && info.actual !== undefined && info.expected !== info.actual;
  // What the finding is about: an outcome finding is its outcome; otherwise the names that
  // differ, without the link counts of another harm class (a known difference beside it).
  const harm = (info.signature ?? '').split(':')[0];
  const checks = harm === 'outcome' && outcomeDiffers ? [] : checksOf(info.differences, expected, expectedLowers).filter((c) => harm === 'bookkeeping' || c.what !== 'nlink');
  const kernelRead = info.phase === 'kernel-read';
  if (!outcomeDiffers && checks.length === 0 && !(kernelRead && info.differences.some((d) => d.what === 'mount'))) {
    return `what differs is not in the merged view (${info.differences.map((d) => `${d.view} ${d.what}`).slice(0, 3).join(', ')}): no shell check shows it`;
  }
  return {
    title: `${target?.name ?? 'overlayfs'}: ${info.signature ?? 'a divergence'}`,
    scriptName: `${basename(file, '.json')}.sh`,
    layerText: formatStack(c.layers),
    provenance: [`ovlcheck case ${file}`, `found: ${(c as { description?: string }).description ?? ''}`.trim(), `replayed on ${target?.describe ?? 'the kernel'}, kernel ${release()}, ${new Date().toISOString().slice(0, 10)}`,
      `expected as the model says of Linux ${kernel.slice(0, 2).join('.')}: \`kernel\` exits 0 on that kernel line (rules differ between versions)`],
    signature: info.signature ?? '',
    lowers: c.layers.lowers.length,
    impl,
    kernel: kernelRecipe(c.layers, profile, kernel),
    steps,
    ...(outcomeDiffers ? { outcomeStep: info.step, outcomeActual: info.actual } : {}),
    finalRemount,
    kernelRead,
    checkAfter: info.phase === 'mount' ? 0 : info.phase === 'step' ? info.step : steps.length + 1,
    checks,
  };
}

/** The daemon command of a FUSE build, the dirs as placeholders the script fills in; null for the kernel. */
export function fuseTargetOf(choice: { driver: string; version?: string; binary?: string }): FuseTarget | null {
  if (choice.driver !== 'fuse-overlayfs' && choice.driver !== 'unionfs-fuse') return null;
  const build = resolveBuild(choice.driver, choice);
  if (typeof build === 'string') throw new Error(`repro: ${build}`); // checkDriverEnvironment said it could run
  const impl = fuseImplementation(choice.driver, build);
  const args = impl.args({ root: '@ROOT@', lowers: ['@LOWERS@'], upper: '@UPPER@', work: '@WORK@', merged: '@MERGED@' })
    // unionfs-fuse's branches, "upper=RW:lower=RO:...": the script lists the lowers it has then (rotations add some)
    .map((a) => (a === '@UPPER@=RW:@LOWERS@=RO' ? '@BRANCHES@' : a));
  return { name: choice.driver, describe: describeBuild(choice.driver, build), daemon: [impl.binary, ...args], codec: impl.codec };
}

/**
 * The text of an upstream bug report: what happens, what the kernel's overlayfs does (and,
 * from upstream.json, where its documentation or source says so, and the threads that know
 * it), the script.
 */
export function issueText(r: ReproInput, upstream?: UpstreamEntry): string {
  const differing = r.outcomeStep ? r.steps[r.outcomeStep - 1] : undefined;
  const stepLines = r.steps.map((s, i) => `${i + 1}. \`${s.text}\`: the kernel's overlayfs returns ${s.expected}${i + 1 === r.outcomeStep ? ' (here it differs)' : ''}`);
  return [
    `# ${r.title}`,
    '',
    `**Version:** ${r.impl.describe}, Linux ${release()}.`,
    '',
    '## Steps',
    '',
    `Layers (lower0 is the top lower layer; the script builds them in the implementation's format, or with \`kernel\` in the kernel's):`,
    '',
    '```',
    ...r.layerText,
    '```',
    '',
    ...(stepLines.length ? stepLines : ['(no steps: it shows right after mounting)']),
    ...(r.finalRemount ? ['', 'Then unmount and mount again.'] : []),
    ...(r.kernelRead ? ['', 'Then unmount, and mount the same layers with the kernel\'s overlayfs (as Docker and Podman hand layers between the two).'] : []),
    '',
    '## Expected',
    '',
    differing ? `\`${differing.text}\` returns ${differing.expected}, as the kernel's overlayfs does.` : 'What the kernel\'s overlayfs shows on the same layers and steps:',
    ...r.checks.map((c) => `- ${expectedLine(c)}`),
    '',
    'The script run with `kernel` does the same on the running kernel\'s overlayfs and exits 0 there.',
    ...(upstream ? ['', 'What the kernel does, and where its documentation or source says so:', '', ...kernelSaysLines(upstream)] : []),
    ...(upstream?.threads?.length ? ['', `Related upstream: ${upstream.threads.map((t) => `#${t.number} "${t.title}" (${t.state}, ${t.url})`).join('; ')}.`] : []),
    '',
    '## Actual',
    '',
    `What ${r.impl.describe} does instead:`,
    ...(differing ? [`- \`${differing.text}\` returns ${r.outcomeActual}`] : []),
    ...r.checks.map((c) => `- ${actualLine(c)}`),
    '',
    `In ovlcheck's words: ${r.signature}. The script prints each difference and exits 1.`,
    '',
    '## Reproducer',
    '',
    `As root: \`sh ${r.scriptName}\` (\`sh ${r.scriptName} kernel\` for the kernel's overlayfs). It needs coreutils, util-linux, attr and python3, runs in a private mount and pid namespace and leaves nothing behind.`,
    '',
    '---',
    'Found by ovlcheck, a property-based conformance suite for overlay filesystems that compares implementations with a model of the kernel\'s overlayfs.',
    '',
  ].join('\n');
}

/** Where a check looks, in words. */
function whereOf(c: ReproCheck): string {
  return c.where === 'kernel-read' ? "the kernel's mount of the layers" : c.where === 'lower' ? `the lower layer ${c.layer} (read-only: nothing may change it)` : 'the merged view';
}

/** What the kernel's overlayfs shows of one checked thing, as a sentence. */
function expectedLine(c: ReproCheck): string {
  const where = whereOf(c);
  const e = c.expected;
  if (c.what === 'absent' || e === null) return `${where} does not list \`${c.path}\``;
  if (c.what === 'present') return `${where} lists \`${c.path}\`${e.kind === 'error' ? `, whose lookup fails with ${e.errno}` : ` (a ${e.kind})`}`;
  if (e.kind === 'error') return `in ${where}, the lookup of \`${c.path}\` fails with ${e.errno}`;
  const value = c.what === 'data' ? JSON.stringify(e.data ?? '')
    : c.what.startsWith('xattr ') ? JSON.stringify(e.xattrs[c.what.slice(6)] ?? '(absent)')
      : c.what === 'mode' ? '0' + e.mode.toString(8)
        : JSON.stringify((e as unknown as Record<string, unknown>)[c.what]);
  return `in ${where}, \`${c.path}\` has ${c.what === 'data' ? 'the content' : c.what} ${value}`;
}

/** What the implementation showed of one checked thing (the comparison's actual side), as a sentence. */
function actualLine(c: ReproCheck): string {
  const where = whereOf(c);
  if (c.what === 'present') return `${where} does not list \`${c.path}\``;
  if (c.what === 'absent') return `${where} lists \`${c.path}\`${typeof c.actual === 'string' ? ` (${c.actual})` : ''}`;
  const a = c.actual;
  if (c.what === 'kind' && a === 'error') return `in ${where}, the lookup of \`${c.path}\` fails`;
  // The comparison gives a content or a symlink target as it is; modes, xattr values and errnos already spelled out.
  const value = a === undefined ? '(not known)' : typeof a === 'string' && c.what !== 'data' && c.what !== 'target' ? a : JSON.stringify(a);
  return `in ${where}, \`${c.path}\` has ${c.what === 'data' ? 'the content' : c.what} ${value}`;
}
