// The command line, parsed without running anything: every bad one is a UsageError of one
// short line; help and version; the args the old hand-written parser produced; a fuzz.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { HARM_CLASSES } from './harm.js';
import { MUTATIONS } from './mutations.js';
import {
  checkOutDir, closest, commandFlags, COMMANDS, defaultCompareOut, driverWords, outDirOf, parseCommandLine, profilesToRun, quote,
  SEED_MAX, SEED_MIN, UsageError, type CommandLine, type CommandName,
} from './cliArgs.js';

const NOW = new Date('2026-12-01T10:20:30.456Z');
const parse = (argv: string[]): CommandLine => parseCommandLine(argv, { now: NOW });

/** The UsageError a command line gets; fails the test if it gets anything else. */
function usageError(argv: string[]): string {
  let thrown: unknown;
  try {
    const r = parse(argv);
    throw new Error(`accepted: ${JSON.stringify(argv)} -> ${JSON.stringify(r).slice(0, 300)}`);
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof UsageError)) throw thrown;
  const m = thrown.message;
  expect(m, JSON.stringify(argv)).not.toMatch(/[\n\r]/);
  expect(m.length, m).toBeLessThanOrEqual(200);
  expect(m.length).toBeGreaterThan(0);
  return m;
}

function args(argv: string[]): unknown {
  const r = parse(argv);
  if (r.kind !== 'command') throw new Error(`not a command: ${r.kind}`);
  return r.args;
}

/** What each command needs to be valid, so that one more flag is the only thing wrong. */
const BASE: Record<CommandName, string[]> = {
  run: [], compare: ['--driver', 'memfs-unionfs'], cross: ['--from', 'kernel', '--to', 'unionfs-fuse'], replay: ['case.json'],
  probe: [], stats: [], matrix: [], merge: ['r.json'], 'matrix-worker': ['job.json'],
  versions: ['fuse-overlayfs@1.10=a', 'fuse-overlayfs@1.16=b'], repro: ['case.json'],
};
const ALL: CommandName[] = [...COMMANDS, 'matrix-worker'];

describe('bad command lines: one UsageError line naming the problem', () => {
  // The edges a new user found, each with what it must say now.
  const reported: [string[], RegExp][] = [
    [['run', '--bogus-flag'], /^unknown option "--bogus-flag" \(ovlcheck run --help lists them\)$/],
    [['run', 'extra-positional'], /^unexpected argument "extra-positional"/],
    [['run', '--seed', '99999999999999999999'], /^--seed: expected an integer from -2147483648 to 2147483647 \(fast-check's 32-bit seed range\), got "99999999999999999999"$/],
    [['run', '--seed', 'x'], /^--seed: expected an integer from -2147483648 to 2147483647 .*got "x"$/],
    [['run', '--runs', '99999999999999999999'], /^--runs: expected an integer from 1 to 1000000000, got "99999999999999999999"$/],
    [['run', '--path', 'garbage'], /^--path: expected fast-check's replay path, numbers separated by ":" \(e\.g\. 12:3:0\), got "garbage"$/],
    [['--frobnicate'], /^unknown option "--frobnicate" \(options go after the command/],
    [['frobnicate'], /^unknown command "frobnicate" \(commands: run, compare, cross, replay, probe, stats, matrix, merge, versions, repro; ovlcheck --help\)$/],
    [['compare'], /^compare needs --driver NAME \(one of: kernel, fuse-overlayfs, unionfs-fuse, memfs-unionfs, exec, planted\)$/],
  ];
  // More of them, by hand: suggestions, values that look like options, names every object has.
  const more: [string[], RegExp][] = [
    [['compare', '--driver', 'unionfs-fuse@2.1'], /^--driver: no known build "unionfs-fuse@2\.1" \(known: fuse-overlayfs@1\.10, fuse-overlayfs@1\.16, unionfs-fuse@1\.0, unionfs-fuse@3\.7; any other with --binary PATH\)$/],
    [['compare', '--driver', 'memfs-unionfs@4.6'], /^--driver memfs-unionfs: a version or --binary is for fuse-overlayfs and unionfs-fuse$/],
    [['compare', '--driver', 'kernel', '--binary', '/bin/x'], /^--driver kernel: a version or --binary is for fuse-overlayfs and unionfs-fuse$/],
    [['compare', '--driver', 'fuse-overlayfs@1.16', '--binary', '/bin/x'], /^--driver NAME@VERSION and --binary: give one of them$/],
    [['compare', '--driver', 'fuse-overlayfs@'], /^--driver: no known build "fuse-overlayfs@"/],
    [['run', '--rnus', '3'], /^unknown option "--rnus" \(did you mean --runs\?\)$/],
    [['run', '--time', '30'], /did you mean --time-budget\?/],
    [['run', '-runs', '3'], /^unknown option "-runs" \(did you mean --runs\?\)$/],
    [['run', '-x'], /^unknown option "-x"/],
    [['run', '--seeds', '3'], /did you mean --seed\?/],
    [['rnu'], /^unknown command "rnu" \(did you mean run\?/],
    [['--verison'], /did you mean --version\?/],
    [['run', '--out'], /^--out needs a value \(DIR\)$/],
    [['run', '--out', '--runs', '3'], /^--out needs a value \(DIR\), not the option "--runs" \(write --out=VALUE/],
    [['run', '--runs', '--', '3'], /^--runs needs a value \(N\), not the option "--"/],
    [['run', '--steps', '-1'], /^--steps: expected an integer from 0 to 10000, got "-1"$/],
    [['run', '--runs', '1e3'], /^--runs: expected an integer/],
    [['run', '--runs', '0x10'], /^--runs: expected an integer/],
    [['run', '--runs', ' 5'], /^--runs: expected an integer/],
    [['run', '--runs', '5.0'], /^--runs: expected an integer/],
    [['run', '--runs='], /^--runs: expected an integer .*got ""$/],
    [['run', '--max-lowers', '401'], /^--max-lowers: expected an integer from 1 to 400, got "401"$/],
    [['run', '--time-budget', '0'], /^--time-budget: expected an integer from 1 to/],
    [['run', '--profile', 'nope'], /^--profile: unknown profile "nope" \(ovlcheck help run lists all \d+\)$/],
    [['run', '--profile', 'indx'], /^--profile: unknown profile "indx" \(did you mean index\?/],
    [['run', '--profile', '__proto__'], /^--profile: unknown profile "__proto__"/],
    [['run', '--profile', 'constructor'], /^--profile: unknown profile "constructor"/],
    [['run', '--mutate', 'toString'], /^--mutate: unknown mutation "toString"/],
    [['run', '--mutate', 'no-whiteout-on-unlnk'], /did you mean no-whiteout-on-unlink\?/],
    [['run', '--options', '__proto__=1'], /^--options: unknown or unsupported mount option "__proto__=1"$/],
    [['run', '--options', 'constructor'], /^--options: unknown or unsupported mount option "constructor"$/],
    [['run', '--options', 'xino=maybe'], /^--options: bad value for xino: "maybe" \(one of on, auto, off\)$/],
    [['run', '--options', 'metacopy=on,redirect_dir=nofollow'], /^--options: conflicting options \(S1\.15\)/],
    [['run', '--options', `a\nb${'x'.repeat(300)}`], /^--options: unknown or unsupported mount option "a\\nbx+\.\.\."$/],
    [['run', '--profile', 'index', '--options', 'ro'], /^give --profile or --options, not both$/],
    [['run', '--profile', 'all', '--options', 'ro'], /^give --profile or --options, not both$/],
    [['run', '--profile', 'none'], /^--profile none runs only the option sets: give --option-sets N too$/],
    [['run', '--option-sets', '5', '--mutate', 'uuid-written'], /^--option-sets cannot go with --mutate or --path/],
    [['run', '--option-sets', '-1'], /option-sets/],
    [['run', '--path', '1:2'], /^--path replays one run: give its --seed too$/],
    [['run', '--path', '1:2', '--seed', '1'], /^--path replays one profile's run: give its --profile NAME \(or --options\) too$/],
    [['run', '--path', '1::2', '--seed', '1', '--profile', 'index'], /^--path: expected/],
    [['run', '--path', '1:99999999999999999999', '--seed', '1', '--profile', 'index'], /^--path: expected/],
    [['run', '--path', '-1', '--seed', '1', '--profile', 'index'], /^--path needs a value/],
    [['run', '--out', ''], /^--out: empty value \(DIR\)$/],
    [['probe', '--json=1'], /^--json takes no value \(got "1"\)$/],
    [['probe', '--help=1'], /^--help takes no value$/],
    [['compare', '--driver', 'zfs'], /^--driver: unknown driver "zfs" \(one of: kernel, fuse-overlayfs, unionfs-fuse, memfs-unionfs, exec, planted\)$/],
    [['compare', '--driver', 'exec'], /^driver exec: the exec driver needs --mount-cmd "\.\.\." \(see README, "Your own implementation"\)$/],
    [['compare', '--driver', 'planted'], /^--driver planted needs --plant FAULT\[,FAULT\] \(and --plant is for it only\)$/],
    [['compare', '--driver', 'memfs-unionfs', '--plant', 'copyup-writes-lower'], /^--driver planted needs --plant/],
    [['compare', '--driver', 'planted', '--plant', 'copyup-writes-lowr'], /^--plant: unknown fault "copyup-writes-lowr" \(did you mean copyup-writes-lower\?/],
    [['compare', '--driver', 'planted', '--plant', ','], /^--plant: unknown fault ","/],
    [['compare', '--driver', 'planted', '--plant', 'constructor'], /^--plant: unknown fault "constructor"/],
    [['compare', '--driver', 'memfs-unionfs', '--mount-cmd', 'x'], /^--mount-cmd, --umount-cmd and --codec are for --driver exec$/],
    [['compare', '--driver', 'exec', '--mount-cmd', 'x', '--codec', 'zip'], /^--codec: unknown layer format "zip" \(one of: kernel, fuse-overlayfs, unionfs-fuse\)$/],
    [['compare', '--driver', 'exec', '--mount-cmd', 'x', '--codec', 'constructor'], /^--codec: unknown layer format "constructor"/],
    [['compare', '--driver', 'kernel', '--against', 'kernel'], /^--against kernel needs another --driver than kernel$/],
    [['compare', '--driver', 'memfs-unionfs', '--against', 'both'], /^--against: expected model or kernel, got "both"$/],
    [['compare', '--driver', 'memfs-unionfs', '--fail-on', 'data,cosmetic'], /^--fail-on: "cosmetic" is not a harm class \(data, hang, outcome, metadata, bookkeeping\)$/],
    [['compare', '--driver', 'memfs-unionfs', '--fail-on', ','], /^--fail-on: "," is not a harm class/],
    [['compare', '--driver', 'memfs-unionfs', '--profile', 'all'], /^--profile: compare runs one profile/],
    [['compare', '--driver', 'memfs-unionfs', '--force=yes'], /^--force takes no value/],
    [['cross', '--from', 'kernel'], /^cross needs --from NAME and --to NAME$/],
    [['cross', '--from', 'kernel', '--to', 'kernel'], /^cross needs two different implementations$/],
    [['cross', '--from', 'memfs-unionfs', '--to', 'kernel'], /^--from: expected kernel, fuse-overlayfs or unionfs-fuse, got "memfs-unionfs"$/],
    [['replay'], /^replay needs at least one case file$/],
    [['replay', '--kernel', '6.1', '--driver', 'memfs-unionfs', 'a.json'], /^--kernel replays the kernel against the model$/],
    [['replay', '--kernel', 'linux-6.1', 'a.json'], /^--kernel: expected host, a line such as 6\.1, or a linux-image-\* package, got "linux-6\.1"$/],
    [['replay', '--kernel', 'linux-image-$(reboot)', 'a.json'], /^--kernel: expected/],
    [['replay', '--kernel'], /^--kernel needs a value \(SPEC\)$/],
    [['replay', '--bogus', 'a.json'], /^unknown option "--bogus"/],
    [['replay', '--out', 'o', 'a.json'], /^--out: replay writes only the coverage table there: give --coverage too$/],
    [['stats', '--profile', 'all'], /^--profile: stats runs one profile/],
    [['stats', '--cases', '0'], /^--cases: expected an integer from 1 to 1000000000, got "0"$/],
    [['matrix', '--kernels', ','], /^--kernels: name at least one/],
    [['matrix', '--kernels', 'host,7'], /^--kernels: "7" is not host, a line such as 6\.1, or a linux-image-\* package$/],
    [['matrix', '--kernels', 'host,6.1,host'], /^--kernels: "host" is named twice$/],
    [['matrix', '--cross', '-1'], /^--cross: expected an integer from 0 to 1000000000, got "-1"$/],
    [['matrix', '--worker-limit', '100000'], /^--worker-limit: expected an integer from 1 to 10080 \(a week at most\)/],
    [['matrix', '--jobs', '0'], /^--jobs: expected an integer from 1 to 64/],
    [['matrix', '--options', 'ro'], /^unknown option "--options"/],
    [['matrix-worker'], /^matrix-worker needs JOB\.json$/],
    [['matrix-worker', 'a.json', 'b.json'], /^unexpected argument "b\.json" \(matrix-worker takes one JOB\.json\)$/],
    [['help', 'frobnicate'], /^unknown command "frobnicate"/],
    [['help', 'run', 'compare'], /^unexpected argument "compare"/],
    [['--version', 'run'], /^unexpected argument "run"/],
    [['run', `--${'x'.repeat(500)}`], /^unknown option "--x{38}\.\.\." \(ovlcheck run --help lists them\)$/],
  ];
  it.each([...reported, ...more])('%j', (argv, expected) => {
    expect(usageError(argv)).toMatch(expected);
  });

  // Every command: an unknown flag, a stray word, each flag without its value, each integer
  // malformed and just out of its range, each string flag empty.
  const generated: [string[], RegExp][] = [];
  for (const cmd of ALL) {
    const base = [cmd, ...BASE[cmd]];
    generated.push([[...base, '--bogus-flag'], /^unknown option "--bogus-flag"/]);
    generated.push([[...base, '--bogus-flag=3'], /^unknown option "--bogus-flag"/]);
    generated.push([[...base, '--no-such', 'value'], /^unknown option "--no-such"/]);
    if (cmd !== 'replay' && cmd !== 'merge' && cmd !== 'repro') generated.push([[...base, 'stray'], /^unexpected argument "stray"/]);
    for (const f of commandFlags(cmd)) {
      if (f.kind === 'bool') {
        generated.push([[...base, `--${f.name}=1`], new RegExp(`^--${f.name} takes no value`)]);
        continue;
      }
      generated.push([[...base, `--${f.name}`], new RegExp(`^--${f.name} needs a value`)]);
      generated.push([[...base, `--${f.name}`, '--bogus-flag'], new RegExp(`^--${f.name} needs a value .*not the option "--bogus-flag"`)]);
      if (f.kind === 'string' && f.name !== 'options') generated.push([[...base, `--${f.name}=`], new RegExp(`^--${f.name}: empty value`)]);
      if (f.kind !== 'int') continue;
      const bad = new RegExp(`^--${f.name}: expected an integer from ${f.min} to ${f.max}`);
      for (const v of ['x', '1.5', '1e3', '0x10', '', '+1', '99999999999999999999', String(f.min! - 1), String(f.max! + 1), String(2 ** 53)]) {
        generated.push([[...base, `--${f.name}=${v}`], bad]);
      }
      generated.push([[...base, `--${f.name}`, String(f.max! + 1)], bad]);
    }
  }
  it.each(generated)('%j', (argv, expected) => {
    expect(usageError(argv)).toMatch(expected);
  });

  it('echoed values are cut to about 40 characters and kept on one line', () => {
    const m = usageError(['run', '--runs', `${'9'.repeat(100)}\n\u2028x`]);
    expect(m).toMatch(/got "9{40}\.\.\."$/);
    expect(quote('a"b\\c\nd\u0001\u2028')).toBe('"a\\"b\\\\c\\nd\\u0001\\u2028"');
    expect(quote('x'.repeat(41))).toBe(`"${'x'.repeat(40)}..."`);
  });
});

describe('help and version', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };

  it('the overview: --help, -h, help; every command, the exit codes; no arguments: the same, exit 2', () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['help', 'help']]) {
      const r = parse(argv);
      expect(r).toMatchObject({ kind: 'help', exitCode: 0 });
      const text = (r as { text: string }).text;
      for (const c of COMMANDS) expect(text).toContain(`ovlcheck ${c}`);
      expect(text).not.toContain('matrix-worker');
      expect(text).toContain('exit: 0 conforms, 1 divergence, 2 bad input or environment, 3 internal error');
      for (const m of Object.keys(MUTATIONS)) expect(text).toContain(m);
      expect(text).toContain('--version');
    }
    expect(parse([])).toMatchObject({ kind: 'help', exitCode: 2, text: (parse(['--help']) as { text: string }).text });
  });

  it.each(ALL)('%s: CMD --help, CMD -h, help CMD, --help CMD all give its usage with every flag', (cmd) => {
    const texts = [[cmd, '--help'], [cmd, '-h'], ['help', cmd], ['--help', cmd], [cmd, ...BASE[cmd], '--help']].map((argv) => {
      const r = parse(argv);
      expect(r.kind, JSON.stringify(argv)).toBe('help');
      expect((r as { exitCode: number }).exitCode).toBe(0);
      return (r as { text: string }).text;
    });
    expect(new Set(texts).size).toBe(1);
    expect(texts[0]).toMatch(new RegExp(`^usage: ovlcheck ${cmd}`));
    for (const f of commandFlags(cmd)) expect(texts[0]).toContain(`--${f.name}`);
  });

  it('help wins over whatever else is wrong on the line', () => {
    for (const argv of [['run', '--bogus', '--help'], ['run', '--out', '--help'], ['compare', '-h'], ['replay', '--help'], ['cross', '--runs', 'x', '-h']]) {
      expect(parse(argv).kind, JSON.stringify(argv)).toBe('help');
    }
    // After "--" it is a file name.
    expect(args(['replay', '--', '--help'])).toMatchObject({ files: ['--help'] });
  });

  it('each command help gives defaults and bounds', () => {
    const run = (parse(['help', 'run']) as { text: string }).text;
    expect(run).toMatch(/--seed N +fast-check's seed \(-2147483648\.\.2147483647; default: random/);
    expect(run).toMatch(/--runs N .*\(1\.\.1000000000; default: 300\)/);
    const compare = (parse(['help', 'compare']) as { text: string }).text;
    expect(compare).toContain('ovlcheck-out/compare-<driver>[-vs-kernel]-<time>');
    expect(compare).toContain('--force');
  });

  it('--version and -V: the version in package.json', () => {
    expect(parse(['--version'])).toEqual({ kind: 'version', text: `ovlcheck ${pkg.version}` });
    expect(parse(['-V'])).toEqual({ kind: 'version', text: `ovlcheck ${pkg.version}` });
  });
});

describe('valid command lines: the args the old parser (cli.ts before issue 11) gave', () => {
  const ALL_CLASSES = [...HARM_CLASSES];
  it.each<[string[], object]>([
    [['run', '--runs', '5', '--steps', '0', '--seed', '7'],
      { runs: 5, steps: 0, maxLowers: 4, entries: 12, seed: 7, out: 'ovlcheck-out', profile: 'all', rotate: 1 , optionSets: 10 }],
    [['run', '--profile', 'index', '--max-lowers', '400', '--entries', '3', '--rotate', '0', '--out', '/tmp/x', '--time-budget', '60', '--seed=-2147483648'],
      { runs: 300, steps: 25, maxLowers: 400, entries: 3, seed: -2147483648, out: '/tmp/x', profile: 'index', rotate: 0, timeBudget: 60 , optionSets: 0 }],
    [['run', '--seed', '-5', '--runs', '3', '--runs', '4'], // a negative seed as its own word; the last of a flag wins
      { runs: 4, steps: 25, maxLowers: 4, entries: 12, seed: -5, out: 'ovlcheck-out', profile: 'all', rotate: 1 , optionSets: 8 }],
    [['run', '--options', 'userxattr,xino=on', '--seed', '1'],
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 1, out: 'ovlcheck-out', profile: 'all', options: 'userxattr,xino=on', rotate: 1 , optionSets: 0 }],
    [['run', '--options=', '--seed', '1'], // no options at all: the kernel's defaults
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 1, out: 'ovlcheck-out', profile: 'all', options: '', rotate: 1 , optionSets: 0 }],
    [['run', '--runs', '200', '--seed', '5', '--mutate', 'no-whiteout-on-unlink', '--out', 'o'], // the mutation's profile
      { runs: 200, steps: 25, maxLowers: 4, entries: 12, seed: 5, out: 'o', profile: MUTATIONS['no-whiteout-on-unlink'].profile, rotate: 1, mutate: 'no-whiteout-on-unlink' , optionSets: 0 }],
    [['run', '--coverage', '--seed', '5'],
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 5, out: 'ovlcheck-out', profile: 'all', rotate: 1, coverage: true, optionSets: 600 }],
    [['replay', '--coverage', 'a.json'], { kernel: 'host', driver: 'kernel', against: 'model', files: ['a.json'], coverage: true, out: 'ovlcheck-out' }],
    [['replay', 'a.json', '--out', 'o', '--coverage'], { kernel: 'host', driver: 'kernel', against: 'model', files: ['a.json'], coverage: true, out: 'o' }],
    [['run', '--mutate', 'uuid-written', '--profile', 'index', '--seed', '5'],
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 5, out: 'ovlcheck-out', profile: 'index', rotate: 1, mutate: 'uuid-written' , optionSets: 0 }],
    [['run', '--seed', '1134265845', '--path', '12:3:0', '--profile', 'metacopy'],
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 1134265845, path: '12:3:0', out: 'ovlcheck-out', profile: 'metacopy', rotate: 1 , optionSets: 0 }],
    [['run', '--profile', 'none', '--option-sets', '51', '--seed', '2'],
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 2, out: 'ovlcheck-out', profile: 'none', rotate: 1, optionSets: 51 }],
    [['run', '--profile', 'index', '--option-sets', '3', '--seed', '2'],
      { runs: 300, steps: 25, maxLowers: 4, entries: 12, seed: 2, out: 'ovlcheck-out', profile: 'index', rotate: 1, optionSets: 3 }],
    [['compare', '--driver', 'memfs-unionfs', '--seed', '3'],
      { driver: 'memfs-unionfs', against: 'model', runs: 300, steps: 25, seed: 3, maxFindings: 20, profile: 'default', maxLowers: 4, entries: 12, rotate: 1,
        timeBudget: 300, failOn: ALL_CLASSES, out: defaultCompareOut('memfs-unionfs', 'model', NOW), force: false }],
    [['compare', '--driver=fuse-overlayfs', '--against', 'kernel', '--fail-on', 'data, hang', '--max-findings', '5', '--time-budget', '20',
      '--expectations', 'e.json', '--out', 'o', '--force', '--seed', '1', '--runs', '3', '--steps', '10', '--rotate', '20'],
      { driver: 'fuse-overlayfs', against: 'kernel', runs: 3, steps: 10, seed: 1, maxFindings: 5, profile: 'default', maxLowers: 4, entries: 12, rotate: 20,
        timeBudget: 20, failOn: ['data', 'hang'], out: 'o', force: true, expectations: 'e.json' }],
    [['compare', '--driver', 'exec', '--mount-cmd', 'mnt {lowerdir} {merged}', '--umount-cmd=umount -l {merged}', '--codec', 'fuse-overlayfs', '--seed', '1', '--profile', 'index'],
      { driver: 'exec', against: 'model', mountCmd: 'mnt {lowerdir} {merged}', umountCmd: 'umount -l {merged}', codec: 'fuse-overlayfs', runs: 300, steps: 25, seed: 1,
        maxFindings: 20, profile: 'index', maxLowers: 4, entries: 12, rotate: 1, timeBudget: 300, failOn: ALL_CLASSES,
        out: defaultCompareOut('exec', 'model', NOW), force: false }],
    [['compare', '--driver', 'planted', '--plant', 'copyup-writes-lower,link-nlink-stale', '--seed', '1'],
      { driver: 'planted', against: 'model', plant: ['copyup-writes-lower', 'link-nlink-stale'], runs: 300, steps: 25, seed: 1, maxFindings: 20, profile: 'default',
        maxLowers: 4, entries: 12, rotate: 1, timeBudget: 300, failOn: ALL_CLASSES, out: defaultCompareOut('planted', 'model', NOW), force: false }],
    [['cross', '--from', 'kernel', '--to', 'fuse-overlayfs', '--seed', '9'], { from: 'kernel', to: 'fuse-overlayfs', runs: 100, steps: 15, seed: 9, out: 'ovlcheck-out' }],
    [['cross', '--to=kernel', '--from=unionfs-fuse', '--runs', '2', '--steps', '3', '--seed', '0'], { from: 'unionfs-fuse', to: 'kernel', runs: 2, steps: 3, seed: 0, out: 'ovlcheck-out' }],
    [['replay', 'a.json', 'b.json'], { kernel: 'host', driver: 'kernel', against: 'model', files: ['a.json', 'b.json'] }],
    [['replay', '--kernel', '6.1', 'a.json'], { kernel: '6.1', driver: 'kernel', against: 'model', files: ['a.json'] }],
    [['replay', '--kernel=linux-image-6.12.117+deb12-amd64', 'a.json'], { kernel: 'linux-image-6.12.117+deb12-amd64', driver: 'kernel', against: 'model', files: ['a.json'] }],
    [['replay', 'a.json', '--driver', 'unionfs-fuse', '--against', 'kernel', 'b.json'],
      { kernel: 'host', driver: 'unionfs-fuse', against: 'kernel', files: ['a.json', 'b.json'] }],
    [['compare', '--driver', 'fuse-overlayfs@1.16', '--seed', '1'],
      { driver: 'fuse-overlayfs', version: '1.16', against: 'model', runs: 300, steps: 25, seed: 1, maxFindings: 20, profile: 'default', maxLowers: 4, entries: 12, rotate: 1,
        timeBudget: 300, failOn: ALL_CLASSES, out: defaultCompareOut('fuse-overlayfs', 'model', NOW, '1.16'), force: false }],
    [['replay', '--driver', 'unionfs-fuse', '--binary', '/opt/u/unionfs', 'a.json'],
      { kernel: 'host', driver: 'unionfs-fuse', binary: '/opt/u/unionfs', against: 'model', files: ['a.json'] }],
    [['replay', '--', '-odd.json'], { kernel: 'host', driver: 'kernel', against: 'model', files: ['-odd.json'] }],
    [['probe'], { json: false }],
    [['probe', '--json'], { json: true }],
    [['stats', '--cases', '300'], { cases: 300, steps: 25, seed: 1, profile: 'default' }],
    [['stats', '--steps', '0', '--seed', '-1', '--profile', 'index'], { cases: 2000, steps: 0, seed: -1, profile: 'index' }],
    [['matrix', '--seed', '2'],
      { kernels: ['host', '6.1', '6.12'], runs: 300, steps: 25, seed: 2, jobs: 2, cross: 40, cliRuns: 3, profile: 'all', out: path.join('reports', 'matrix'), workerLimit: 40, rotate: 1 }],
    [['matrix', '--kernels', 'host, 6.1,', '--seed', '1', '--cross', '0', '--cli-runs', '0', '--jobs', '3', '--worker-limit', '10', '--out', 'o', '--profile', 'index', '--runs', '7', '--steps', '1', '--rotate', '0'],
      { kernels: ['host', '6.1'], runs: 7, steps: 1, seed: 1, jobs: 3, cross: 0, cliRuns: 0, profile: 'index', out: 'o', workerLimit: 10, rotate: 0 }],
    [['matrix-worker', '/tmp/job/job.json'], { job: '/tmp/job/job.json' }],
  ])('%j', (argv, expected) => {
    expect(args(argv)).toEqual(expected);
  });

  it('the default seed is random, within fast-check\'s 32-bit range, and given to every command that draws one', () => {
    for (const argv of [['run'], ['compare', '--driver', 'memfs-unionfs'], ['cross', '--from', 'kernel', '--to', 'unionfs-fuse'], ['matrix']]) {
      const seed = (args(argv) as { seed: number }).seed;
      expect(Number.isInteger(seed) && seed >= SEED_MIN && seed <= SEED_MAX).toBe(true);
    }
  });

  it('driverWords: the --driver words that choose the same build again', () => {
    expect(driverWords({ driver: 'fuse-overlayfs', version: '1.16' })).toBe('fuse-overlayfs@1.16');
    expect(driverWords({ driver: 'unionfs-fuse', binary: '/opt/my build/unionfs' })).toBe("unionfs-fuse --binary '/opt/my build/unionfs'");
    expect(driverWords({ driver: 'kernel' })).toBe('kernel');
    expect(defaultCompareOut('unionfs-fuse', 'kernel', NOW, '3.7')).toBe(path.join('ovlcheck-out', 'compare-unionfs-fuse-3.7-vs-kernel-2026-12-01T10-20-30-456Z'));
  });

  it('compare\'s default report directory is fresh: per driver, reference and time, under ovlcheck-out', () => {
    expect(defaultCompareOut('fuse-overlayfs', 'kernel', NOW)).toBe(path.join('ovlcheck-out', 'compare-fuse-overlayfs-vs-kernel-2026-12-01T10-20-30-456Z'));
    const a = parseCommandLine(['compare', '--driver', 'memfs-unionfs']);
    const b = parseCommandLine(['compare', '--driver', 'memfs-unionfs'], { now: new Date(Date.now() + 1) });
    expect(outDirOf(a as never)!.dir).not.toBe(outDirOf(b as never)!.dir);
    expect(outDirOf(a as never)!.dir).not.toMatch(/^reports/);
  });

  it('profilesToRun: all of them, one by name, or exactly the options given', () => {
    expect(profilesToRun({ profile: 'all' }).length).toBeGreaterThan(10);
    expect(profilesToRun({ profile: 'index' }).map((p) => p.name)).toEqual(['index']);
    expect(profilesToRun({ profile: 'all', options: 'userxattr' })[0]).toMatchObject({ name: 'custom', userxattr: true, redirect_dir: 'nofollow' });
  });
});

describe('checkOutDir: the output directory, before anything runs', () => {
  const made: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(process.env.OVLCHECK_TMP ?? os.tmpdir(), 'cliargs-'));
    made.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });
  const refused = (dir: string, o?: { force?: boolean }) => {
    try {
      checkOutDir(dir, o);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      expect((e as Error).message).not.toContain('\n');
      return (e as Error).message;
    }
    throw new Error(`accepted ${dir}`);
  };

  it('an existing dir, or one whose nearest existing ancestor is a writable dir: accepted, nothing made', () => {
    const d = tmp();
    checkOutDir(d);
    checkOutDir(path.join(d, 'a', 'b', 'c'));
    expect(fs.existsSync(path.join(d, 'a'))).toBe(false);
    fs.symlinkSync(d, path.join(d, 'link'));
    checkOutDir(path.join(d, 'link', 'x'));
  });

  it('/proc, /sys and other kernel interfaces: refused, not spun on', () => {
    expect(refused('/proc/foo')).toMatch(/^--out "\/proc\/foo": "\/proc" is on proc/);
    expect(refused('/proc/self/foo/bar')).toMatch(/is on proc/);
    expect(refused('/proc')).toMatch(/^--out "\/proc": it is on proc/);
    if (fs.existsSync('/sys/kernel')) expect(refused('/sys/kernel/ovlcheck')).toMatch(/is on sysfs/);
  });

  it('a file on the way, a dangling symlink: refused', () => {
    const d = tmp();
    fs.writeFileSync(path.join(d, 'f'), '');
    expect(refused(path.join(d, 'f'))).toMatch(/: not a directory$/);
    expect(refused(path.join(d, 'f', 'x'))).toMatch(/"[^"]*f" is not a directory$/);
    fs.symlinkSync(path.join(d, 'nowhere'), path.join(d, 'dangling'));
    expect(refused(path.join(d, 'dangling', 'x'))).toMatch(/is a symlink to nothing$/);
  });

  it.skipIf(process.getuid?.() === 0)('a dir this user cannot write: refused', () => {
    const d = tmp();
    fs.chmodSync(d, 0o555);
    expect(refused(path.join(d, 'x'))).toMatch(/is not writable \(EACCES\)$/);
  });

  it('a dir that holds a report: refused unless --force', () => {
    for (const f of ['report.json', 'report.md']) {
      const d = tmp();
      fs.writeFileSync(path.join(d, f), '{}');
      expect(refused(d)).toMatch(new RegExp(`already holds a report \\(${f.replace('.', '\\.')}\\); give another --out, or --force to write over it$`));
      checkOutDir(d, { force: true });
      checkOutDir(path.join(d, 'sub')); // a fresh dir below one is fine
    }
  });

  it('outDirOf: compare refuses to write over a report unless --force; run and matrix write beside one', () => {
    const c = (argv: string[]) => outDirOf(parse(argv) as never);
    expect(c(['compare', '--driver', 'memfs-unionfs', '--out', 'o'])).toEqual({ dir: 'o', force: false });
    expect(c(['compare', '--driver', 'memfs-unionfs', '--out', 'o', '--force'])).toEqual({ dir: 'o', force: true });
    expect(c(['run'])).toEqual({ dir: 'ovlcheck-out', force: true });
    expect(c(['matrix'])).toEqual({ dir: path.join('reports', 'matrix'), force: true });
    expect(c(['probe'])).toBeUndefined();
    expect(c(['replay', 'a.json'])).toBeUndefined(); // replay writes nothing, unless:
    expect(c(['replay', '--coverage', '--out', 'o', 'a.json'])).toEqual({ dir: 'o', force: true });
  });
});

describe('fuzz: any argv is parsed or refused with a UsageError, nothing else', () => {
  const flags = [...new Set(ALL.flatMap((c) => commandFlags(c).map((f) => `--${f.name}`)))];
  const word = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...flags, '--help', '-h', '--version', '-V', '--', '-', '--force', '--json') },
    { weight: 3, arbitrary: fc.constantFrom(...flags).chain((f) => fc.oneof(fc.string(), fc.integer().map(String)).map((v) => `${f}=${v}`)) },
    { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.bigInt(), fc.double()).map(String) },
    { weight: 2, arbitrary: fc.string() },
    { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom('kernel', 'memfs-unionfs', 'exec', 'planted', 'fuse-overlayfs', 'model', 'index', 'all', 'default', '__proto__',
        'constructor', 'toString', 'hasOwnProperty', 'host', '6.1', 'linux-image-6.1.0-1-amd64', 'copyup-writes-lower', 'data', 'a.json', '1:2:3', 'ro', 'xino=on'),
    },
  );
  const anyArgv = fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...ALL, 'help') }, { weight: 1, arbitrary: word }), fc.array(word, { maxLength: 8 }))
    .map(([first, rest]) => [first, ...rest]);
  // A command with its own flags and values near their bounds: mostly accepted lines.
  const value = fc.oneof(fc.constantFrom('kernel', 'memfs-unionfs', 'exec', 'planted', 'unionfs-fuse', 'model', 'index', 'default', 'all', 'host',
    '6.1', 'copyup-writes-lower', 'data,hang', 'o', 'x.json', '1:2', 'ro', 'no-whiteout-on-unlink'), fc.string());
  const ownWord = (cmd: CommandName): fc.Arbitrary<string[]> => commandFlags(cmd).length === 0 ? value.map((v) => [v]) : fc.constantFrom(...commandFlags(cmd)).chain((f): fc.Arbitrary<string[]> =>
    f.kind === 'bool' ? fc.constant([`--${f.name}`])
      : f.kind === 'int' ? fc.integer({ min: f.min! - 2, max: Math.min(f.max! + 2, 2 ** 40) }).map((n) => [`--${f.name}=${n}`])
        : value.map((v) => [`--${f.name}`, v]));
  const ownArgv = fc.constantFrom(...ALL).chain((cmd) => fc.tuple(fc.array(ownWord(cmd), { maxLength: 6 }), fc.array(value, { maxLength: 2 }))
    .map(([ws, pos]) => [cmd, ...BASE[cmd], ...ws.flat(), ...pos]));
  const argv: fc.Arbitrary<string[]> = fc.oneof(anyArgv, ownArgv);

  it('returns help, version or a command whose integers are in their bounds, or throws UsageError', () => {
    fc.assert(fc.property(argv, (a) => {
      let r: CommandLine;
      try {
        r = parse(a);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        return !e.message.includes('\n') && e.message.length <= 200 && e.message.length > 0;
      }
      if (r.kind !== 'command') return typeof r.text === 'string' && r.text.length > 0;
      const bounds = new Map(commandFlags(r.cmd).filter((f) => f.kind === 'int').map((f) => [f.name.replace(/-(.)/g, (_, c: string) => c.toUpperCase()), f]));
      for (const [k, v] of Object.entries(r.args)) {
        const b = bounds.get(k);
        if (b && !(Number.isSafeInteger(v) && v >= b.min! && v <= b.max!)) return false;
      }
      return true;
    }), { numRuns: 3000 });
  });

  it('closest: a name within reach, or none', () => {
    fc.assert(fc.property(fc.string(), fc.array(fc.string()), (g, known) => {
      const c = closest(g, known);
      return c === undefined || known.includes(c);
    }));
  });
});
