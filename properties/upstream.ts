// What the implementation's upstream knows of a report's findings: `upstream.json` beside a
// compare report (reports/<impl>-<version>/), written by whoever checked the trackers. Keyed
// by signature, so that a report written again finds its findings' status again. It says,
// per finding, whether it is worth proposing upstream and why (known #N, new, or why not),
// and what the kernel does, with the documentation or source that says so: the report
// (compareReport.ts) and the issue texts (`repro --issue`) carry both.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { HARM_CLASSES } from './harm.js';

export const VERDICTS = {
  new: 'no upstream thread found: proposed',
  known: 'an upstream thread reports it: proposed there, with the reproducer',
  'fixed upstream': 'fixed after this release: not proposed',
  'documented intent': 'the implementation documents it as intended: not proposed',
  'kernel: undefined': "the kernel's documentation leaves the situation undefined: not proposed",
  'not proposed': 'not worth a report (the note says why)',
  ovlcheck: "ovlcheck's own error, not the implementation's: not proposed (the note says what is to be fixed here)",
} as const;

const Thread = z.object({ url: z.string().url(), number: z.number().int(), title: z.string(), state: z.string() }).strict();

const Entry = z.object({
  signature: z.string().min(1),
  harm: z.enum(HARM_CLASSES),
  verdict: z.enum(Object.keys(VERDICTS) as [keyof typeof VERDICTS, ...(keyof typeof VERDICTS)[]]),
  threads: z.array(Thread).optional(),
  /** The signature of the finding it shares a root cause with: proposed with that one. */
  sameAs: z.string().optional(),
  /**
   * A finding this report's run did not meet, of an earlier release's case that the version
   * comparison shows on this release too: that case (from the repository's root), and its
   * reproducer for this release (from the report's dir).
   */
  case: z.string().optional(),
  reproducer: z.string().optional(),
  kernel: z.object({ says: z.string().min(1), sources: z.array(z.string().min(1)).min(1) }).strict(),
  note: z.string().min(1),
}).strict();

const UpstreamFile = z.object({
  implementation: z.string(),
  /** When the trackers were searched (they were searched as stored copies, see `searched`). */
  checked: z.string(),
  searched: z.array(z.string()),
  findings: z.array(Entry),
}).strict();

export type UpstreamEntry = z.infer<typeof Entry>;
export type Upstream = z.infer<typeof UpstreamFile>;

export class UpstreamError extends Error {}

/** dir/upstream.json, checked, or null where there is none. */
export function loadUpstream(dir: string): Upstream | null {
  const file = join(dir, 'upstream.json');
  if (!existsSync(file)) return null;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UpstreamError(`${file}: not JSON (${(e as Error).message})`);
  }
  const r = UpstreamFile.safeParse(json);
  if (!r.success) throw new UpstreamError(`${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const signatures = new Set(r.data.findings.map((f) => f.signature));
  const dangling = r.data.findings.find((f) => f.sameAs !== undefined && !signatures.has(f.sameAs));
  if (dangling) throw new UpstreamError(`${file}: "${dangling.signature}" is sameAs "${dangling.sameAs}", which it does not list`);
  const unreproduced = r.data.findings.find((f) => (f.case === undefined) !== (f.reproducer === undefined));
  if (unreproduced) throw new UpstreamError(`${file}: "${unreproduced.signature}": an earlier release's case comes with its reproducer here (case and reproducer, both or neither)`);
  return r.data;
}

/** Proposed upstream on its own: new or known, and not folded into another finding. */
export function isProposed(e: UpstreamEntry): boolean {
  return (e.verdict === 'new' || e.verdict === 'known') && e.sameAs === undefined;
}

/** The status in a few words: "new", "known #12", "same cause as #3", "documented intent"... */
export function statusOf(e: UpstreamEntry, numberOf: (signature: string) => number | undefined = () => undefined): string {
  if (e.sameAs !== undefined) {
    const n = numberOf(e.sameAs);
    return `same cause as ${n !== undefined ? `#${n}` : `"${e.sameAs}"`}${e.verdict === 'new' || e.verdict === 'known' ? '' : ` (${e.verdict})`}`;
  }
  if (e.verdict === 'known' || e.verdict === 'fixed upstream') {
    const threads = (e.threads ?? []).map((t) => `#${t.number}`).join(', ');
    return threads ? `${e.verdict} ${threads}` : e.verdict;
  }
  return e.verdict;
}

/**
 * The entry for a finding a reproducer is written for: by signature, in the upstream.json of
 * the report the case is from, or of the report the script goes into (`out` or a dir above it).
 */
export function upstreamEntryFor(caseFile: string, out: string | undefined, signature: string): UpstreamEntry | undefined {
  const dirs = [dirname(dirname(caseFile))];
  for (let d = out; d && dirs.length < 5; d = dirname(d)) dirs.push(d);
  for (const d of dirs) {
    const e = loadUpstream(d)?.findings.find((x) => x.signature === signature);
    if (e) return e;
  }
  return undefined;
}

/** The lines an issue text gives of what the kernel does and where it says so. */
export function kernelSaysLines(e: UpstreamEntry): string[] {
  return [e.kernel.says, '', ...e.kernel.sources.map((s) => `- ${s}`)];
}

// ---------------------------------------------------------------- the report's section

const SECTION = '\n## Upstream\n';

/** The last section of report.md: each finding upstream.json speaks of, by number. Empty without one. */
export function upstreamSection(dir: string, findings: ReportFinding[]): string[] {
  const upstream = loadUpstream(dir);
  if (!upstream) return [];
  const numberOf = (signature: string) => findings.find((f) => f.signature === signature)?.n;
  const md = [SECTION.trim(), '', `What ${upstream.implementation}'s trackers hold of these findings, checked ${upstream.checked} (\`upstream.json\`):`, '',
    ...upstream.searched.map((x) => `- ${x}`), '', 'Verdicts:', '', ...Object.entries(VERDICTS).map(([v, meaning]) => `- **${v}**: ${meaning}`), ''];
  const entry = (heading: string, e: UpstreamEntry, script: string) => md.push(`### ${heading}`, '',
    ...(e.threads?.length ? [`Threads: ${e.threads.map((t) => `[#${t.number} ${t.title}](${t.url}) (${t.state})`).join('; ')}.`, ''] : []),
    e.note + (isProposed(e) ? ` Reproducer: [${script}.sh](${script}.sh); report text: [${script}.issue.md](${script}.issue.md).` : ''), '',
    "What the kernel's overlayfs does:", '', ...kernelSaysLines(e), '');
  for (const { n, signature } of findings) {
    const e = upstream.findings.find((x) => x.signature === signature && x.case === undefined);
    if (e) entry(`${n}. ${statusOf(e, numberOf)}: ${signature}`, e, `repro/${String(n).padStart(2, '0')}`);
  }
  const earlier = upstream.findings.filter((e) => e.case !== undefined);
  if (earlier.length) md.push('### Also in this release: findings of an earlier release\'s cases', '', 'This run did not meet them; the version comparison replays their cases on this release, where they still show.', '');
  for (const e of earlier) entry(`${e.case}: ${statusOf(e, numberOf)}: ${e.signature}`, e, e.reproducer!.replace(/\.sh$/, ''));
  return ['', ...md];
}

/** report.md with its Upstream section as upstream.json says it now. */
export function withUpstreamSection(dir: string): string {
  const md = readFileSync(join(dir, 'report.md'), 'utf8');
  const at = md.indexOf(SECTION);
  const findings = (JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { findings: ReportFinding[] }).findings;
  return (at < 0 ? md : md.slice(0, at)) + upstreamSection(dir, findings).join('\n');
}

// ---------------------------------------------------------------- README's list
//   node dist/properties/upstream.js --write    regenerate README's list and the reports' sections

const BEGIN = '<!-- upstream:begin (generated by `node dist/properties/upstream.js --write` from reports/*/upstream.json) -->';
const END = '<!-- upstream:end -->';

interface ReportFinding { n: number; signature: string }

/**
 * README's list: per report with an upstream.json, every data, hang and outcome finding it
 * holds, with its status, and for a proposed one its reproducer and report text.
 */
export function upstreamList(reportsDir: string): string {
  const lines: string[] = [];
  for (const name of readdirSync(reportsDir).sort()) {
    const dir = join(reportsDir, name);
    const upstream = loadUpstream(dir);
    if (!upstream) continue;
    const findings = (JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { findings: ReportFinding[] }).findings;
    const numberOf = (signature: string) => findings.find((f) => f.signature === signature)?.n;
    const proposed = upstream.findings.filter(isProposed).length;
    lines.push(`**${upstream.implementation}** (\`reports/${name}\`, trackers checked ${upstream.checked}): ${proposed} proposed of ${upstream.findings.length}.`, '',
      '| # | finding | status | reproducer |', '|---|---|---|---|');
    for (const e of upstream.findings) {
      const n = e.case === undefined ? numberOf(e.signature) : undefined;
      const script = e.case !== undefined ? e.reproducer!.replace(/\.sh$/, '') : n !== undefined ? `repro/${String(n).padStart(2, '0')}` : undefined;
      const files = isProposed(e) && script ? `[${script.split('/').pop()}.sh](reports/${name}/${script}.sh), [text](reports/${name}/${script}.issue.md)` : '';
      lines.push(`| ${n ?? (e.case !== undefined ? `\`${e.case}\`` : '-')} | ${e.signature.replace(/\|/g, '\\|')} | ${statusOf(e, numberOf)} | ${files} |`);
    }
    lines.push('');
  }
  return [BEGIN, '', ...lines, END].join('\n');
}

/** README with its list as upstreamList says it now. */
export function withUpstreamList(readme: string, list: string): string {
  const [from, to] = [readme.indexOf(BEGIN), readme.indexOf(END)];
  if (from < 0 || to < from) throw new Error('README.md has no upstream list markers');
  return readme.slice(0, from) + list + readme.slice(to + END.length);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const readme = join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const next = withUpstreamList(text, upstreamList(join(root, 'reports')));
  const reports = readdirSync(join(root, 'reports')).map((d) => join(root, 'reports', d)).filter((d) => existsSync(join(d, 'upstream.json')));
  if (process.argv[2] === '--write') {
    writeFileSync(readme, next);
    for (const d of reports) writeFileSync(join(d, 'report.md'), withUpstreamSection(d));
  } else if (next !== text || reports.some((d) => withUpstreamSection(d) !== readFileSync(join(d, 'report.md'), 'utf8'))) {
    console.error('upstream: README.md\'s list or a report\'s Upstream section is out of date: run node dist/properties/upstream.js --write');
    process.exit(1);
  }
}
