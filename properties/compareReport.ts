// The divergence report of `ovlcheck compare`: report.md for people, report.json for tools,
// and one case file per finding (replayable with `ovlcheck replay --driver NAME FILE`).

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompareResult } from './compareRun.js';
import { failureCase, formatFailure } from './report.js';

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

function replayCommand(ctx: ReportContext, file: string): string {
  return `ovlcheck replay --driver ${ctx.driver}${ctx.against === 'model' ? '' : ` --against ${ctx.against}`} ${file}`;
}

function firstSeen(f: CompareResult['findings'][number]): string {
  const info = f.failure.info;
  if (info.phase === 'mount') return 'at mount';
  if (info.phase === 'remount') return 'after the final remount';
  return `after step ${info.step} (${info.op?.op})`;
}

/** Writes dir/report.md, dir/report.json and dir/cases/NN.json (the old cases are replaced). */
export function writeCompareReport(dir: string, ctx: ReportContext, r: CompareResult): string {
  rmSync(join(dir, 'cases'), { recursive: true, force: true });
  mkdirSync(join(dir, 'cases'), { recursive: true });
  const rows = r.findings.map((f, i) => {
    const file = join(dir, 'cases', `${String(i + 1).padStart(2, '0')}.json`);
    const c = failureCase(f.failure, ctx.date);
    c.name = `${ctx.driver} vs ${ctx.against}: ${f.signature}`;
    writeFileSync(file, JSON.stringify(c, null, 2) + '\n');
    return { n: i + 1, file, finding: f };
  });
  const md: string[] = [
    `# ${ctx.implementation} vs ${ctx.against}`,
    '',
    `- command: \`${ctx.command}\``,
    `- date: ${ctx.date}; kernel ${ctx.kernelRelease}; profile ${ctx.profile}`,
    `- ${r.cases} generated cases, ${r.steps} steps, ${r.rounds} rounds in ${(r.elapsedMs / 1000).toFixed(0)} s; ` +
      `stopped: ${r.stoppedBy}; ${r.knownStops} cases ended early at a known divergence`,
    `- ${r.findings.length} distinct divergences` + (ctx.expectationsFile ? `; expectations: ${ctx.expectationsFile} (${r.expectedSeen.length} seen, ${r.expectedUnseen.length} not seen)` : ''),
    '',
    'Each row is one signature (operation, layer situation, expected vs actual; names left out),',
    'with the minimal case it was shrunk to. Once found, a signature is tolerated so that the',
    'next one can surface, so a later case may also show earlier ones (listed as "known").',
    '',
    'The kernel column replays each minimal case on the running kernel against the model:',
    '"agrees with the model" means the difference is the implementation\'s, not a model gap.',
    '',
    '| # | divergence | first seen | minimal case | kernel | replay |',
    '|---|---|---|---|---|---|',
    ...rows.map(({ n, file, finding }) => {
      const f = finding.failure;
      const size = `${f.stack.lowers.length} lower(s), ${Object.keys(f.stack.upper).length + f.stack.lowers.reduce((a, l) => a + Object.keys(l).length, 0)} entries, ${f.history.length} steps`;
      return `| ${n} | ${finding.signature.replace(/\|/g, '\\|')} | ${firstSeen(finding)} | [${size}](cases/${file.split('/').pop()}) | ${finding.kernel ?? 'not checked'} | \`${replayCommand(ctx, file)}\` |`;
    }),
  ];
  if (r.expectedSeen.length || r.expectedUnseen.length) {
    md.push('', '## Expected divergences (documented as intended)', '', '| divergence | reason | seen |', '|---|---|---|');
    for (const x of r.expectedSeen) md.push(`| ${x.signature} | ${x.reason} | yes |`);
    for (const x of r.expectedUnseen) md.push(`| ${x.signature} | ${x.reason} | not in this run |`);
  }
  if (r.crash) md.push('', '## Harness error', '', '```', String(r.crash.stack ?? r.crash), '```');
  md.push('', '## Findings in full', '');
  for (const { n, file, finding } of rows) {
    md.push(`### ${n}. ${finding.signature}`, '', '```', formatFailure(finding.failure), '```', '',
      `Replay: \`${replayCommand(ctx, file)}\`${finding.kernel ? `; the same case on the kernel: ${finding.kernel}` : ''}`, '');
  }
  writeFileSync(join(dir, 'report.md'), md.join('\n'));
  writeFileSync(join(dir, 'report.json'), JSON.stringify({
    ...ctx,
    cases: r.cases, steps: r.steps, rounds: r.rounds, elapsedMs: r.elapsedMs, stoppedBy: r.stoppedBy, knownStops: r.knownStops,
    findings: rows.map(({ n, file, finding }) => ({
      n, signature: finding.signature, firstSeen: firstSeen(finding), kernel: finding.kernel ?? null, case: file, seed: finding.seed, replay: replayCommand(ctx, file),
      steps: finding.failure.history.length, phase: finding.failure.info.phase,
    })),
    expectedSeen: r.expectedSeen, expectedUnseen: r.expectedUnseen,
    crash: r.crash ? String(r.crash.stack ?? r.crash) : null,
  }, null, 2) + '\n');
  return join(dir, 'report.md');
}
