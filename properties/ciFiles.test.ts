// What users drop into their CI: the GitHub workflow passes GitHub's workflow schema (through
// @action-validator/core), the GitLab jobs are YAML of the shape GitLab reads, and every
// ovlcheck command line in either is one the CLI accepts.
import fs from 'node:fs';
import { join } from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCommandLine } from './cliArgs.js';

const read = (f: string) => fs.readFileSync(join(import.meta.dirname, '..', 'ci', f), 'utf8');
/** A job's shell line as argv, with the CI variables given sample values. */
const VARS: Record<string, string> = { CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3', OVLCHECK_SEED: '2026', CI_PROJECT_DIR: '/builds/p' };
function argvOf(line: string): string[] {
  const expanded = line.replace(/\$\{?(\w+)\}?/g, (_, v: string) => VARS[v] ?? `UNSET-${v}`);
  return [...expanded.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}
/** The ovlcheck argv in a shell line (after `cli.js`, or after the image name `ovlcheck`), or null. */
function ovlcheckArgv(line: string): string[] | null {
  if (/docker build/.test(line)) return null; // the image is built, not run
  const argv = argvOf(line);
  const at = argv.findIndex((w) => w.endsWith('properties/cli.js') || w === 'ovlcheck');
  return at < 0 || at === argv.length - 1 ? null : argv.slice(at + 1);
}

describe('ci/', () => {
  it('github-workflow.yml passes the GitHub workflow schema, and a broken copy does not', () => {
    const text = read('github-workflow.yml');
    expect(validateWorkflow(text).errors).toEqual([]);
    expect(validateWorkflow(text.replace('runs-on:', 'runs_on:')).errors.length).toBeGreaterThan(0);
  });

  it('every ovlcheck command in the workflow and the GitLab jobs is one the CLI accepts', () => {
    const workflow = parseYaml(read('github-workflow.yml')) as { jobs: Record<string, { steps: { run?: string }[] }> };
    const gitlab = parseYaml(read('gitlab-ci.yml')) as Record<string, { script?: string[] }>;
    const lines = [
      ...Object.values(workflow.jobs).flatMap((j) => j.steps.flatMap((s) => (s.run ? [s.run] : []))),
      ...Object.values(gitlab).flatMap((j) => j.script ?? []),
    ];
    const commands = lines.map(ovlcheckArgv).filter((a): a is string[] => a !== null);
    expect(commands.map((a) => a[0]).sort()).toEqual(['matrix', 'merge', 'run', 'run']);
    for (const argv of commands) expect(parseCommandLine(argv).kind, argv.join(' ')).toBe('command');
  });

  it('gitlab-ci.yml: the run is split in parallel parts that one job merges into the JUnit report GitLab reads', () => {
    const gitlab = parseYaml(read('gitlab-ci.yml')) as Record<string, { parallel?: number; needs?: string[]; script?: string[]; artifacts?: { reports?: { junit?: string } } }>;
    const run = gitlab['ovlcheck-run'];
    const report = gitlab['ovlcheck-report'];
    expect(run.parallel).toBe(3);
    expect(run.script!.join(' ')).toContain('--shard "$CI_NODE_INDEX/$CI_NODE_TOTAL"');
    expect(report.needs).toEqual(['ovlcheck-run']);
    const merge = ovlcheckArgv(report.script!.join(' '))!;
    expect(merge[merge.indexOf('--junit') + 1]).toBe(`/builds/p/${report.artifacts!.reports!.junit}`);
  });
});
