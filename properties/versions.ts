// `ovlcheck versions OLD=DIR NEW=DIR`: two builds of one implementation, finding by finding.
// Every minimal case of both compare reports is replayed on both builds (not matched by
// signature alone): a finding is still there, fixed, or new in the later version.

import fs from 'node:fs';
import path from 'node:path';
import { release } from 'node:os';
import { describeBuild, resolveBuild, type FuseName } from '../harness/drivers/builds.js';
import { makeDriver } from '../harness/drivers/index.js';
import type { Driver } from '../harness/driver.js';
import type { Sandbox } from '../harness/sandbox.js';
import { runningKernel } from '../harness/sys.js';
import { parseCase, type CaseFile } from './caseFile.js';
import { replayCase, toleratedBy } from './replay.js';

/** One side: a build (NAME@VERSION) and the compare report found with it. */
export interface VersionSide {
  name: FuseName;
  version: string;
  dir: string;
}

/** What one minimal case did on one build: the signature it diverged with, or null. */
type Replayed = string | null;

export interface VersionRow {
  signature: string;
  harm: string;
  /** The report each case came from ('older' | 'newer') and its file, relative to the cwd. */
  cases: { from: 'older' | 'newer'; file: string; onOlder: Replayed; onNewer: Replayed }[];
  /** Whether the finding's signature shows when its cases replay on each build. */
  inOlder: boolean;
  inNewer: boolean;
  /** changed: gone from the newer build, whose replay stops at another divergence instead. */
  status: 'still there' | 'fixed' | 'changed' | 'new' | 'does not replay';
}

export interface VersionsResult {
  older: VersionSide & { implementation: string; findings: number };
  newer: VersionSide & { implementation: string; findings: number };
  kernelRelease: string;
  date: string;
  rows: VersionRow[];
}

function loadCases(dir: string): { file: string; c: CaseFile; signature: string }[] {
  const casesDir = path.join(dir, 'cases');
  return fs.readdirSync(casesDir).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const file = path.join(casesDir, f);
    const c = parseCase(fs.readFileSync(file, 'utf8'), file);
    const signature = (c.divergence as { signature?: unknown } | undefined)?.signature;
    if (typeof signature !== 'string') throw new Error(`${file}: no divergence signature: not a case compare saved`);
    return { file, c, signature };
  });
}

/** Replays every case of both reports on both builds and says, finding by finding, what changed. */
export async function compareVersions(older: VersionSide, newer: VersionSide, sandbox: Sandbox, log: (line: string) => void = () => {}): Promise<VersionsResult> {
  const sides = { older, newer } as const;
  const drivers: Record<'older' | 'newer', Driver> = {
    older: makeDriver(older.name, sandbox, { version: older.version }),
    newer: makeDriver(newer.name, sandbox, { version: newer.version }),
  };
  const kernelReader = makeDriver('kernel', sandbox); // compare's cases end with the kernel mounting the layers
  const kernel = runningKernel();
  const kernelRelease = release();
  const replay = async (c: CaseFile, on: 'older' | 'newer'): Promise<Replayed> => {
    const r = await replayCase(c, drivers[on], kernel, kernelRelease, undefined, toleratedBy(c), kernelReader);
    return r.failure?.info.signature ?? null;
  };
  const rows = new Map<string, VersionRow>();
  const counts = { older: 0, newer: 0 };
  try {
    for (const from of ['older', 'newer'] as const) {
      const cases = loadCases(sides[from].dir);
      counts[from] = cases.length;
      for (const { file, c, signature } of cases) {
        const onOlder = await replay(c, 'older');
        const onNewer = await replay(c, 'newer');
        log(`${from} ${file}: on ${older.version} ${onOlder === signature ? 'as found' : onOlder ?? 'conforms'}; on ${newer.version} ${onNewer === signature ? 'as found' : onNewer ?? 'conforms'}`);
        const row = rows.get(signature) ?? { signature, harm: signature.split(':')[0], cases: [], inOlder: false, inNewer: false, status: 'does not replay' as const };
        row.cases.push({ from, file, onOlder, onNewer });
        row.inOlder ||= onOlder === signature;
        row.inNewer ||= onNewer === signature;
        rows.set(signature, row);
      }
    }
  } finally {
    await drivers.older.teardown();
    await drivers.newer.teardown();
    await kernelReader.teardown();
  }
  for (const row of rows.values()) {
    const otherOnNewer = row.cases.some((c) => c.onNewer !== null && c.onNewer !== row.signature);
    row.status = row.inOlder && row.inNewer ? 'still there' : row.inOlder ? (otherOnNewer ? 'changed' : 'fixed') : row.inNewer ? 'new' : 'does not replay';
  }
  const describe = (s: VersionSide) => {
    const build = resolveBuild(s.name, { version: s.version });
    return typeof build === 'string' ? `${s.name} ${s.version}` : describeBuild(s.name, build);
  };
  return {
    older: { ...older, implementation: describe(older), findings: counts.older },
    newer: { ...newer, implementation: describe(newer), findings: counts.newer },
    kernelRelease, date: new Date().toISOString(),
    rows: [...rows.values()].sort((a, b) => HARM_ORDER.indexOf(a.harm) - HARM_ORDER.indexOf(b.harm) || STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status)),
  };
}

const HARM_ORDER = ['data', 'hang', 'outcome', 'metadata', 'bookkeeping'];
const STATUS_ORDER: VersionRow['status'][] = ['new', 'still there', 'changed', 'fixed', 'does not replay'];

function cell(r: Replayed, signature: string): string {
  return r === signature ? 'shows' : r === null ? 'conforms' : `another: ${r}`;
}

export function versionsMarkdown(v: VersionsResult): string {
  const o = v.older.version, n = v.newer.version;
  const count = (s: VersionRow['status']) => v.rows.filter((r) => r.status === s).length;
  const lines = [
    `# ${v.older.name} ${o} → ${n}, finding by finding`,
    '',
    `- older: ${v.older.implementation}; its report \`${v.older.dir}\`, ${v.older.findings} findings`,
    `- newer: ${v.newer.implementation}; its report \`${v.newer.dir}\`, ${v.newer.findings} findings`,
    `- every minimal case of both reports replayed on both builds: kernel ${v.kernelRelease}, ${v.date}`,
    `- ${v.rows.length} distinct findings: new in ${n} ${count('new')}, still there ${count('still there')}, fixed in ${n} ${count('fixed')}, ` +
      `changed in ${n} (another divergence instead) ${count('changed')}, replaying as found on neither ${count('does not replay')}`,
    '',
    'A finding is its signature (harm class, when, what differed). "shows": the case replays to',
    'that signature on that build (what compare tolerated when it found the case tolerated again);',
    '"conforms": the case runs to its end with the model; "another": it stops at another signature.',
    'A finding both reports hold has one row with both cases. "changed": it no longer shows on the',
    'newer build, which stops at another divergence on its case instead (not counted as fixed).',
    '',
    `| # | status | harm | finding | case | on ${o} | on ${n} |`,
    '|---|---|---|---|---|---|---|',
  ];
  v.rows.forEach((r, i) => {
    for (const [k, c] of r.cases.entries()) {
      const head = k === 0 ? `| ${i + 1} | ${r.status === 'new' || r.status === 'fixed' || r.status === 'changed' ? `${r.status} in ${n}` : r.status} | ${r.harm} | ${r.signature.slice(r.harm.length + 2).replace(/\|/g, '\\|')} ` : '| | | | ';
      lines.push(`${head}| \`${c.file}\` | ${cell(c.onOlder, r.signature).replace(/\|/g, '\\|')} | ${cell(c.onNewer, r.signature).replace(/\|/g, '\\|')} |`);
    }
  });
  return lines.join('\n') + '\n';
}

/** Writes DIR/report.md and DIR/report.json. */
export function writeVersionsReport(dir: string, v: VersionsResult): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'report.md'), versionsMarkdown(v));
  fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(v, null, 2) + '\n');
}
