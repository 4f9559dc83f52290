// The matrix report: every row and column, and nothing unexplained hides behind a pass.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { outsideKernels, parseCase, CaseError } from '../caseFile.js';
import { unexplained, writeMatrixReport, type MatrixResult } from './report.js';
import type { KernelResult } from './types.js';

function kernel(over: Partial<KernelResult>): KernelResult {
  return { spec: '6.1', release: '6.1.0-57-amd64', version: '6.1.192', where: 'guest', status: 'done', elapsedMs: 1000, profiles: [], properties: [], knownAnswers: [], ...over };
}

const result = (kernels: KernelResult[]): MatrixResult => ({ date: '2026-11-30T00:00:00Z', command: 'ovlcheck matrix', options: {}, kernels, cli: [], elapsedMs: 60_000 });

describe('matrix report', () => {
  it('counts failures, hangs and failed boots as unexplained, and skips with a reason as explained', () => {
    const r = result([
      kernel({
        profiles: [
          { name: 'default', status: 'pass', cases: 300, steps: 2000, elapsedMs: 1 },
          { name: 'data-only', status: 'skipped', why: 'data-only layers ("::") came in 6.5', cases: 0, steps: 0, elapsedMs: 0 },
          { name: 'index', status: 'fail', signature: 'merged: nlink', text: 'DIVERGENCE ...', replay: 'npx ovlcheck replay --kernel 6.1 x.json', cases: 3, steps: 9, elapsedMs: 1 },
          { name: 'metacopy', status: 'hang', cases: 3, steps: 9, elapsedMs: 1 },
        ],
        knownAnswers: [{ file: 'a.json', status: 'ok' }, { file: 'b.json', status: 'skipped', why: 'its known answers hold for kernels with:xattrWhiteouts' }],
      }),
      kernel({ spec: '6.12', release: undefined, status: 'boot-failed', why: 'qemu exited' }),
    ]);
    const bad = unexplained(r).map((b) => `${b.row} @ ${b.kernel}`);
    expect(bad).toEqual(expect.arrayContaining(['profile index @ 6.1.0-57-amd64', 'profile metacopy @ 6.1.0-57-amd64', 'kernel status @ 6.12']));
    expect(bad.some((b) => b.includes('data-only') || b.includes('b.json') || b.includes('default'))).toBe(false);
  });

  it('writes Markdown, HTML and JSON with the failure, its replay command and every skip reason', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovlcheck-report-'));
    try {
      writeMatrixReport(dir, result([kernel({
        profiles: [
          { name: 'index', status: 'fail', signature: 'merged: nlink', text: 'DIVERGENCE <x>', replay: 'npx ovlcheck replay --kernel 6.1 x.json', cases: 3, steps: 9, elapsedMs: 1 },
          { name: 'data-only', status: 'skipped', why: 'data-only layers ("::") came in 6.5', cases: 0, steps: 0, elapsedMs: 0 },
        ],
      })]));
      const md = fs.readFileSync(path.join(dir, 'report.md'), 'utf8');
      expect(md).toContain('npx ovlcheck replay --kernel 6.1 x.json');
      expect(md).toContain('skipped: data-only layers ("::") came in 6.5');
      expect(md).toMatch(/1 unexplained/);
      const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
      expect(html).toContain('DIVERGENCE &lt;x&gt;');
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')).kernels).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});

describe('case files: the kernels their answers hold for', () => {
  const c = (kernels: string) => parseCase(JSON.stringify({ ovlcheck: 1, kernels, layers: { lowers: [{}] }, steps: [] }));
  it('takes comparisons and behaviours of model/versions.ts, all of which must hold', () => {
    expect(outsideKernels(c('>=6.7 <6.16'), [6, 12, 117])).toBeNull();
    expect(outsideKernels(c('>=6.7 <6.16'), [6, 1, 192])).toMatch(/hold for kernels >=6.7 <6.16, this one is 6.1.192/);
    expect(outsideKernels(c('with:indexedNlinkXattr'), [6, 12, 117])).toBeNull();
    expect(outsideKernels(c('with:indexedNlinkXattr'), [6, 12, 100])).not.toBeNull();
    expect(outsideKernels(c('with:indexedNlinkXattr'), [6, 18, 44])).not.toBeNull();
    expect(outsideKernels(c('without:xattrWhiteouts'), [6, 1, 192])).toBeNull();
  });
  it('refuses what it cannot read, naming it', () => {
    expect(() => c('~6.1')).toThrow(CaseError);
    expect(() => c('with:flyingCars')).toThrow(/not a behaviour of model\/versions.ts/);
  });
});
