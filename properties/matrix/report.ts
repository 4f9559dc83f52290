// reports/matrix/: the matrix as report.json (everything), report.md and report.html, with
// kernels as columns and, as rows, every profile, the mount properties, every known-answer
// case, what each kernel read of the layers the others wrote, and the CLI run inside each
// guest. A cell is pass, fail (with its minimal case and the command that replays it), skipped
// (with the reason the kernel cannot hold it), or what ended the work (a hang, a panic).

import fs from 'node:fs';
import path from 'node:path';
import { PROFILES } from '../../model/index.js';
import type { KernelResult } from './types.js';

export interface CliRow {
  kernel: string;
  release: string;
  command: string;
  status: number | null;
  elapsedMs: number;
  /** The last lines it printed. */
  output: string;
  console: string;
}

export interface MatrixResult {
  date: string;
  command: string;
  options: object;
  kernels: KernelResult[];
  cli: CliRow[];
  elapsedMs: number;
}

export type Verdict = 'pass' | 'fail' | 'skipped' | 'none';

export interface Cell {
  verdict: Verdict;
  /** A few words for the table. */
  short: string;
  /** What a reader needs beyond them: the failure as printed, the reason, the replay command. */
  detail?: string;
}

export interface Row {
  group: string;
  name: string;
  cells: Cell[];
}

const none: Cell = { verdict: 'none', short: '' };

function profileCell(k: KernelResult, name: string): Cell {
  const p = k.profiles.find((x) => x.name === name);
  if (!p) return none; // not run: the kernel's status row says why
  if (p.status === 'pass') return { verdict: 'pass', short: `pass: ${p.cases} cases, ${p.steps} steps` };
  if (p.status === 'skipped') return { verdict: 'skipped', short: 'skipped', detail: p.why };
  const what = p.status === 'fail' ? `fail: ${p.signature ?? ''}` : p.status === 'hang' ? 'the guest hung' : p.status === 'gone' ? 'the guest went away' : p.status;
  return { verdict: 'fail', short: what, detail: [p.text, p.replay ? `replay: ${p.replay}` : ''].filter(Boolean).join('\n') };
}

export function rows(r: MatrixResult): Row[] {
  const ks = r.kernels;
  const out: Row[] = [];
  out.push({ group: 'kernel', name: 'status', cells: ks.map((k) => k.status === 'done'
    ? { verdict: 'pass', short: `done in ${(k.elapsedMs / 1000).toFixed(0)} s${k.bootMs ? ` (boot ${(k.bootMs / 1000).toFixed(1)} s)` : ''}` }
    : { verdict: 'fail', short: k.status, detail: [k.why, k.console ? `console: ${k.console}` : ''].filter(Boolean).join('\n') }) });
  for (const name of Object.keys(PROFILES)) out.push({ group: 'profile', name, cells: ks.map((k) => profileCell(k, name)) });
  for (const name of ['mount-time validation', 'mount sequences']) {
    out.push({ group: 'property', name, cells: ks.map((k) => {
      const p = k.properties.find((x) => x.name === name);
      if (!p) return none;
      return p.status === 'pass' ? { verdict: 'pass', short: p.summary.replace(/;.*$/, '') } : { verdict: 'fail', short: 'fail', detail: p.failureText };
    }) });
  }
  const caseNames = [...new Set(ks.flatMap((k) => k.knownAnswers.map((c) => c.file)))].sort();
  for (const file of caseNames) {
    out.push({ group: 'known answer', name: file.replace(/\.json$/, ''), cells: ks.map((k) => {
      const c = k.knownAnswers.find((x) => x.file === file);
      if (!c) return none;
      if (c.status === 'ok') return { verdict: 'pass', short: 'ok' };
      if (c.status === 'skipped') return { verdict: 'skipped', short: 'skipped', detail: c.why };
      return { verdict: 'fail', short: c.status, detail: [c.why, c.detail].filter(Boolean).join('\n') };
    }) });
  }
  if (ks.some((k) => k.crossWritten)) {
    out.push({ group: 'cross-kernel', name: 'layers written on ext4 (each step, then a remount, against the model)', cells: ks.map((k) => {
      const w = k.crossWritten;
      if (!w) return none;
      const ok = w.cases - w.skipped - w.divergences.length;
      const short = `${ok} written${w.skipped ? `, ${w.skipped} skipped` : ''}${w.divergences.length ? `, ${w.divergences.length} DIVERGED` : ''}`;
      return { verdict: w.divergences.length ? 'fail' : 'pass', short, ...(w.divergences.length ? { detail: w.divergences.join('\n\n') } : {}) };
    }) });
  }
  const writers = [...new Set(ks.flatMap((k) => (k.crossRead ?? []).map((c) => c.writer)))].sort();
  for (const writer of writers) {
    out.push({ group: 'cross-kernel', name: `upper written by ${writer}`, cells: ks.map((k) => {
      if (k.release === writer) return none;
      const read = (k.crossRead ?? []).find((c) => c.writer === writer);
      if (!read) return k.crossReadStatus ? { verdict: 'fail', short: 'not read', detail: k.crossReadStatus } : none;
      const count = (s: string) => read.cases.filter((c) => c.status === s).length;
      const failed = read.cases.filter((c) => c.status === 'fail');
      const skips = [...new Set(read.cases.filter((c) => c.status === 'skipped').map((c) => c.why))];
      const short = `${count('pass')} pass${count('skipped') ? `, ${count('skipped')} skipped` : ''}${failed.length ? `, ${failed.length} FAIL` : ''}`;
      return { verdict: failed.length ? 'fail' : 'pass', short, detail: [...failed.map((c) => c.text ?? ''), ...skips.map((s) => `skipped: ${s}`)].join('\n\n') || undefined };
    }) });
  }
  if (r.cli.length) {
    out.push({ group: 'cli', name: 'ovlcheck run inside the kernel', cells: ks.map((k) => {
      const c = r.cli.find((x) => x.kernel === k.spec);
      if (!c) return none;
      const detail = `$ ${c.command}\n${c.output}${c.console ? `\nconsole: ${c.console}` : ''}`;
      return c.status === 0 ? { verdict: 'pass', short: `exit 0 in ${(c.elapsedMs / 1000).toFixed(0)} s`, detail } : { verdict: 'fail', short: c.status === null ? 'did not finish' : `exit ${c.status}`, detail };
    }) });
  }
  return out;
}

export function kernelName(k: KernelResult): string {
  return k.release ? `${k.release}${k.where === 'host' ? ' (host)' : ''}` : k.spec;
}

/** Cells that are neither a pass nor a skip with its reason: what the run could not explain. */
export function unexplained(r: MatrixResult): { row: string; kernel: string; short: string }[] {
  return rows(r).flatMap((row) => row.cells.flatMap((c, i) => (c.verdict === 'fail' ? [{ row: `${row.group} ${row.name}`, kernel: kernelName(r.kernels[i]), short: c.short }] : [])));
}

const mdCell = (c: Cell) => (c.verdict === 'none' ? '' : c.verdict === 'fail' ? `**${c.short}**` : c.verdict === 'skipped' ? `skipped${c.detail ? `: ${c.detail}` : ''}` : c.short).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function markdown(r: MatrixResult, table: Row[]): string {
  const ks = r.kernels;
  const bad = unexplained(r);
  const lines = [
    '# ovlcheck matrix',
    '',
    `- ${r.date}; ${(r.elapsedMs / 60000).toFixed(1)} min; \`${r.command}\``,
    `- ${ks.length} kernels: ${ks.map((k) => `${kernelName(k)}${k.debVersion ? ` (Debian ${k.debVersion})` : ''}`).join(', ')}`,
    `- ${bad.length === 0 ? 'no unexplained divergence' : `**${bad.length} unexplained**: ${bad.map((b) => `${b.row} on ${b.kernel}`).join('; ')}`}`,
    '',
    'A skipped cell says why that kernel cannot hold it (model/versions.ts has where each rule',
    'changed). Failures carry their minimal case below, with the command that replays it.',
    '',
    `| | ${ks.map(kernelName).join(' | ')} |`,
    `|---|${ks.map(() => '---').join('|')}|`,
  ];
  let group = '';
  for (const row of table) {
    if (row.group !== group) {
      group = row.group;
      lines.push(`| **${group}** |${ks.map(() => ' ').join('|')}|`);
    }
    lines.push(`| ${row.name} | ${row.cells.map(mdCell).join(' | ')} |`);
  }
  const failures = table.flatMap((row) => row.cells.flatMap((c, i) => (c.verdict === 'fail' && c.detail ? [{ row, c, k: ks[i] }] : [])));
  if (failures.length) {
    lines.push('', '## Failures', '');
    for (const { row, c, k } of failures) lines.push(`### ${row.group} ${row.name} on ${kernelName(k)}`, '', '```', c.detail!, '```', '');
  }
  lines.push('', '## What each kernel is', '');
  for (const k of ks) {
    if (!k.probe) continue;
    lines.push(`### ${kernelName(k)}`, '', `- module defaults: ${Object.entries(k.probe.moduleDefaults).map(([a, b]) => `${a}=${b}`).join(' ')}`,
      `- layer filesystem (tmpfs): user.* xattrs ${k.probe.layerFs.userXattrs ? 'yes' : 'no'}`, '', '| profile | mounts | /proc/mounts shows | runs |', '|---|---|---|---|');
    for (const p of k.probe.profiles) lines.push(`| ${p.name} | ${p.mounts} | ${p.shown} | ${p.runs ? 'yes' : `no: ${p.why}`} |`);
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function html(r: MatrixResult, table: Row[]): string {
  const ks = r.kernels;
  const bad = unexplained(r);
  const cell = (c: Cell) => {
    if (c.verdict === 'none') return '<td class="none"></td>';
    const body = esc(c.short) + (c.detail ? `<details><summary>${c.verdict === 'skipped' ? 'why' : 'details'}</summary><pre>${esc(c.detail)}</pre></details>` : '');
    return `<td class="${c.verdict}">${body}</td>`;
  };
  let group = '';
  const body = table.map((row) => {
    const head = row.group !== group ? `<tr class="group"><th colspan="${ks.length + 1}">${esc((group = row.group))}</th></tr>` : '';
    return `${head}<tr><th>${esc(row.name)}</th>${row.cells.map(cell).join('')}</tr>`;
  }).join('\n');
  const probes = ks.filter((k) => k.probe).map((k) => `<h3>${esc(kernelName(k))}</h3><pre>${esc(
    [`module defaults: ${Object.entries(k.probe!.moduleDefaults).map(([a, b]) => `${a}=${b}`).join(' ')}`, `layer filesystem (tmpfs): user.* xattrs ${k.probe!.layerFs.userXattrs ? 'yes' : 'no'}`,
      ...k.probe!.profiles.map((p) => `${p.name.padEnd(18)} ${p.mounts.padEnd(7)} ${p.shown}${p.why ? `  [${p.why}]` : ''}`)].join('\n'))}</pre>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ovlcheck matrix</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
tr.group th { background: #eee; }
td.pass { background: #e3f6e3; } td.fail { background: #fbd9d9; font-weight: bold; } td.skipped { background: #f3f3f3; color: #555; }
pre { white-space: pre-wrap; font-size: 12px; max-width: 70em; font-weight: normal; }
</style></head><body>
<h1>ovlcheck matrix</h1>
<p>${esc(r.date)}; ${(r.elapsedMs / 60000).toFixed(1)} min; <code>${esc(r.command)}</code></p>
<p>${bad.length === 0 ? 'No unexplained divergence.' : `<strong>${bad.length} unexplained:</strong> ${esc(bad.map((b) => `${b.row} on ${b.kernel}`).join('; '))}`}</p>
<table><tr><th></th>${ks.map((k) => `<th>${esc(kernelName(k))}${k.debVersion ? `<br><small>Debian ${esc(k.debVersion)}</small>` : ''}</th>`).join('')}</tr>
${body}
</table>
<h2>What each kernel is</h2>
${probes}
</body></html>
`;
}

export function writeMatrixReport(dir: string, r: MatrixResult): void {
  fs.mkdirSync(dir, { recursive: true });
  const table = rows(r);
  fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(r, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'report.md'), markdown(r, table));
  fs.writeFileSync(path.join(dir, 'report.html'), html(r, table));
}
