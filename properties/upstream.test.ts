// reports/*/upstream.json: what the implementations' trackers hold of the latest releases'
// findings. Each is well-formed, speaks of findings its report holds, gives every proposed
// finding a reproducer and a report text, and README's list says what they say.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCase } from './caseFile.js';
import { isProposed, loadUpstream, statusOf, upstreamList, UpstreamError, withUpstreamList, withUpstreamSection, type UpstreamEntry } from './upstream.js';

const ROOT = join(import.meta.dirname, '..');
const REPORTS = join(ROOT, 'reports');
const withUpstream = readdirSync(REPORTS).filter((d) => existsSync(join(REPORTS, d, 'upstream.json')));

describe('upstream.json beside a report', () => {
  it('is there for both latest releases', () => expect(withUpstream).toEqual(expect.arrayContaining(['fuse-overlayfs-1.16', 'unionfs-fuse-3.7'])));

  for (const name of withUpstream) {
    it(`${name}: lists only findings of its report, each once, and every data, hang and outcome finding`, () => {
      const u = loadUpstream(join(REPORTS, name))!;
      const report = JSON.parse(readFileSync(join(REPORTS, name, 'report.json'), 'utf8')) as { findings: { n: number; harm: string; signature: string }[] };
      const signatures = u.findings.map((e) => e.signature);
      expect(new Set(signatures).size).toBe(signatures.length);
      const own = u.findings.filter((e) => e.case === undefined).map((e) => e.signature);
      expect(own.filter((s) => !report.findings.some((f) => f.signature === s))).toEqual([]);
      // The others: an earlier release's case (or one extended by hand, as with a remount), which diverges so here.
      for (const e of u.findings.filter((x) => x.case !== undefined)) {
        const c = parseCase(readFileSync(join(ROOT, e.case!), 'utf8'), e.case) as { divergence?: { signature?: string } };
        expect(c.divergence?.signature, e.case).toBe(e.signature);
      }
      const worth = report.findings.filter((f) => ['data', 'hang', 'outcome'].includes(f.harm)).map((f) => f.signature);
      expect(worth.filter((s) => !signatures.includes(s))).toEqual([]);
    });

    it(`${name}: every proposed finding has its reproducer and its report text, which cites what the kernel does`, () => {
      const u = loadUpstream(join(REPORTS, name))!;
      const report = JSON.parse(readFileSync(join(REPORTS, name, 'report.json'), 'utf8')) as { findings: { n: number; signature: string }[] };
      for (const e of u.findings.filter(isProposed)) {
        const script = e.reproducer?.replace(/\.sh$/, '') ?? `repro/${String(report.findings.find((f) => f.signature === e.signature)!.n).padStart(2, '0')}`;
        expect(existsSync(join(REPORTS, name, `${script}.sh`)), `${name} ${script}.sh`).toBe(true);
        const text = readFileSync(join(REPORTS, name, `${script}.issue.md`), 'utf8');
        expect(text, `${name} ${script}.issue.md`).toContain(e.kernel.sources[0]);
      }
    });
  }

  it('README\'s list and each report\'s Upstream section are current (else: npm run build && node dist/properties/upstream.js --write)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(withUpstreamList(readme, upstreamList(REPORTS))).toBe(readme);
    for (const name of withUpstream) expect(withUpstreamSection(join(REPORTS, name)), name).toBe(readFileSync(join(REPORTS, name, 'report.md'), 'utf8'));
  });
});

describe('upstream statuses', () => {
  const entry = (over: Partial<UpstreamEntry>): UpstreamEntry => ({ signature: 's', harm: 'outcome', verdict: 'new', kernel: { says: 'x', sources: ['y'] }, note: 'n', ...over });
  it('propose new and known findings on their own, and nothing else', () => {
    expect(isProposed(entry({}))).toBe(true);
    expect(isProposed(entry({ verdict: 'known', threads: [{ url: 'https://github.com/a/b/issues/3', number: 3, title: 't', state: 'open' }] }))).toBe(true);
    expect(isProposed(entry({ sameAs: 'other' }))).toBe(false);
    for (const verdict of ['fixed upstream', 'documented intent', 'kernel: undefined', 'not proposed', 'ovlcheck'] as const) expect(isProposed(entry({ verdict }))).toBe(false);
  });

  it('say the thread, or the finding a shared cause folds it into', () => {
    expect(statusOf(entry({ verdict: 'known', threads: [{ url: 'https://github.com/a/b/issues/3', number: 3, title: 't', state: 'open' }] }))).toBe('known #3');
    expect(statusOf(entry({ sameAs: 'other' }), (s) => (s === 'other' ? 7 : undefined))).toBe('same cause as #7');
    expect(statusOf(entry({ verdict: 'documented intent', sameAs: 'other' }), () => 7)).toBe('same cause as #7 (documented intent)');
  });

  it('refuse a malformed file with one line (exit 2), not a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ovlup-'));
    try {
      writeFileSync(join(dir, 'upstream.json'), '{ "implementation": "x" ');
      expect(() => loadUpstream(dir)).toThrow(UpstreamError);
      writeFileSync(join(dir, 'upstream.json'), JSON.stringify({ implementation: 'x', checked: 'today', searched: [], findings: [entry({ verdict: 'maybe' as 'new' })] }));
      expect(() => loadUpstream(dir)).toThrow(/verdict/);
      writeFileSync(join(dir, 'upstream.json'), JSON.stringify({ implementation: 'x', checked: 'today', searched: [], findings: [entry({ sameAs: 'missing' })] }));
      expect(() => loadUpstream(dir)).toThrow(/does not list/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
