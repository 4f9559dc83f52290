// `ovlcheck merge`: the --json results of a run's shards (`run --shard I/N`, one per CI job)
// joined into the results of the whole run, as if it had run in one job.

import { readFileSync } from 'node:fs';
import { UsageError, quote } from './cliArgs.js';
import { resultsSchema, totalsOf, verdictOf, type Results } from './outputs.js';

/** The merged exit code: an ovlcheck bug first, then a divergence, then what could not run. */
const PRECEDENCE = [3, 1, 2, 0];

export function readResults(file: string): Results {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${quote(file, 120)}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`${quote(file, 120)}: not JSON (expected what ovlcheck run --json writes)`);
  }
  const r = resultsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UsageError(`${quote(file, 120)}: not ovlcheck --json results (${issue.path.join('.') || 'top'}: ${issue.message})`);
  }
  return r.data;
}

/** argv without these flags (as `--flag VALUE` or `--flag=VALUE`). */
function without(argv: string[], flags: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (flags.includes(argv[i].replace(/=.*$/, ''))) {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    out.push(argv[i]);
  }
  return out;
}

/** What every shard of one run has in common: not its part, its output files or its worker count (the result is the same for any). */
const runLine = (argv: string[]): string => without(argv, ['--shard', '--junit', '--ktap', '--json', '--out', '--jobs']).join(' ');

/** Every shard 1..N of one run, once: its tests in shard order, totals and exit code as one run's. */
export function mergeResults(parts: { file: string; r: Results }[]): Results {
  const first = parts[0];
  const count = first.r.shard?.count;
  for (const { file, r } of parts) {
    if (!r.shard) throw new UsageError(`${quote(file, 120)}: not a shard (no --shard in its run)`);
    if (r.shard.count !== count) throw new UsageError(`${quote(file, 120)}: shard ${r.shard.index}/${r.shard.count}, the others are of ${count}`);
    for (const [what, a, b] of [['command', r.command, first.r.command], ['kernel', r.kernel, first.r.kernel], ['seed', r.seed, first.r.seed], ['command line', runLine(r.argv), runLine(first.r.argv)]] as const) {
      if (a !== b) throw new UsageError(`${quote(file, 120)}: another run (${what} ${JSON.stringify(a)}, not ${JSON.stringify(b)})`);
    }
  }
  const seen = new Map(parts.map((p) => [p.r.shard!.index, p.file]));
  if (seen.size !== parts.length) throw new UsageError('a shard is given twice');
  const missing = Array.from({ length: count! }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length) throw new UsageError(`shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')} missing`);
  const ordered = [...parts].sort((a, b) => a.r.shard!.index - b.r.shard!.index).map((p) => p.r);
  const tests = ordered.flatMap((r) => r.tests);
  const exitCode = PRECEDENCE.find((c) => ordered.some((r) => r.exitCode === c)) ?? Math.max(...ordered.map((r) => r.exitCode));
  return {
    ovlcheck: 1, kind: 'results', command: first.r.command, argv: without(first.r.argv, ['--shard']),
    kernel: first.r.kernel, ...(first.r.seed !== undefined ? { seed: first.r.seed } : {}),
    startedAt: ordered.map((r) => r.startedAt).sort()[0], elapsedMs: Math.max(...ordered.map((r) => r.elapsedMs)),
    exitCode, verdict: verdictOf(exitCode), totals: totalsOf(tests), tests,
  };
}
