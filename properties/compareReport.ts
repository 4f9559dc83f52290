// The divergence report of `ovlcheck compare`: report.md for people, report.json for tools,
// and one case file per finding (replayable with `ovlcheck replay --driver NAME FILE`).

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { byHarm, type CompareResult, type Finding } from './compareRun.js';
import { HARM_CLASSES, type HarmClass } from './harm.js';
import { failureCase, formatFailure } from './report.js';
import { upstreamSection } from './upstream.js';

export interface ReportContext {
  driver: string;
  /** e.g. "fuse-overlayfs 1.10" */
  implementation: string;
  against: string;
  kernelRelease: string;
  profile: string;
  /** The command line that produced the report. */
  command: string;
  date: string;
  expectationsFile?: string;
}

/** The case file of the i-th finding (byHarm order, from 0) in a report's directory. */
export function findingCaseFile(dir: string, i: number): string {
  return join(dir, 'cases', `${String(i + 1).padStart(2, '0')}.json`);
}

export function replayCommand(ctx: Pick<ReportContext, 'driver' | 'against'>, file: string): string {
  return `ovlcheck replay --driver ${ctx.driver}${ctx.against === 'model' ? '' : ` --against ${ctx.against}`} ${file}`;
}

function firstSeen(f: Finding): string {
  const info = f.failure.info;
  if (info.phase === 'mount') return 'at mount';
  if (info.phase === 'remount') return 'after the final remount';
  if (info.phase === 'kernel-read') return 'when the kernel mounted its layers';
  return `after step ${info.step} (${info.op?.op})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function caseSize(f: Finding): string {
  const st = f.failure.stack;
  const entries = Object.keys(st.upper).length + st.lowers.reduce((a, l) => a + Object.keys(l).length, 0);
  return `${st.lowers.length} lower(s), ${entries} entries, ${f.failure.history.length} steps`;
}

const CLASS_MEANING: Record<HarmClass, string> = {
  data: 'content or names lost or changed that no operation asked for; any change to a lower layer',
  hang: 'no answer; the daemon crashed or exited',
  outcome: 'an errno where the reference succeeds or the reverse, or another errno',
  metadata: 'mode, owner, xattrs, kind',
  bookkeeping: 'nlink, st_ino, st_dev, upper layout the merged view does not show',
};

/**
 * Writes dir/report.md, dir/report.json and dir/cases/NN.json (the old cases are replaced).
 * Called whenever a finding is added, so that a run killed by a CI timeout leaves its report;
 * findings are numbered worst first.
 */
export function writeCompareReport(dir: string, ctx: ReportContext, r: CompareResult): string {
  rmSync(join(dir, 'cases'), { recursive: true, force: true });
  mkdirSync(join(dir, 'cases'), { recursive: true });
  const rows = byHarm(r.findings).map((finding, i) => {
    const file = findingCaseFile(dir, i);
    const c = failureCase(finding.failure, ctx.date);
    c.name = `${ctx.driver} vs ${ctx.against}: ${finding.signature}`;
    writeFileSync(file, JSON.stringify(c, null, 2) + '\n');
    return { n: i + 1, file, finding };
  });
  const pendingFile = r.pending ? join(dir, 'cases', 'pending.json') : undefined;
  if (r.pending && pendingFile) writeFileSync(pendingFile, JSON.stringify(failureCase(r.pending.failure, ctx.date), null, 2) + '\n');
  const perClass = HARM_CLASSES.map((c) => `${c} ${r.findings.filter((f) => f.harm === c).length}`).join(', ');

  const md: string[] = [
    `# ${ctx.implementation} vs ${ctx.against}`,
    '',
    `- command: \`${ctx.command}\``,
    `- date: ${ctx.date}; kernel ${ctx.kernelRelease}; profile ${ctx.profile}`,
    `- ${r.cases} generated cases, ${r.steps} steps, ${r.rounds} rounds in ${seconds(r.elapsedMs)}; stopped: ${r.stoppedBy}; ` +
      `${r.continued} tolerated outcomes gone past, ${r.knownStops} cases ended at one`,
    `- ${r.findings.length} findings: ${perClass}` + (r.capped.length ? ` (cap reached for ${r.capped.join(', ')}: more not recorded)` : '') +
      (ctx.expectationsFile ? `; expectations: ${ctx.expectationsFile} (${r.expectedSeen.length} seen, ${r.expectedUnseen.length} not seen)` : ''),
    '',
    'Findings worst first. Each row is one signature: its harm class, when it showed (at mount,',
    'after which operation and outcome, after a remount or rotation), and what differed, with',
    'the names left out; and the minimal case it was shrunk to. Once found, a signature is',
    'tolerated so that the next one can surface; a case that shows it goes on, so a later',
    'case may show earlier ones too (listed as "known"). Harm classes (properties/harm.ts):',
    '',
    ...HARM_CLASSES.map((c) => `- **${c}**: ${CLASS_MEANING[c]}`),
    '',
    'The kernel column replays each minimal case on the running kernel against the model:',
    '"agrees with the model" means the difference is the implementation\'s, not a model gap.',
    '',
    '| # | class | divergence | first seen | found after | minimal case | kernel | replay |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(({ n, file, finding }) =>
      `| ${n} | ${finding.harm} | ${esc(finding.signature)} | ${firstSeen(finding)} | ${seconds(finding.foundAfterMs)} (round ${finding.round + 1}) | ` +
      `[${caseSize(finding)}](cases/${basename(file)}) | ${finding.kernel ?? 'not checked'} | \`${replayCommand(ctx, file)}\` |`),
  ];
  if (r.pending && pendingFile) {
    md.push('', '## Being shrunk when the run stopped', '', `${r.pending.harm}: ${esc(r.pending.signature)}, found after ${seconds(r.pending.foundAfterMs)}; ` +
      `the case unshrunk: [cases/pending.json](cases/pending.json), \`${replayCommand(ctx, pendingFile)}\``);
  }
  if (r.expectedSeen.length || r.expectedUnseen.length) {
    md.push('', '## Expected divergences (documented as intended)', '', '| divergence | reason | seen |', '|---|---|---|');
    for (const x of r.expectedSeen) md.push(`| ${esc(x.signature)} | ${x.reason} | yes |`);
    for (const x of r.expectedUnseen) md.push(`| ${esc(x.signature)} | ${x.reason} | not in this run |`);
  }
  if (r.crash) md.push('', '## Harness error', '', '\`\`\`', String(r.crash.stack ?? r.crash), '\`\`\`');
  md.push('', '## Findings in full', '');
  for (const { n, file, finding } of rows) {
    const others = (finding.failure.info.parts ?? []).slice(1);
    md.push(`### ${n}. ${finding.signature}`, '', '\`\`\`', formatFailure(finding.failure), '\`\`\`', '',
      ...(others.length ? [`Also in this case: ${others.map((o) => `\`${o}\``).join('; ')}`, ''] : []),
      `Found after ${seconds(finding.foundAfterMs)} in round ${finding.round + 1} (seed ${finding.seed}). Replay: \`${replayCommand(ctx, file)}\`` +
      `${finding.kernel ? `; the same case on the kernel: ${finding.kernel}` : ''}`, '');
  }
  // Last, what upstream knows of them (upstream.json beside the report): `upstream.js --write` rewrites it.
  md.push(...upstreamSection(dir, rows.map(({ n, finding }) => ({ n, signature: finding.signature }))));
  writeFileSync(join(dir, 'report.md'), md.join('\n'));
  writeFileSync(join(dir, 'report.json'), JSON.stringify({
    ...ctx,
    cases: r.cases, steps: r.steps, rounds: r.rounds, elapsedMs: r.elapsedMs, stoppedBy: r.stoppedBy, knownStops: r.knownStops, continued: r.continued,
    byClass: Object.fromEntries(HARM_CLASSES.map((c) => [c, r.findings.filter((f) => f.harm === c).length])), capped: r.capped,
    findings: rows.map(({ n, file, finding }) => ({
      n, harm: finding.harm, signature: finding.signature, firstSeen: firstSeen(finding), foundAfterMs: finding.foundAfterMs, round: finding.round + 1,
      kernel: finding.kernel ?? null, case: file, seed: finding.seed, replay: replayCommand(ctx, file),
      steps: finding.failure.history.length, phase: finding.failure.info.phase, parts: finding.failure.info.parts ?? [finding.signature],
    })),
    pending: r.pending && pendingFile ? { harm: r.pending.harm, signature: r.pending.signature, foundAfterMs: r.pending.foundAfterMs, case: pendingFile } : null,
    expectedSeen: r.expectedSeen, expectedUnseen: r.expectedUnseen,
    crash: r.crash ? String(r.crash.stack ?? r.crash) : null,
  }, null, 2) + '\n');
  return join(dir, 'report.md');
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|');
}
