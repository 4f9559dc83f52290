// A divergence as a minimal, replayable case: the text printed and the case file saved.

import type { EntrySpec, Profile, StackSpec } from '../model/index.js';
import { formatDifference } from '../harness/compare.js';
import type { CaseFile } from './caseFile.js';
import { formatOp } from './commands.js';
import type { DivergenceInfo, StepRecord } from './session.js';

export interface Failure {
  driver: string;
  /** The implementation and its exact version, where the driver knows it ("fuse-overlayfs 1.16"). */
  implementation?: string;
  /** The expected side: 'model', or a reference implementation ('kernel'). */
  against?: string;
  kernel: string;
  profile: Profile;
  options: string;
  /** /sys/module/overlay/parameters when the case ran. */
  moduleDefaults: Record<string, string>;
  stack: StackSpec;
  history: StepRecord[];
  info: DivergenceInfo;
  seed?: number;
  path?: string;
}

function entryText(path: string, e: EntrySpec): string {
  const owner = e.uid || e.gid ? ` owner ${e.uid ?? 0}:${e.gid ?? 0}` : '';
  const mtime = e.mtime !== undefined ? ` mtime ${e.mtime}` : '';
  return kindText(path, e) + owner + mtime;
}

function kindText(path: string, e: EntrySpec): string {
  switch (e.type) {
    case 'file': return `${path} file ${(e.mode ?? 0o644).toString(8)} ${JSON.stringify(e.data ?? '')}${xattrText(e.xattrs)}`;
    case 'dir': return `${path}/ dir ${(e.mode ?? 0o755).toString(8)}${e.opaque ? ' opaque' : ''}${xattrText(e.xattrs)}`;
    case 'symlink': return `${path} -> ${e.target}`;
    case 'link': return `${path} hard link to ${e.to}`;
    case 'whiteout': return `${path} whiteout`;
    case 'fifo': return `${path} fifo ${(e.mode ?? 0o644).toString(8)}`;
  }
}

function xattrText(x?: Record<string, string>): string {
  return x && Object.keys(x).length ? ' ' + JSON.stringify(x) : '';
}

export function formatStack(stack: StackSpec): string[] {
  const lines: string[] = [];
  const layer = (name: string, spec: Record<string, EntrySpec>) => {
    const entries = Object.entries(spec).sort(([a], [b]) => a.localeCompare(b));
    lines.push(`  ${name}:${entries.length ? '' : ' (empty)'}`);
    for (const [p, e] of entries) lines.push(`    ${entryText(p, e)}`);
  };
  stack.lowers.forEach((l, i) => layer(`lower${i}${i === 0 ? ' (top)' : ''}`, l));
  layer('upper', stack.upper);
  return lines;
}

/** Layer paths shown by their names in the case dir (l0, u, w). */
export function shortOptions(options: string): string {
  return options.replace(/(?<=[=:])[^,:=]*\/(?=([lrd]\d+|u|w)(?=[,:]|$))/g, '');
}

export function formatFailure(f: Failure, savedAs?: string): string {
  const { info } = f;
  const lines = [
    `DIVERGENCE ${f.driver}(${f.kernel}) vs ${f.against ?? 'model'}  profile=${f.profile.name}` +
      (f.seed !== undefined ? `  seed=${f.seed} path=${JSON.stringify(f.path)}` : ''),
    `mount options: ${shortOptions(f.options)}`,
    `module defaults: ${Object.entries(f.moduleDefaults).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'}`,
    'layers:',
    ...formatStack(f.stack),
    'steps:',
  ];
  if (f.history.length === 0) lines.push('  (none)');
  f.history.forEach((h, i) => {
    const mark = info.phase === 'step' && info.step === i + 1;
    const res = h.expected === h.actual ? `${h.actual}` : `expected ${h.expected} [${h.rule}]  actual ${h.actual}`;
    lines.push(`  ${String(i + 1).padStart(2)}. ${formatOp(h.op).padEnd(44)} ${res}${mark ? '   <-- diverges here' : ''}`);
  });
  if (info.signature) lines.push(`signature: ${info.signature}`);
  if (info.known?.length) lines.push(`known divergences also seen (left out): ${info.known.join('; ')}`);
  const when = info.phase === 'mount' ? 'right after mount' : info.phase === 'remount' ? 'after the final umount + mount'
    : info.phase === 'kernel-read' ? 'when the kernel mounted the layers the case left (expected = the merged view the case ended with)' : `after step ${info.step} [${info.rule}]`;
  if (info.differences.length) {
    lines.push(`differences ${when} (expected = ${f.against ?? 'model'}):`);
    for (const d of info.differences.slice(0, 40)) lines.push('  ' + formatDifference(d));
    if (info.differences.length > 40) lines.push(`  ... and ${info.differences.length - 40} more`);
  } else lines.push(`views agree ${when}; only the outcome differs`);
  if (savedAs) lines.push(`replay: ovlcheck replay ${savedAs}`);
  return lines.join('\n');
}

export function failureCase(f: Failure, date: string): CaseFile {
  const steps = f.history.map((h) => h.op);
  return {
    ovlcheck: 1,
    name: `divergence ${f.info.phase} ${f.info.step}`,
    description: `Found by ovlcheck run against ${f.implementation ?? f.driver} on ${f.kernel}.`,
    profile: f.profile,
    layers: f.stack,
    steps,
    ...(f.seed !== undefined
      ? { found: { seed: f.seed, path: f.path ?? '', kernel: f.kernel, date, options: f.options, moduleDefaults: f.moduleDefaults, ...(f.implementation ? { implementation: f.implementation } : {}) } }
      : {}),
    divergence: {
      phase: f.info.phase,
      step: f.info.step,
      expected: f.info.expected,
      actual: f.info.actual,
      rule: f.info.rule,
      differences: f.info.differences.map(formatDifference),
      ...(f.info.signature ? { signature: f.info.signature } : {}),
      // Divergences tolerated when this one was found (compare): replay tolerates them too.
      ...(f.info.known?.length ? { known: f.info.known } : {}),
    },
  };
}
