// The standard outputs of run, replay, compare and matrix (--junit, --ktap, --json): one test
// per profile, option set, property, case file or finding, for CI dashboards (JUnit XML),
// kernel test systems (KTAP, Documentation/dev-tools/ktap.rst) and scripts (JSON, the schema
// below, which `ovlcheck merge` reads back). A failed test carries the minimal case as
// printed and the command that replays it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import type { Builder } from 'junit-report-builder';
import { z } from 'zod';

// A CommonJS module whose types declare an ES default export: required, as what it is.
const junit = createRequire(import.meta.url)('junit-report-builder') as Builder;

export const TEST_STATUSES = ['pass', 'fail', 'skip', 'error'] as const;

export const testResultSchema = z.object({
  /** The group it belongs to: "profile", "options", "property", "case", "finding", or a kernel's name in a matrix. */
  suite: z.string(),
  name: z.string(),
  /** fail: a divergence (exit 1); error: ovlcheck could not decide (a rule not modelled, a crash, a guest gone). */
  status: z.enum(TEST_STATUSES),
  timeMs: z.number().nonnegative().optional(),
  /** One line: the divergence's signature, why it was skipped, what went wrong. */
  summary: z.string().optional(),
  /** The minimal case as printed (seed and path, layers, steps, expected vs actual). */
  details: z.string().optional(),
  /** The case file it was saved as, and the command that replays it. */
  caseFile: z.string().optional(),
  replay: z.string().optional(),
  /** The harm a divergence shows (properties/harm.ts). */
  harm: z.string().optional(),
  cases: z.number().int().nonnegative().optional(),
  steps: z.number().int().nonnegative().optional(),
});
export type TestResult = z.infer<typeof testResultSchema>;

export const resultsSchema = z.object({
  ovlcheck: z.literal(1),
  kind: z.literal('results'),
  /** run, replay, compare, matrix (or merge, for merged shards). */
  command: z.string(),
  /** The command line as given. */
  argv: z.array(z.string()),
  /** uname -r of the machine it ran on. */
  kernel: z.string(),
  seed: z.number().int().optional(),
  /** A part of a run (`run --shard I/N`); merged results have none. */
  shard: z.object({ index: z.number().int().min(1), count: z.number().int().min(1) }).optional(),
  startedAt: z.string(),
  elapsedMs: z.number().nonnegative(),
  /** 0-3 (README, "Exit codes"), or 128 + the signal that stopped the run. */
  exitCode: z.number().int().nonnegative(),
  /** The verdict line's first words: CONFORMS, DIVERGES (n), ... */
  verdict: z.string(),
  totals: z.object({
    tests: z.number().int(), pass: z.number().int(), fail: z.number().int(), skip: z.number().int(), error: z.number().int(),
    cases: z.number().int(), steps: z.number().int(),
  }),
  tests: z.array(testResultSchema),
});
export type Results = z.infer<typeof resultsSchema>;

/** Where each format goes: a file, or "-" for stdout (KTAP and JSON). */
export interface OutputFiles {
  junit?: string;
  ktap?: string;
  json?: string;
}

/** The one-word verdict of an exit code, as the human summary and the outputs give it. */
export function verdictOf(exitCode: number): string {
  return ({ 0: 'CONFORMS', 1: 'DIVERGES', 2: 'INCOMPLETE (bad input or an environment that cannot run it)', 3: 'INTERNAL ERROR (a bug in ovlcheck)' } as Record<number, string>)[exitCode] ?? `exit ${exitCode}`;
}

export function totalsOf(tests: readonly TestResult[]): Results['totals'] {
  const count = (s: TestResult['status']) => tests.filter((t) => t.status === s).length;
  return {
    tests: tests.length, pass: count('pass'), fail: count('fail'), skip: count('skip'), error: count('error'),
    cases: tests.reduce((n, t) => n + (t.cases ?? 0), 0), steps: tests.reduce((n, t) => n + (t.steps ?? 0), 0),
  };
}

/** Collects a command's tests as they end; `finish` gives the record the formats are written from. */
export class ResultLog {
  readonly tests: TestResult[] = [];
  private readonly started = new Date();
  shard?: Results['shard'];

  constructor(private readonly command: string, private readonly argv: string[], private readonly kernel: string, private readonly seed?: number) {}

  add(t: TestResult): void {
    this.tests.push(t);
  }

  finish(exitCode: number, verdict: string): Results {
    return {
      ovlcheck: 1, kind: 'results', command: this.command, argv: this.argv, kernel: this.kernel,
      ...(this.seed !== undefined ? { seed: this.seed } : {}), ...(this.shard ? { shard: this.shard } : {}),
      startedAt: this.started.toISOString(), elapsedMs: Date.now() - this.started.getTime(), exitCode, verdict,
      totals: totalsOf(this.tests), tests: this.tests,
    };
  }
}

/** Writes each format asked for. */
export function writeOutputs(r: Results, files: OutputFiles): void {
  if (files.json) put(files.json, JSON.stringify(r, null, 2) + '\n');
  if (files.ktap) put(files.ktap, toKtap(r));
  if (files.junit) put(files.junit, toJunit(r));
}

function put(file: string, text: string): void {
  if (file === '-') {
    process.stdout.write(text);
    return;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** What a failed or skipped test says beyond its one line: the case, where it was saved, how to replay it. */
function fullText(t: TestResult): string {
  return [t.details, t.caseFile ? `case file: ${t.caseFile}` : '', t.replay ? `replay: ${t.replay}` : ''].filter(Boolean).join('\n');
}

// ---------------------------------------------------------------------------------------------
// KTAP, version 1: a version line, a plan, one result line per test; a failure's text as
// diagnostic lines ("# ...") before its result line. Descriptions cannot hold "#".

export function toKtap(r: Results): string {
  const lines = ['KTAP version 1', `# ovlcheck ${r.command}: kernel ${r.kernel}${r.seed !== undefined ? `, seed ${r.seed}` : ''}`, `1..${r.tests.length}`];
  r.tests.forEach((t, i) => {
    if (t.status === 'fail' || t.status === 'error') {
      for (const l of [t.summary ?? '', ...fullText(t).split('\n')]) if (l) lines.push(`# ${oneKtapLine(l)}`);
    }
    const description = oneKtapLine(`${t.suite} ${t.name}`).replace(/#/g, '%23');
    const directive = t.status === 'skip' ? ` # SKIP ${oneKtapLine(t.summary ?? '')}`.trimEnd() : t.status === 'error' ? ` # ERROR ${oneKtapLine(t.summary ?? '')}`.trimEnd() : '';
    lines.push(`${t.status === 'pass' || t.status === 'skip' ? 'ok' : 'not ok'} ${i + 1} ${description}${directive}`);
  });
  lines.push(`# ${r.verdict}: ${r.totals.pass} passed, ${r.totals.fail} failed, ${r.totals.skip} skipped, ${r.totals.error} errors`);
  return lines.join('\n') + '\n';
}

/** A line as KTAP holds it: no line breaks, control characters escaped. */
function oneKtapLine(s: string): string {
  return escapeControls(s.replace(/\r?\n/g, ' '));
}

// ---------------------------------------------------------------------------------------------
// JUnit XML: one <testsuite> per suite, one <testcase> per test; a failure's one line as the
// message, its case and replay command as the element's text.

export function toJunit(r: Results): string {
  const builder = junit.newBuilder().name(`ovlcheck ${r.command}`);
  const suites = new Map<string, ReturnType<typeof builder.testSuite>>();
  for (const t of r.tests) {
    let suite = suites.get(t.suite);
    if (!suite) {
      suite = builder.testSuite().name(`ovlcheck ${r.command}: ${t.suite}`).timestamp(new Date(r.startedAt)).property('kernel', r.kernel);
      if (r.seed !== undefined) suite.property('seed', String(r.seed));
      suites.set(t.suite, suite);
    }
    const c = suite.testCase().className(`ovlcheck.${r.command}.${t.suite}`.replace(/[^\w.-]+/g, '_')).name(escapeControls(t.name));
    if (t.timeMs !== undefined) c.time(t.timeMs / 1000);
    const text = escapeControls(fullText(t)).replace(/]]>/g, ']] >'); // a CDATA section cannot hold its own end
    const summary = escapeControls(t.summary ?? '');
    if (t.status === 'fail') c.failure(summary, t.harm ?? 'divergence').stacktrace(text);
    else if (t.status === 'error') c.error(summary, 'error', text);
    else if (t.status === 'skip') c.skipped().standardOutput(summary);
    if (t.cases !== undefined) c.property('cases', String(t.cases));
    if (t.steps !== undefined) c.property('steps', String(t.steps));
  }
  return builder.build();
}

/** XML 1.0 cannot hold most control characters, even escaped: written as \u00XX (a case's data can hold any byte). */
function escapeControls(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
