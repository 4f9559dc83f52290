// The command line of ovlcheck: one declarative spec per command (its flags, their kinds,
// bounds and defaults, its usage text), parsed with node:util parseArgs into a typed args
// object per command. Parsing is pure (no file system, no probing of the machine): every bad
// command line is a UsageError with one line naming the problem. What needs the machine is
// kept apart, for the CLI to call before anything runs: checkDriverEnvironment (can this
// machine run the driver) and checkOutDir (can the output directory be made and written).
//
// parseArgs runs with strict: false and tokens: true, and this module checks the tokens
// itself: strict mode would reject "--seed -5" (a value that starts with "-"), and its errors
// name neither the closest known option nor the command's help, nor give the bounds of a flag.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { namedProfile, notModelled, ParamError, PROFILES, resolveProfile, type Profile } from '../model/index.js';
import { CODECS, DRIVER_NAMES, probeDriver, type DriverArgs, type DriverName } from '../harness/drivers/index.js';
import { KNOWN_BUILDS, type FuseName } from '../harness/drivers/builds.js';

/** fuse-overlayfs@1.10, ...: every NAME@VERSION --driver takes. */
function knownBuilds(): string {
  return Object.entries(KNOWN_BUILDS).flatMap(([name, builds]) => Object.keys(builds).map((v) => `${name}@${v}`)).join(', ');
}
import { PLANTED } from '../harness/drivers/planted.js';
import { HARM_CLASSES, isHarmClass, type HarmClass } from './harm.js';
import { MUTATIONS } from './mutations.js';
import type { OutputFiles } from './outputs.js';

/** A bad command line (or an output directory that cannot be used): one line, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'UsageError';
  }
}

// ---------------------------------------------------------------------------------------------
// The args of each command (the same fields and defaults as the hand-written parser had).

export interface DriverChoice extends DriverArgs {
  driver: DriverName;
  against: 'model' | 'kernel';
}

export interface RunArgs {
  runs: number; steps: number; maxLowers: number; entries: number; seed: number; path?: string;
  timeBudget?: number; out: string; mutate?: string; profile: string; options?: string; rotate: number;
  /** Cases spread over the random option sets (properties/optionSets.ts); 0: none. */
  optionSets: number;
  /** --coverage: write coverage.md and coverage.json (by catalog item) in out. */
  coverage?: true;
  /** --junit, --ktap, --json, where given. */
  outputs?: OutputFiles;
  /** --shard I/N: this part of the run (properties/suite.ts). */
  shard?: { index: number; count: number };
  /** --jobs N: worker processes (properties/workers.ts); without it, one per core. */
  jobs?: number;
}

export interface MergeArgs {
  files: string[];
  outputs?: OutputFiles;
}

/** `repro CASE...`: standalone shell reproducers of compare's cases. */
export interface ReproArgs extends DriverChoice {
  files: string[];
  /** Where the scripts go; default: repro/ beside each case's cases/ dir. */
  out?: string;
  /** Also the text of an upstream bug report beside each script. */
  issue: boolean;
  /** Run each script on the implementation and on the kernel; keep it only if it exits 1 and 0. */
  verify: boolean;
}

/** `versions NAME@V1=DIR NAME@V2=DIR`: two builds of one FUSE implementation and their compare reports. */
export interface VersionsArgs {
  older: { name: FuseName; version: string; dir: string };
  newer: { name: FuseName; version: string; dir: string };
  out: string;
}

export interface CompareArgs extends DriverChoice {
  runs: number; steps: number; seed: number; timeBudget: number;
  /** Always set: --out, or a fresh ovlcheck-out/compare-<driver>[-vs-kernel]-<timestamp>. */
  out: string;
  /** --force: an --out that already holds a report may be written over. */
  force: boolean;
  expectations?: string; maxFindings: number;
  profile: string; maxLowers: number; entries: number; rotate: number; failOn: HarmClass[];
  /** --junit, --ktap, --json, where given. */
  outputs?: OutputFiles;
}

export interface CrossArgs {
  from: DriverName; to: DriverName; runs: number; steps: number; seed: number; out: string;
}

export interface ReplayArgs extends DriverChoice {
  /** --kernel SPEC: host, a line such as 6.1, or a linux-image-* package. */
  kernel: string;
  files: string[];
  /** --coverage: write coverage.md and coverage.json in out (default ovlcheck-out). */
  coverage?: true;
  out?: string;
  /** --junit, --ktap, --json, where given. */
  outputs?: OutputFiles;
}

export interface ProbeArgs { json: boolean }

export interface StatsArgs { cases: number; steps: number; seed: number; profile: string }

export interface MatrixArgs {
  kernels: string[]; runs: number; steps: number; seed: number; jobs: number; cross: number; cliRuns: number;
  profile: string; out: string; workerLimit: number; rotate: number;
  /** --junit, --ktap, --json, where given. */
  outputs?: OutputFiles;
}

export interface MatrixWorkerArgs { job: string }

export type Command =
  | { kind: 'command'; cmd: 'run'; args: RunArgs }
  | { kind: 'command'; cmd: 'compare'; args: CompareArgs }
  | { kind: 'command'; cmd: 'cross'; args: CrossArgs }
  | { kind: 'command'; cmd: 'replay'; args: ReplayArgs }
  | { kind: 'command'; cmd: 'probe'; args: ProbeArgs }
  | { kind: 'command'; cmd: 'stats'; args: StatsArgs }
  | { kind: 'command'; cmd: 'merge'; args: MergeArgs }
  | { kind: 'command'; cmd: 'versions'; args: VersionsArgs }
  | { kind: 'command'; cmd: 'repro'; args: ReproArgs }
  | { kind: 'command'; cmd: 'matrix'; args: MatrixArgs }
  | { kind: 'command'; cmd: 'matrix-worker'; args: MatrixWorkerArgs };

export type CommandName = Command['cmd'];

/**
 * What a command line asks for. help: print text, to stdout with exit 0, or (exitCode 2: no
 * arguments at all) to stderr with exit 2.
 */
export type CommandLine =
  | { kind: 'help'; text: string; exitCode: 0 | 2 }
  | { kind: 'version'; text: string }
  | Command;

/** The documented commands, in the order the overview gives them (matrix-worker is internal). */
export const COMMANDS = ['run', 'compare', 'cross', 'replay', 'probe', 'stats', 'matrix', 'merge', 'versions', 'repro'] as const;

// ---------------------------------------------------------------------------------------------
// Bounds. Every integer is a decimal literal and a safe integer within these.

export const SEED_MIN = -(2 ** 31);
export const SEED_MAX = 2 ** 31 - 1;
/** Cases: --runs, --cases, --cross, --cli-runs. */
export const MAX_CASES = 1_000_000_000;

const CROSS_DRIVERS: DriverName[] = ['kernel', 'fuse-overlayfs', 'unionfs-fuse'];

// ---------------------------------------------------------------------------------------------
// The specs.

interface Flag {
  /** The long name, without "--". */
  name: string;
  kind: 'int' | 'string' | 'bool';
  /** The value's placeholder in usage text. */
  meta?: string;
  min?: number;
  max?: number;
  /** Why the bounds are what they are, when it is not obvious (said in the error). */
  range?: string;
  /** Shown as "--name dflt" in the overview's defaults and "(default dflt)" in the command's help. */
  dflt?: string;
  /** Shown in the command's help only, instead of dflt. */
  dfltNote?: string;
  /** An empty string is a value (--options ""). */
  allowEmpty?: boolean;
  help: string;
}

interface Spec {
  name: CommandName;
  synopsis: string[];
  about: string;
  flags: Flag[];
  positionals: { meta: string; min: number; max: number };
  hidden?: boolean;
}

const int = (name: string, meta: string, min: number, max: number, help: string, dflt?: string, extra: Partial<Flag> = {}): Flag =>
  ({ name, kind: 'int', meta, min, max, help, dflt, ...extra });
const str = (name: string, meta: string, help: string, dflt?: string, extra: Partial<Flag> = {}): Flag =>
  ({ name, kind: 'string', meta, help, dflt, ...extra });
const bool = (name: string, help: string): Flag => ({ name, kind: 'bool', help });

const seedFlag = (dflt?: string) => int('seed', 'N', SEED_MIN, SEED_MAX, 'fast-check\'s seed', dflt, {
  range: 'fast-check\'s 32-bit seed range', dfltNote: dflt ? undefined : 'random, printed with the result',
});
const runsFlag = (dflt: string, help = 'generated cases') => int('runs', 'N', 1, MAX_CASES, help, dflt);
const stepsFlag = (dflt: string) => int('steps', 'N', 0, 10_000, 'operations per case, at most', dflt);
const maxLowersFlag = int('max-lowers', 'N', 1, 400, 'lower layers of a generated stack, at most', '4');
const entriesFlag = int('entries', 'N', 1, 10_000, 'entries per generated layer, at most', '12');
const rotateFlag = int('rotate', 'W', 0, 1000, 'weight of the step that turns the upper into a new lower layer (0 never)', '1');
/** The standard outputs (properties/outputs.ts), beside the human one. */
const outputFlags: Flag[] = [
  str('junit', 'FILE', 'also write the results as JUnit XML (one test per profile, property, case or finding)'),
  str('ktap', 'FILE|-', 'also write them as KTAP (Documentation/dev-tools/ktap.rst); - for stdout, the human output then on stderr'),
  str('json', 'FILE|-', 'also write them as JSON (README, "Standard outputs"); - for stdout, as for --ktap'),
];
const driverFlags = (forReplay: boolean): Flag[] => [
  str('driver', 'NAME[@VERSION]', `the implementation: ${DRIVER_NAMES.join(', ')}; a FUSE one's build by version: ${knownBuilds()}`, forReplay ? 'kernel' : undefined),
  str('binary', 'PATH', 'with --driver fuse-overlayfs or unionfs-fuse: the binary to run (its version from its --version)', undefined, { dfltNote: 'the one on PATH' }),
  str('against', 'model|kernel', 'the reference it is compared with', 'model'),
  str('plant', 'FAULT,...', 'with --driver planted: the faults planted (see ovlcheck help compare)'),
  str('mount-cmd', 'CMD', 'with --driver exec: the mount command, through sh, with {lowerdir} {upperdir} {workdir} {merged} {options}'),
  str('umount-cmd', 'CMD', 'with --driver exec: the unmount command', undefined, { dfltNote: 'umount(2)' }),
  str('codec', 'FORMAT', `with --driver exec: its layer format, one of ${Object.keys(CODECS).join(', ')}`, undefined, { dfltNote: 'kernel' }),
];

const SPECS: Record<CommandName, Spec> = {
  run: {
    name: 'run',
    synopsis: [
      'ovlcheck run [--profile NAME|all|none | --options "k=v,..."] [--option-sets N] [--runs N] [--steps N]',
      '             [--max-lowers N] [--entries N] [--seed N] [--path P] [--time-budget SECONDS] [--out DIR]',
      '             [--rotate W] [--mutate NAME] [--coverage] [--jobs N] [--shard I/N] [--junit FILE] [--ktap FILE|-] [--json FILE|-]',
    ],
    about: 'random layer stacks and operation sequences against the model and the running kernel\'s overlayfs; ' +
      'a divergence is shrunk, printed and saved as a case file. ' +
      `Profiles: ${Object.keys(PROFILES).join(', ')}; --options gives exactly your engine's options instead (e.g. "userxattr,xino=on"). ` +
      '--option-sets N: N more cases spread over every combination of redirect_dir, index, metacopy, xino, nfs_export and userxattr ' +
      'the kernel accepts, each with uuid, volatile, ro, a data-only layer or split filesystems drawn from the seed (default: twice --runs ' +
      'with all profiles, else 0; --profile none runs only those). ' +
      '--rotate W: how often a step turns the upper into a new lower layer, as image builds do (weight among ~40; default 1, 0 never; ' +
      '20 makes stacks 10+ layers deep). --mutate NAME breaks one rule of the model on purpose (a self-test: the run must fail fast ' +
      `with a tiny case); NAME is one of: ${Object.keys(MUTATIONS).join(', ')}. --seed S --path P --profile NAME replays one profile's run ` +
      'as fast-check found it. --coverage writes DIR/coverage.md and coverage.json: how often the model applied each ' +
      'catalog item, by profile and property, and why the items never reached are not.',
    flags: [
      str('profile', 'NAME|all|none', 'a profile, all of them, or none (with --mutate: the profile where its rule shows)', 'all'),
      str('options', '"k=v,..."', 'exactly these mount options instead of a profile', undefined, { allowEmpty: true }),
      int('option-sets', 'N', 0, MAX_CASES, 'cases spread over the random option sets', undefined, { dfltNote: 'twice --runs with all profiles, else 0' }),
      runsFlag('300', 'generated cases per profile'),
      stepsFlag('25'),
      maxLowersFlag,
      entriesFlag,
      seedFlag(),
      str('path', 'P', 'fast-check\'s replay path (digits separated by ":", e.g. 12:3:0); needs --seed and one profile'),
      int('time-budget', 'SECONDS', 1, 31_536_000, 'stop the random cases after this long (all profiles together)', undefined, { dfltNote: 'none' }),
      str('out', 'DIR', 'where divergences are saved as case files', './ovlcheck-out'),
      rotateFlag,
      str('mutate', 'NAME', 'break one rule of the model on purpose (a self-test)'),
      bool('coverage', 'write coverage.md and coverage.json (by catalog item) in --out'),
      int('jobs', 'N', 1, 64, 'worker processes that share the cases (the result is the same for any N)', undefined, { dfltNote: 'one per core' }),
      str('shard', 'I/N', 'run only part I of N (profiles and option sets dealt round-robin; ovlcheck merge joins the parts\' --json)'),
      ...outputFlags,
    ],
    positionals: { meta: '', min: 0, max: 0 },
  },
  merge: {
    name: 'merge',
    synopsis: ['ovlcheck merge [--junit FILE] [--ktap FILE|-] [--json FILE|-] FILE...'],
    about: 'joins the --json results of the shards of one run (`ovlcheck run --shard I/N --json FILE` in N CI jobs) into one: ' +
      'every shard once, the same seed, kernel and command line otherwise; prints the totals and exits as the whole run would have.',
    flags: [...outputFlags],
    positionals: { meta: 'FILE...', min: 1, max: Infinity },
  },
  repro: {
    name: 'repro',
    synopsis: ['ovlcheck repro --driver NAME[@VERSION] [--binary PATH] [--issue] [--verify] [--out DIR] CASE...'],
    about: 'a standalone POSIX shell script per case compare saved: it builds the layers, mounts the implementation as the case did ' +
      '(or, given "kernel", the kernel\'s overlayfs), runs the steps printing expected vs actual, checks what the finding is about and ' +
      'exits 1 when the fault shows, 0 when not; each case is replayed first and must diverge as when found. --issue also writes the ' +
      'text of an upstream bug report. Default DIR: repro/ beside the case\'s cases/ dir.',
    flags: [
      str('driver', 'NAME[@VERSION]', `the implementation the cases ran on: fuse-overlayfs, unionfs-fuse or kernel; a build by version: ${knownBuilds()}`),
      str('binary', 'PATH', 'with --driver fuse-overlayfs or unionfs-fuse: the binary to run (its version from its --version)', undefined, { dfltNote: 'the one on PATH' }),
      str('out', 'DIR', 'where the scripts go', undefined, { dfltNote: 'repro/ beside the cases' }),
      bool('issue', 'also write NAME.issue.md: the text of an upstream bug report'),
      bool('verify', 'run each script alone on the implementation and on the kernel; keep it only if it exits 1 and 0'),
    ],
    positionals: { meta: 'CASE...', min: 1, max: Infinity },
  },
  versions: {
    name: 'versions',
    synopsis: ['ovlcheck versions NAME@OLD=REPORT_DIR NAME@NEW=REPORT_DIR [--out DIR]'],
    about: 'two builds of one FUSE implementation, finding by finding: every minimal case of both compare reports (REPORT_DIR/cases) ' +
      'is replayed on both builds, and each finding is said to be still there, fixed, or new in the later version; ' +
      `written to DIR/report.md and report.json (default reports/NAME-OLD-vs-NEW). Builds: ${knownBuilds()}.`,
    flags: [str('out', 'DIR', 'where the report goes', undefined, { dfltNote: 'reports/NAME-OLD-vs-NEW' })],
    positionals: { meta: 'NAME@VERSION=DIR', min: 2, max: 2 },
  },
  compare: {
    name: 'compare',
    synopsis: [
      'ovlcheck compare --driver NAME [--against model|kernel] [--runs N] [--steps N] [--seed N]',
      '             [--time-budget SECONDS] [--out DIR [--force]] [--expectations FILE] [--max-findings N]',
      '             [--fail-on CLASS,...] [--profile NAME] [--plant FAULT,...] [--max-lowers N] [--entries N]',
      '             [--rotate W] [--mount-cmd CMD [--umount-cmd CMD] [--codec FORMAT]]',
      '             [--junit FILE] [--ktap FILE|-] [--json FILE|-]',
    ],
    about: `every distinct divergence of an implementation (drivers: ${DRIVER_NAMES.join(', ')}), each shrunk to a minimal case, ` +
      'classed by harm (data, hang, outcome, metadata, bookkeeping) and written, worst first, to DIR/report.md, report.json and ' +
      'cases/ as soon as it is found (default DIR a fresh ovlcheck-out/compare-<driver>[-vs-kernel]-<time>; a DIR that already ' +
      'holds a report is refused unless --force); a signal or the time budget ends it with the report complete. Signatures in the ' +
      '--expectations file (default expectations/<driver>.json if present; "*" patterns allowed within a class) are tolerated. ' +
      '--max-findings caps each class; --fail-on sets the classes whose new findings exit 1 (default all). ' +
      `planted: the kernel with faults planted on purpose (--plant, one of: ${Object.keys(PLANTED).join(', ')}), the suite's own ` +
      'check that it finds them. exec: --mount-cmd runs through sh with {lowerdir} {upperdir} {workdir} {merged} {options} filled ' +
      `in; --umount-cmd likewise (default: umount(2)); --codec ${Object.keys(CODECS).join(', ')} names its layer format (default kernel).`,
    flags: [
      ...driverFlags(false),
      runsFlag('300'),
      stepsFlag('25'),
      seedFlag(),
      int('time-budget', 'SECONDS', 1, 31_536_000, 'stop after this long, the report complete', '300'),
      str('out', 'DIR', 'the report\'s directory', undefined, { dfltNote: 'a fresh ovlcheck-out/compare-<driver>[-vs-kernel]-<time>' }),
      bool('force', 'write over a report already in --out'),
      str('expectations', 'FILE', 'signatures tolerated', undefined, { dfltNote: 'expectations/<driver>.json if present' }),
      int('max-findings', 'N', 1, 1_000_000, 'findings per harm class, at most', '20'),
      str('fail-on', 'CLASS,...', `the harm classes whose new findings exit 1 (${HARM_CLASSES.join(', ')})`, undefined, { dfltNote: 'all' }),
      str('profile', 'NAME', 'the profile (one)', 'default'),
      maxLowersFlag,
      entriesFlag,
      rotateFlag,
      ...outputFlags,
    ],
    positionals: { meta: '', min: 0, max: 0 },
  },
  cross: {
    name: 'cross',
    synopsis: ['ovlcheck cross --from NAME --to NAME [--runs N] [--steps N] [--seed N] [--out DIR]'],
    about: 'an upper dir written through one implementation (--from), mounted by another (--to) over the same lowers: the merged ' +
      'views must agree; where they do not, the shrunk case and how the two read the upper\'s format. ' +
      `Implementations: ${CROSS_DRIVERS.join(', ')}.`,
    flags: [
      str('from', 'NAME', 'the implementation that writes the upper'),
      str('to', 'NAME', 'the one that mounts it'),
      runsFlag('100'),
      stepsFlag('15'),
      seedFlag(),
      str('out', 'DIR', 'where a divergence is saved as a case file', 'ovlcheck-out'),
    ],
    positionals: { meta: '', min: 0, max: 0 },
  },
  replay: {
    name: 'replay',
    synopsis: [
      'ovlcheck replay [--kernel SPEC | --driver NAME [--against model|kernel]] [--coverage [--out DIR]]',
      '             [--junit FILE] [--ktap FILE|-] [--json FILE|-] FILE...',
    ],
    about: 'run case files (see README, "Case files"), checking their known answers too; --driver/--against as for compare ' +
      '(default: kernel vs model). --kernel SPEC replays them on another kernel, booted under qemu: a line (6.1, 6.12) or a ' +
      'linux-image-* package from Debian\'s lists; cases a kernel cannot hold are skipped, each with the reason. ' +
      '--coverage writes DIR/coverage.md and coverage.json: how often the model applied each catalog item, by case file.',
    flags: [
      str('kernel', 'SPEC', 'host, a line such as 6.1, or a linux-image-* package', 'host'),
      ...driverFlags(true),
      bool('coverage', 'write coverage.md and coverage.json (by catalog item) in --out'),
      str('out', 'DIR', 'with --coverage: where they are written', 'ovlcheck-out'),
      ...outputFlags,
    ],
    positionals: { meta: 'FILE...', min: 1, max: Infinity },
  },
  probe: {
    name: 'probe',
    synopsis: ['ovlcheck probe [--json]'],
    about: 'the kernel\'s version, module defaults, and which profiles and option combinations mount and what /proc/mounts ' +
      'shows for them.',
    flags: [bool('json', 'as JSON')],
    positionals: { meta: '', min: 0, max: 0 },
  },
  stats: {
    name: 'stats',
    synopsis: ['ovlcheck stats [--cases N] [--steps N] [--seed N] [--profile NAME]'],
    about: 'how often generated cases reach each multi-step scenario and single-step situation (properties/patterns.ts), per ' +
      '1000 cases, with the generator\'s locality and scenarios and without them; on the model alone (no mounts).',
    flags: [
      int('cases', 'N', 1, MAX_CASES, 'generated cases', '2000'),
      stepsFlag('25'),
      seedFlag('1'),
      str('profile', 'NAME', 'the profile (one)', 'default'),
    ],
    positionals: { meta: '', min: 0, max: 0 },
  },
  matrix: {
    name: 'matrix',
    synopsis: [
      'ovlcheck matrix [--kernels host,6.1,6.12] [--runs N] [--steps N] [--seed N] [--jobs N]',
      '             [--cross N] [--cli-runs N] [--profile NAME|all] [--out DIR] [--worker-limit MINUTES]',
      '             [--rotate W] [--junit FILE] [--ktap FILE|-] [--json FILE|-]',
    ],
    about: 'the suite on several kernels, one report (DIR/report.md, .json, .html; default reports/matrix): each profile the ' +
      'kernel can hold, the mount properties, every known-answer case, the cross-kernel property (each kernel mounts the layers ' +
      'every other one wrote) and `ovlcheck run` inside each guest. Guest kernels are Debian\'s, downloaded once (apt-get ' +
      'download) and booted under qemu, two side by side.',
    flags: [
      str('kernels', 'K,...', 'host, lines such as 6.1, linux-image-* packages', 'host,6.1,6.12'),
      runsFlag('300', 'generated cases per profile'),
      stepsFlag('25'),
      seedFlag(),
      int('jobs', 'N', 1, 64, 'guests booted side by side', '2'),
      int('cross', 'N', 0, MAX_CASES, 'cases of the cross-kernel property', '40'),
      int('cli-runs', 'N', 0, MAX_CASES, '`ovlcheck run --runs N` inside each guest (0: not run)', '3'),
      str('profile', 'NAME|all', 'a profile, or all of them', 'all'),
      str('out', 'DIR', 'the report\'s directory', 'reports/matrix'),
      int('worker-limit', 'MINUTES', 1, 10_080, 'each kernel\'s worker is killed after this long', '40', { range: 'a week at most' }),
      rotateFlag,
      ...outputFlags,
    ],
    positionals: { meta: '', min: 0, max: 0 },
  },
  'matrix-worker': {
    name: 'matrix-worker',
    synopsis: ['ovlcheck matrix-worker JOB.json'],
    about: 'internal: one kernel of `ovlcheck matrix`, in a process of its own.',
    flags: [],
    positionals: { meta: 'JOB.json', min: 1, max: 1 },
    hidden: true,
  },
};

const HELP_FLAG: Flag = { name: 'help', kind: 'bool', help: 'this help' };

// ---------------------------------------------------------------------------------------------
// Help and version.

const WIDTH = 100;

function wrap(text: string, width: number, indent: string, first = indent): string {
  const lines: string[] = [];
  let line = first;
  let fresh = true;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (!fresh && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else line += (fresh ? '' : ' ') + word;
    fresh = false;
  }
  lines.push(line);
  return lines.join('\n');
}

function flagUsage(f: Flag): string {
  return `--${f.name}${f.meta ? ` ${f.meta}` : ''}`;
}

function defaultsLine(s: Spec): string {
  const d = s.flags.filter((f) => f.dflt !== undefined).map((f) => `--${f.name} ${f.dflt}`);
  return d.length ? ` Defaults: ${d.join(' ')}.` : '';
}

/** The overview: every command's usage and what it does (ovlcheck --help). */
export function overviewText(): string {
  const visible = COMMANDS.map((c) => SPECS[c]);
  return [
    'usage: ovlcheck COMMAND [options]      ovlcheck COMMAND --help (or ovlcheck help COMMAND): its options',
    ...visible.flatMap((s) => s.synopsis.map((l, i) => (i ? `${' '.repeat(15)}${l.trim()}` : `  ${l}`))),
    '  ovlcheck --version',
    '',
    ...visible.map((s) => wrap(s.about + defaultsLine(s), WIDTH, ' '.repeat(8), s.name.padEnd(8))),
    'exit: 0 conforms, 1 divergence, 2 bad input or environment, 3 internal error',
  ].join('\n');
}

/** One command's usage: synopsis, what it does, each flag with its default and bounds. */
export function commandHelpText(cmd: CommandName): string {
  const s = SPECS[cmd];
  const rows = [...s.flags, HELP_FLAG].map((f) => {
    const name = f === HELP_FLAG ? '-h, --help' : flagUsage(f);
    const notes: string[] = [];
    if (f.kind === 'int') notes.push(`${f.min}..${f.max}`);
    const d = f.dfltNote ?? f.dflt;
    if (d !== undefined) notes.push(`default: ${d}`);
    const text = f.help + (notes.length ? ` (${notes.join('; ')})` : '');
    const pad = 28;
    return name.length < pad - 2
      ? wrap(text, WIDTH, ' '.repeat(pad), `  ${name.padEnd(pad - 2)}`)
      : `  ${name}\n${wrap(text, WIDTH, ' '.repeat(pad))}`;
  });
  return [
    `usage: ${s.synopsis[0]}`,
    ...s.synopsis.slice(1).map((l) => `${' '.repeat(8)}${l.trim()}`),
    '',
    wrap(s.about, WIDTH, '  '),
    '',
    'options:',
    ...rows,
    '',
    'exit: 0 conforms, 1 divergence, 2 bad input or environment, 3 internal error',
  ].join('\n');
}

/** "ovlcheck 0.1.0", from the package.json above this module (dist/properties/cliArgs.js -> ../../package.json). */
export function versionText(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'ovlcheck' && typeof pkg.version === 'string') return `ovlcheck ${pkg.version}`;
    } catch {
      /* none here, or not ours: look further up */
    }
    const up = path.dirname(dir);
    if (up === dir) return 'ovlcheck (version unknown: no package.json found)';
    dir = up;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages.

/** A user's value, quoted, escaped to one line, cut to about 40 characters. */
export function quote(value: string, max = 40): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    const e = ch === '"' || ch === '\\' ? `\\${ch}`
      : cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) || cp === 0x2028 || cp === 0x2029 || (cp >= 0xd800 && cp <= 0xdfff)
        ? (ch === '\n' ? '\\n' : ch === '\t' ? '\\t' : ch === '\r' ? '\\r' : `\\u${cp.toString(16).padStart(4, '0')}`)
        : ch;
    if (out.length + e.length > max) return `"${out}..."`;
    out += e;
  }
  return `"${out}"`;
}

/** One line, at most 200 characters, whatever went into it. */
function oneLine(message: string): string {
  const flat = message.replace(/[\r\n\u2028\u2029]+/g, ' ');
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

/** Edit distance, a swap of two neighbours counting one (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The known name a mistyped one most likely meant: the only one it abbreviates or extends
 * (time: time-budget), else the nearest within a third of its length (rnus: runs); or none.
 */
export function closest(given: string, known: readonly string[]): string | undefined {
  const g = given.toLowerCase();
  if (g.length > 60) return undefined;
  if (g.length >= 3) {
    const pre = known.filter((k) => k.startsWith(g) || (k.length >= 3 && g.startsWith(k)));
    if (pre.length === 1) return pre[0];
  }
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(g, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** "unknown X "v" (...)": the whole list if short, else the closest name and where the list is. */
function unknownName(what: string, value: string, names: readonly string[], helpCmd: string): string {
  const list = names.join(', ');
  if (list.length <= 90) return `unknown ${what} ${quote(value)} (one of: ${list})`;
  const near = closest(value, names);
  return `unknown ${what} ${quote(value)} (${near ? `did you mean ${near}? ` : ''}ovlcheck help ${helpCmd} lists all ${names.length})`;
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

// ---------------------------------------------------------------------------------------------
// Scanning one command's arguments.

type Value = string | number | boolean;

interface Scanned {
  values: Map<string, Value>;
  positionals: string[];
  help: boolean;
}

function intValue(f: Flag, raw: string): number {
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < f.min! || n > f.max!) {
    throw new UsageError(`--${f.name}: expected an integer from ${f.min} to ${f.max}${f.range ? ` (${f.range})` : ''}, got ${quote(raw)}`);
  }
  return n;
}

function scan(spec: Spec, argv: string[]): Scanned {
  const flags = new Map(spec.flags.map((f) => [f.name, f]));
  const known = [...spec.flags.map((f) => f.name), 'help'];
  const options = Object.fromEntries([
    ...spec.flags.map((f) => [f.name, { type: f.kind === 'bool' ? 'boolean' as const : 'string' as const }]),
    ['help', { type: 'boolean' as const, short: 'h' }],
  ]);
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  // --help or -h anywhere before "--" asks for help, whatever else is wrong (even where an
  // option that needs a value took it: "run --out --help").
  const end = tokens.find((t) => t.kind === 'option-terminator')?.index ?? argv.length;
  const help = tokens.some((t) => t.kind === 'option' && t.name === 'help' && t.value === undefined)
    || argv.slice(0, end).some((a) => a === '--help' || a === '-h');
  const out: Scanned = { values: new Map(), positionals: [], help };
  if (help) return out;
  const unknown = (raw: string): never => {
    const near = closest(raw.replace(/^-+/, ''), known);
    throw new UsageError(`unknown option ${quote(raw)} (${near ? `did you mean --${near}?` : `ovlcheck ${spec.name} --help lists them`})`);
  };
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      if (out.positionals.length >= spec.positionals.max) {
        throw new UsageError(spec.positionals.max === 0
          ? `unexpected argument ${quote(t.value)} (${spec.name} takes options only; ovlcheck ${spec.name} --help lists them)`
          : `unexpected argument ${quote(t.value)} (${spec.name} takes one ${spec.positionals.meta})`);
      }
      out.positionals.push(t.value);
      continue;
    }
    const whole = argv[t.index];
    const f = flags.get(t.name);
    // A single dash with more than one letter ("-runs") is a group of short options to
    // parseArgs; the only short one is -h, so it is an unknown option as written.
    if (!t.rawName.startsWith('--') && whole !== t.rawName) unknown(whole);
    if (!f) {
      if (t.name === 'help') throw new UsageError('--help takes no value');
      unknown(t.rawName);
    }
    const flag = f!;
    if (flag.kind === 'bool') {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value (got ${quote(t.value)})`);
      out.values.set(flag.name, true);
      continue;
    }
    const v = t.value;
    const needs = `--${flag.name} needs a value (${flag.meta})`;
    if (v === undefined) throw new UsageError(needs);
    // A value taken from the next argument that looks like an option is a missing value
    // ("--out --runs 3"), except a negative number where an integer is due ("--seed -5").
    if (!t.inlineValue && v.length > 1 && v.startsWith('-') && !(flag.kind === 'int' && /^-\d+$/.test(v))) {
      throw new UsageError(`${needs}, not the option ${quote(v)} (write --${flag.name}=VALUE for a value starting with "-")`);
    }
    if (flag.kind === 'int') out.values.set(flag.name, intValue(flag, v));
    else {
      if (v === '' && !flag.allowEmpty) throw new UsageError(`--${flag.name}: empty value (${flag.meta})`);
      out.values.set(flag.name, v);
    }
  }
  if (out.positionals.length < spec.positionals.min) {
    throw new UsageError(spec.name === 'replay' ? 'replay needs at least one case file' : `${spec.name} needs ${spec.positionals.meta}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checks shared by commands.

/** The profiles a run covers; one asked for by name or options must be runnable. Throws UsageError. */
export function profilesToRun(a: { profile: string; options?: string }): Profile[] {
  try {
    if (a.options !== undefined) {
      for (const part of a.options.split(',').filter((p) => p !== '')) {
        // No option is longer, and none is a name every object has ("constructor").
        const key = part.split('=', 1)[0];
        if (part.length > 40 || /[^\x21-\x7e]/.test(part) || key in Object.prototype) {
          throw new UsageError(`--options: unknown or unsupported mount option ${quote(part)}`);
        }
      }
      return [explicit(resolveProfile('custom', a.options))];
    }
    if (a.profile !== 'all') {
      if (!own(PROFILES, a.profile)) throw new UsageError(`--profile: ${unknownName('profile', a.profile, Object.keys(PROFILES), 'run')}`);
      return [explicit(namedProfile(a.profile))];
    }
    return Object.keys(PROFILES).map(namedProfile);
  } catch (e) {
    if (e instanceof ParamError) throw new UsageError(a.options !== undefined ? `--options: ${e.message}` : e.message);
    throw e;
  }
}

function explicit(p: Profile): Profile {
  const why = notModelled(p);
  if (why) throw new UsageError(`profile ${p.name}: ${why}`);
  return p;
}

/** One profile, for the commands that run one (compare, stats). */
function oneProfile(cmd: string, profile: string): void {
  if (profile === 'all') throw new UsageError(`--profile: ${cmd} runs one profile (all is for run and matrix)`);
  profilesToRun({ profile });
}

function kernelSpecProblem(k: string): boolean {
  return k !== 'host' && !/^\d+\.\d+$/.test(k) && !/^linux-image-[a-z0-9][a-z0-9.+~-]*$/.test(k);
}

/** --driver, --against, --plant and the exec flags, checked as far as that needs no machine. */
function driverChoice(v: Map<string, Value>): DriverChoice {
  const [driver, version] = ((v.get('driver') as string | undefined) ?? 'kernel').split(/@(.*)/s);
  if (!(DRIVER_NAMES as readonly string[]).includes(driver)) throw new UsageError(`--driver: ${unknownName('driver', driver, DRIVER_NAMES, 'compare')}`);
  const binary = v.get('binary') as string | undefined;
  if ((version !== undefined || binary !== undefined) && !own(KNOWN_BUILDS, driver)) {
    throw new UsageError(`--driver ${driver}: a version or --binary is for fuse-overlayfs and unionfs-fuse`);
  }
  if (version !== undefined && binary !== undefined) throw new UsageError('--driver NAME@VERSION and --binary: give one of them');
  if (version !== undefined && !own(KNOWN_BUILDS[driver as FuseName], version)) {
    throw new UsageError(`--driver: no known build ${quote(`${driver}@${version}`)} (known: ${knownBuilds()}; any other with --binary PATH)`);
  }
  const against = (v.get('against') as string | undefined) ?? 'model';
  if (against !== 'model' && against !== 'kernel') throw new UsageError(`--against: expected model or kernel, got ${quote(against)}`);
  const choice: DriverChoice = { driver: driver as DriverName, against };
  if (version !== undefined) choice.version = version;
  if (binary !== undefined) choice.binary = binary;
  const plant = v.get('plant') as string | undefined;
  if (plant !== undefined) {
    const names = plant.split(',').map((x) => x.trim()).filter(Boolean);
    const bad = names.find((n) => !own(PLANTED, n));
    if (bad !== undefined || !names.length) throw new UsageError(`--plant: ${unknownName('fault', bad ?? plant, Object.keys(PLANTED), 'compare')}`);
    choice.plant = names;
  }
  const mountCmd = v.get('mount-cmd') as string | undefined;
  const umountCmd = v.get('umount-cmd') as string | undefined;
  const codec = v.get('codec') as string | undefined;
  if (mountCmd !== undefined) choice.mountCmd = mountCmd;
  if (umountCmd !== undefined) choice.umountCmd = umountCmd;
  if (codec !== undefined) {
    if (!own(CODECS, codec)) throw new UsageError(`--codec: unknown layer format ${quote(codec)} (one of: ${Object.keys(CODECS).join(', ')})`);
    choice.codec = codec;
  }
  if (choice.driver !== 'exec' && (mountCmd !== undefined || umountCmd !== undefined || codec !== undefined)) {
    throw new UsageError('--mount-cmd, --umount-cmd and --codec are for --driver exec');
  }
  if (choice.driver === 'exec' && mountCmd === undefined) {
    throw new UsageError('driver exec: the exec driver needs --mount-cmd "..." (see README, "Your own implementation")');
  }
  if ((choice.driver === 'planted') !== (choice.plant !== undefined)) throw new UsageError('--driver planted needs --plant FAULT[,FAULT] (and --plant is for it only)');
  if (choice.against === 'kernel' && choice.driver === 'kernel') throw new UsageError('--against kernel needs another --driver than kernel');
  return choice;
}

/** A word as a POSIX shell reads it back: as is when plain, else single-quoted. */
export function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** NAME@VERSION=DIR, a positional of `versions`. */
function versionSide(arg: string): VersionsArgs['older'] {
  const m = /^([a-z-]+)@([^=]+)=(.+)$/s.exec(arg);
  if (!m) throw new UsageError(`versions: expected NAME@VERSION=REPORT_DIR, got ${quote(arg)}`);
  const [, name, version, dir] = m;
  if (!own(KNOWN_BUILDS, name) || !own(KNOWN_BUILDS[name as FuseName], version)) {
    throw new UsageError(`versions: no known build ${quote(`${name}@${version}`)} (known: ${knownBuilds()})`);
  }
  return { name: name as FuseName, version, dir };
}

/** The --driver (and --binary) words that choose this driver and build again: for replay commands. */
export function driverWords(choice: Pick<DriverChoice, 'driver' | 'version' | 'binary'>): string {
  return `${choice.driver}${choice.version !== undefined ? `@${choice.version}` : ''}${choice.binary !== undefined ? ` --binary ${shellWord(choice.binary)}` : ''}`;
}

/**
 * Whether this machine can run the driver (and the kernel, against it): the part of the
 * driver checks that needs the machine (root, /dev/fuse, overlay support, the FUSE binaries).
 * For cross, call it for --from and for --to ({ driver: a.from, against: 'model' }).
 */
export function checkDriverEnvironment(choice: DriverChoice): void {
  const why = probeDriver(choice.driver, choice) ?? (choice.against === 'kernel' ? probeDriver('kernel') : null);
  if (why) throw new UsageError(`driver ${choice.driver}${choice.version ? `@${choice.version}` : ''}: ${why}`);
}

/** A fresh default directory for compare's report: ovlcheck-out/compare-<driver>[-vs-kernel]-<time>. */
export function defaultCompareOut(driver: DriverName, against: 'model' | 'kernel', now: Date, version?: string): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return path.join('ovlcheck-out', `compare-${driver}${version ? `-${version}` : ''}${against === 'kernel' ? '-vs-kernel' : ''}-${stamp}`);
}

// ---------------------------------------------------------------------------------------------
// The commands.

function randomSeed(now: Date): number {
  return (now.getTime() ^ (Math.random() * 2 ** 31)) | 0;
}

export interface ParseOptions {
  /** The time the default seeds and compare's default out dir are taken from (default: now). */
  now?: Date;
}

function build(cmd: CommandName, s: Scanned, now: Date): Command {
  const v = s.values;
  const n = (k: string) => v.get(k) as number | undefined;
  const t = (k: string) => v.get(k) as string | undefined;
  switch (cmd) {
    case 'run': {
      const a: RunArgs = {
        runs: n('runs') ?? 300, steps: n('steps') ?? 25, maxLowers: n('max-lowers') ?? 4, entries: n('entries') ?? 12,
        seed: n('seed') ?? randomSeed(now), out: t('out') ?? 'ovlcheck-out', profile: t('profile') ?? 'all', rotate: n('rotate') ?? 1,
        optionSets: 0, ...outputsOf(v),
      };
      if (t('options') !== undefined) a.options = t('options');
      if (n('time-budget') !== undefined) a.timeBudget = n('time-budget');
      if (t('options') !== undefined && t('profile') !== undefined) throw new UsageError('give --profile or --options, not both');
      if (v.get('coverage') === true) a.coverage = true;
      const mutate = t('mutate');
      if (mutate !== undefined) {
        if (!own(MUTATIONS, mutate)) throw new UsageError(`--mutate: ${unknownName('mutation', mutate, Object.keys(MUTATIONS), 'run')}`);
        a.mutate = mutate;
        if (a.profile === 'all' && a.options === undefined) a.profile = MUTATIONS[mutate].profile; // where its rule shows
      }
      const p = t('path');
      if (p !== undefined) {
        if (!/^\d+(:\d+)*$/.test(p) || p.split(':').some((x) => Number(x) > SEED_MAX)) {
          throw new UsageError(`--path: expected fast-check's replay path, numbers separated by ":" (e.g. 12:3:0), got ${quote(p)}`);
        }
        if (n('seed') === undefined) throw new UsageError('--path replays one run: give its --seed too');
        if (a.profile === 'all' && a.options === undefined) throw new UsageError('--path replays one profile\'s run: give its --profile NAME (or --options) too');
        a.path = p;
      }
      const narrowed = a.profile !== 'all' || a.options !== undefined || a.mutate !== undefined || a.path !== undefined;
      a.optionSets = n('option-sets') ?? (narrowed ? 0 : Math.min(2 * a.runs, MAX_CASES));
      if (a.optionSets > 0 && (a.mutate !== undefined || a.path !== undefined)) throw new UsageError('--option-sets cannot go with --mutate or --path (they replay one profile)');
      if (a.profile === 'none' && a.options !== undefined) throw new UsageError('give --profile none or --options, not both');
      if (a.profile === 'none' && a.optionSets === 0) throw new UsageError('--profile none runs only the option sets: give --option-sets N too');
      if (a.profile !== 'none') profilesToRun(a); // reject unknown profiles and bad options before anything else
      const shard = t('shard');
      if (shard !== undefined) {
        const m = /^(\d{1,4})\/(\d{1,4})$/.exec(shard);
        const [index, count] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
        if (!m || index < 1 || index > count) throw new UsageError(`--shard: expected I/N with 1 <= I <= N (e.g. 2/3), got ${quote(shard)}`);
        if (n('seed') === undefined) throw new UsageError('--shard: give the --seed every shard runs with');
        if (a.path !== undefined) throw new UsageError('--shard cannot go with --path (it replays one profile)');
        a.shard = { index, count };
      }
      const jobs = n('jobs');
      if (jobs !== undefined) {
        if (jobs > 1 && a.path !== undefined) throw new UsageError('--jobs cannot go with --path (it replays one case)');
        a.jobs = jobs;
      }
      return { kind: 'command', cmd, args: a };
    }
    case 'compare': {
      if (!v.has('driver')) throw new UsageError(`compare needs --driver NAME (one of: ${DRIVER_NAMES.join(', ')})`);
      const choice = driverChoice(v);
      const a: CompareArgs = {
        ...choice, runs: n('runs') ?? 300, steps: n('steps') ?? 25, seed: n('seed') ?? randomSeed(now), maxFindings: n('max-findings') ?? 20,
        profile: t('profile') ?? 'default', maxLowers: n('max-lowers') ?? 4, entries: n('entries') ?? 12, rotate: n('rotate') ?? 1,
        timeBudget: n('time-budget') ?? 300, failOn: [...HARM_CLASSES],
        out: t('out') ?? defaultCompareOut(choice.driver, choice.against, now, choice.version), force: v.get('force') === true, ...outputsOf(v),
      };
      if (t('expectations') !== undefined) a.expectations = t('expectations');
      const failOn = t('fail-on');
      if (failOn !== undefined) {
        const classes = failOn.split(',').map((x) => x.trim()).filter(Boolean);
        const bad = classes.find((c) => !isHarmClass(c));
        if (bad !== undefined || !classes.length) throw new UsageError(`--fail-on: ${quote(bad ?? failOn)} is not a harm class (${HARM_CLASSES.join(', ')})`);
        a.failOn = classes as HarmClass[];
      }
      oneProfile('compare', a.profile);
      return { kind: 'command', cmd, args: a };
    }
    case 'cross': {
      for (const flag of ['from', 'to']) {
        const x = t(flag);
        if (x !== undefined && !(CROSS_DRIVERS as string[]).includes(x)) throw new UsageError(`--${flag}: expected kernel, fuse-overlayfs or unionfs-fuse, got ${quote(x)}`);
      }
      const from = t('from') as DriverName | undefined;
      const to = t('to') as DriverName | undefined;
      if (!from || !to) throw new UsageError('cross needs --from NAME and --to NAME');
      if (from === to) throw new UsageError('cross needs two different implementations');
      return { kind: 'command', cmd, args: { from, to, runs: n('runs') ?? 100, steps: n('steps') ?? 15, seed: n('seed') ?? randomSeed(now), out: t('out') ?? 'ovlcheck-out' } };
    }
    case 'replay': {
      const kernel = t('kernel') ?? 'host';
      if (kernelSpecProblem(kernel)) throw new UsageError(`--kernel: expected host, a line such as 6.1, or a linux-image-* package, got ${quote(kernel)}`);
      const choice = driverChoice(v);
      if (kernel !== 'host' && (choice.driver !== 'kernel' || choice.against !== 'model')) throw new UsageError('--kernel replays the kernel against the model');
      const a: ReplayArgs = { kernel, ...choice, files: s.positionals, ...outputsOf(v) };
      if (t('out') !== undefined && v.get('coverage') !== true) throw new UsageError('--out: replay writes only the coverage table there: give --coverage too');
      if (v.get('coverage') === true) Object.assign(a, { coverage: true, out: t('out') ?? 'ovlcheck-out' });
      return { kind: 'command', cmd, args: a };
    }
    case 'probe':
      return { kind: 'command', cmd, args: { json: v.get('json') === true } };
    case 'merge':
      return { kind: 'command', cmd, args: { files: s.positionals, ...outputsOf(v) } };
    case 'repro': {
      const choice = driverChoice(v);
      if (!['kernel', 'fuse-overlayfs', 'unionfs-fuse'].includes(choice.driver)) throw new UsageError(`repro: --driver fuse-overlayfs, unionfs-fuse or kernel, not ${choice.driver}`);
      return { kind: 'command', cmd, args: { ...choice, files: s.positionals, issue: v.get('issue') === true, verify: v.get('verify') === true, ...(t('out') !== undefined ? { out: t('out') } : {}) } };
    }
    case 'versions': {
      const [older, newer] = s.positionals.map(versionSide);
      if (older.name !== newer.name) throw new UsageError(`versions: two builds of one implementation, not ${older.name} and ${newer.name}`);
      if (older.version === newer.version) throw new UsageError(`versions: two different versions, not ${older.version} twice`);
      return { kind: 'command', cmd, args: { older, newer, out: t('out') ?? path.join('reports', `${older.name}-${older.version}-vs-${newer.version}`) } };
    }
    case 'stats': {
      const a: StatsArgs = { cases: n('cases') ?? 2000, steps: n('steps') ?? 25, seed: n('seed') ?? 1, profile: t('profile') ?? 'default' };
      oneProfile('stats', a.profile);
      return { kind: 'command', cmd, args: a };
    }
    case 'matrix': {
      const a: MatrixArgs = {
        kernels: ['host', '6.1', '6.12'], runs: n('runs') ?? 300, steps: n('steps') ?? 25, seed: n('seed') ?? randomSeed(now), jobs: n('jobs') ?? 2,
        cross: n('cross') ?? 40, cliRuns: n('cli-runs') ?? 3, profile: t('profile') ?? 'all', out: t('out') ?? path.join('reports', 'matrix'),
        workerLimit: n('worker-limit') ?? 40, rotate: n('rotate') ?? 1, ...outputsOf(v),
      };
      const ks = t('kernels');
      if (ks !== undefined) {
        a.kernels = ks.split(',').map((k) => k.trim()).filter(Boolean);
        if (a.kernels.length === 0) throw new UsageError('--kernels: name at least one (host, 6.1, 6.12, or a linux-image-* package)');
        for (const [i, k] of a.kernels.entries()) {
          if (kernelSpecProblem(k)) throw new UsageError(`--kernels: ${quote(k)} is not host, a line such as 6.1, or a linux-image-* package`);
          if (a.kernels.indexOf(k) !== i) throw new UsageError(`--kernels: ${quote(k)} is named twice`);
        }
      }
      profilesToRun({ profile: a.profile });
      return { kind: 'command', cmd, args: a };
    }
    case 'matrix-worker':
      return { kind: 'command', cmd, args: { job: s.positionals[0] } };
  }
}

/** --junit, --ktap, --json: files, or "-" (stdout) for one of them; nothing where none is given. */
function outputsOf(v: Map<string, unknown>): { outputs?: OutputFiles } {
  const out: OutputFiles = {};
  for (const k of ['junit', 'ktap', 'json'] as const) {
    const f = v.get(k) as string | undefined;
    if (f !== undefined) out[k] = f;
  }
  const toStdout = Object.entries(out).filter(([, f]) => f === '-').map(([k]) => `--${k}`);
  if (toStdout.length > 1) throw new UsageError(`${toStdout.join(' and ')}: only one of them can go to stdout (-)`);
  const files = Object.values(out).filter((f) => f !== '-');
  const twice = files.find((f, i) => files.indexOf(f) !== i);
  if (twice !== undefined) throw new UsageError(`${quote(twice)} is given for two outputs`);
  return Object.keys(out).length ? { outputs: out } : {};
}

function unknownCommand(name: string): UsageError {
  const near = closest(name, COMMANDS);
  return new UsageError(`unknown command ${quote(name)} (${near ? `did you mean ${near}? ` : ''}commands: ${COMMANDS.join(', ')}; ovlcheck --help)`);
}

function isCommand(name: string): name is CommandName {
  return own(SPECS, name);
}

/**
 * The whole command line (process.argv.slice(2)): help, the version, or one command with its
 * typed args. Pure: no file system or machine is looked at. Throws UsageError (one line).
 */
export function parseCommandLine(argv: string[], o: ParseOptions = {}): CommandLine {
  const [first, ...rest] = argv;
  if (first === undefined) return { kind: 'help', text: overviewText(), exitCode: 2 };
  if (first === '--help' || first === '-h' || first === 'help') {
    if (rest.length === 0 || (rest.length === 1 && (rest[0] === 'help' || rest[0] === '--help' || rest[0] === '-h'))) {
      return { kind: 'help', text: overviewText(), exitCode: 0 };
    }
    if (rest.length > 1) throw new UsageError(`unexpected argument ${quote(rest[1])} (ovlcheck help COMMAND)`);
    if (!isCommand(rest[0])) throw unknownCommand(rest[0]);
    return { kind: 'help', text: commandHelpText(rest[0]), exitCode: 0 };
  }
  if (first === '--version' || first === '-V') {
    if (rest.length) throw new UsageError(`unexpected argument ${quote(rest[0])} (ovlcheck --version takes none)`);
    return { kind: 'version', text: versionText() };
  }
  if (first.startsWith('-') && first !== '-') {
    const near = closest(first.replace(/^-+/, ''), ['help', 'version']);
    throw new UsageError(`unknown option ${quote(first)} (${near ? `did you mean --${near}? ` : ''}options go after the command: ovlcheck COMMAND [options])`);
  }
  if (!isCommand(first)) throw unknownCommand(first);
  const scanned = scan(SPECS[first], rest);
  if (scanned.help) return { kind: 'help', text: commandHelpText(first), exitCode: 0 };
  return build(first, scanned, o.now ?? new Date());
}

// ---------------------------------------------------------------------------------------------
// The output directory, checked before anything runs.

/** Kernel interfaces that look like directories but hold no files of ours (statfs f_type). */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc', 0x62656572: 'sysfs', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2', 0x64626720: 'debugfs', 0x74726163: 'tracefs',
  0x73636673: 'securityfs', 0x62656570: 'configfs', 0x6165676c: 'pstore', 0xcafe4a11: 'bpf', 0xde5e81e4: 'efivarfs',
  0x1cd1: 'devpts', 0xf97cff8c: 'selinuxfs', 0x42494e4d: 'binfmt_misc', 0x65735543: 'fusectl', 0x6e736673: 'nsfs',
};

/** A path in a message: its end (where the problem usually is) when it is long. */
function quotePath(p: string): string {
  return quote(p.length > 70 ? `…${p.slice(-69)}` : p, 80);
}

/** The report files compare writes: their presence marks a directory as holding a report. */
const REPORT_FILES = ['report.json', 'report.md'];

/**
 * That `dir` can hold the command's output, without making anything: the directory itself if
 * it exists, else its nearest existing ancestor, must be a directory (a symlink to one will
 * do), writable and searchable by this process (access(2), which also says EROFS), and not on
 * a kernel pseudo filesystem (proc, sysfs, cgroup, ...), where mkdir -p would fail or spin.
 * Unless `force`, a `dir` that already holds report.json or report.md is refused. Throws
 * UsageError. It does not create the directory: a run refused later (not root, a driver it
 * cannot run) leaves nothing behind, and the command makes it when it first writes.
 */
export function checkOutDir(dir: string, o: { force?: boolean } = {}): void {
  const fail = (why: string): never => {
    throw new UsageError(`--out ${quotePath(dir)}: ${why}`);
  };
  if (dir === '') fail('empty path');
  const target = path.resolve(dir);
  let at = target;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file on the way, found (and named) further up.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') fail(`cannot reach ${quotePath(at)} (${code ?? (e as Error).message})`);
      let link = false;
      try {
        link = fs.lstatSync(at).isSymbolicLink();
      } catch {
        /* nothing there at all */
      }
      if (link) fail(`${quotePath(at)} is a symlink to nothing`);
      const up = path.dirname(at);
      if (up === at) fail('no part of it exists');
      at = up;
      continue;
    }
    if (!st.isDirectory()) fail(at === target ? 'not a directory' : `${quotePath(at)} is not a directory`);
    break;
  }
  let type: number | undefined;
  try {
    type = Number(fs.statfsSync(at).type);
  } catch (e) {
    fail(`cannot statfs ${quotePath(at)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const pseudo = PSEUDO_FS[type!];
  if (pseudo) fail(`${at === target ? 'it' : quotePath(at)} is on ${pseudo}, a kernel interface, not a place for files`);
  try {
    fs.accessSync(at, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    fail(`${at === target ? 'not' : `${quotePath(at)} is not`} writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (at === target && !o.force) {
    const held = REPORT_FILES.find((f) => fs.existsSync(path.join(target, f)));
    if (held) fail(`already holds a report (${held}); give another --out, or --force to write over it`);
  }
}

/**
 * The output directory a command writes, and whether checkOutDir may let it write over a
 * report there: only compare refuses (run writes case files beside anything; matrix's
 * default, reports/matrix, is regenerated in place on purpose).
 */
export function outDirOf(c: Command): { dir: string; force: boolean } | undefined {
  switch (c.cmd) {
    case 'run': return { dir: c.args.out, force: true };
    case 'replay': return c.args.coverage ? { dir: c.args.out!, force: true } : undefined;
    case 'cross': return { dir: c.args.out, force: true };
    case 'compare': return { dir: c.args.out, force: c.args.force };
    case 'matrix': return { dir: c.args.out, force: true };
    case 'versions': return { dir: c.args.out, force: true };
    default: return undefined;
  }
}

/** A command's flags as its spec declares them (for tests, completion, documentation). */
export function commandFlags(cmd: CommandName): { name: string; kind: 'int' | 'string' | 'bool'; min?: number; max?: number }[] {
  return SPECS[cmd].flags.map(({ name, kind, min, max }) => ({ name, kind, ...(kind === 'int' ? { min, max } : {}) }));
}
