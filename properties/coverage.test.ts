// Coverage by catalog item: the catalog as data, the recorder, the table, and the parts npm test
// merges. The CLI's --coverage is tested in cli.test.ts.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG, testableHere } from '../model/catalog.js';
import { cover, coverageContext, coverageOn, coverRule, startCoverage, takeCoverage } from '../model/coverage.js';
import type { KernelVersion } from '../model/index.js';
import { ModelDriver } from '../harness/drivers/model.js';
import { parseCase } from './caseFile.js';
import { coverageReport, formatCoverageMd, readCoverageParts, totalsLine, unreachedText, writeCoveragePart } from './coverageReport.js';
import { replayCase } from './replay.js';

const KERNEL: KernelVersion = [6, 18, 44];
const caseFile = (name: string) => parseCase(readFileSync(join(import.meta.dirname, 'cases', name), 'utf8'), name);
/** The code of a dir's modules, the catalog itself left out. */
const source = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'catalog.ts')
  .map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');

/** A case replayed on the model alone, with coverage recorded under its file name. */
async function recorded(name: string) {
  startCoverage();
  coverageContext(name);
  const r = await replayCase(caseFile(name), new ModelDriver(KERNEL), KERNEL, 'model');
  return { r, counts: takeCoverage() };
}

describe('the catalog', () => {
  it('holds every bold item of the semantics catalog once: 156, S1.1 to S22.9, with the lettered ones, and S17.9, found here', () => {
    const ids = CATALOG.map((i) => i.id);
    expect(ids).toHaveLength(157);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^S\d+\.\d+[a-z]?$/.test(id))).toBe(true);
    expect(ids).toEqual(expect.arrayContaining(['S1.1', 'S2.12', 'S2.12a', 'S2.12b', 'S8.9a', 'S15.1a', 'S17.9', 'S20.1', 'S22.9']));
    expect([ids[0], ids.at(-1)]).toEqual(['S1.1', 'S22.9']);
  });

  it('says why every item not exercised here is not, and nothing for those that are', () => {
    for (const i of CATALOG) expect(i.reach === 'here' ? i.why === undefined : (i.why ?? '').length > 10, i.id).toBe(true);
  });

  it('every item the model cites where it records a rule is in the catalog, and every item exercised here is recorded somewhere', () => {
    const code = source(join(import.meta.dirname, '..', 'model')) + source(join(import.meta.dirname, '..', 'harness', 'drivers'));
    // The string literals on lines that record a rule: cover('S6.1'), a Step's ok/fail, a verdict's fail.
    const recorded = new Set<string>();
    for (const line of code.split('\n').filter((l) => /\b(cover|ok|fail)\(/.test(l))) {
      for (const literal of line.match(/'[^']*'/g) ?? []) for (const id of literal.match(/S\d+\.\d+[a-z]?/g) ?? []) recorded.add(id);
    }
    const ids = new Set(CATALOG.map((i) => i.id));
    expect([...recorded].filter((id) => !ids.has(id))).toEqual([]);
    expect(CATALOG.filter((i) => i.reach === 'here' && !recorded.has(i.id)).map((i) => i.id)).toEqual([]);
  });
});

describe('the recorder', () => {
  it('counts nothing unless started and given a context, and hands its counts over once', () => {
    takeCoverage();
    cover('S6.1');
    expect(coverageOn()).toBe(false);
    expect(takeCoverage().size).toBe(0);
    startCoverage();
    cover('S6.1'); // no context yet
    coverageContext('a');
    cover('S6.1');
    coverageContext(null);
    cover('S6.1'); // paused
    coverageContext('a');
    coverRule('S5.2, S13.3'); // a rule naming two items counts both
    coverRule('VFS');
    coverRule('S10.1, S20'); // a section is no item
    const counts = takeCoverage();
    expect(Object.fromEntries(counts.get('a')!)).toEqual({ 'S6.1': 1, 'S5.2': 1, 'S13.3': 1, 'S10.1': 1 });
    expect(takeCoverage().size).toBe(0);
  });

  it('S5.2 rename-dir-exdev.json: replaying the case counts the rule that refuses the rename, under the case\'s name', async () => {
    const { r, counts } = await recorded('rename-dir-exdev.json');
    expect(r.failure).toBeNull();
    const c = counts.get('rename-dir-exdev.json')!;
    expect(c.get('S5.2')).toBeGreaterThan(0);
    expect(c.get('S5.3') ?? 0).toBe(0); // no redirect is written without redirect_dir=on
  });

  it('changes no outcome: a case gives the same steps, rules and views with coverage on and off', async () => {
    const name = 'metacopy-copy-up-and-redirect.json';
    const off = await replayCase(caseFile(name), new ModelDriver(KERNEL), KERNEL, 'model');
    const { r: on } = await recorded(name);
    expect(on).toEqual(off);
  });
});

describe('the table', () => {
  it('lists every item with its count and contexts, the totals over the items testable here, and why the rest are never reached', async () => {
    const { counts } = await recorded('rename-dir-exdev.json');
    const r = coverageReport(counts, 'test');
    expect(r.items).toHaveLength(CATALOG.length);
    expect(r.testable).toBe(CATALOG.filter(testableHere).length);
    const s52 = r.items.find((i) => i.id === 'S5.2')!;
    expect(s52.by).toEqual([{ context: 'rename-dir-exdev.json', count: s52.count }]);
    expect(r.reached).toBe(r.items.filter((i) => testableHere(i) && i.count > 0).length);
    expect(r.reached).toBeGreaterThan(3);
    expect(r.unknown).toEqual([]);
    const md = formatCoverageMd(r);
    expect(md).toContain(`| S5.2 | Directory rename without redirect | ${s52.count} | rename-dir-exdev.json ${s52.count} |`);
    expect(md).toContain(`**${totalsLine(r)}**`);
    expect(md).toMatch(/\| S17\.2 \| MAP_SHARED mapping[^|]*\| 0 \(not-modelled\) \|/);
    const never = unreachedText(r).join('\n');
    expect(never).toContain('S7.5 verity');
    expect(never).toMatch(/S7\.5 verity: fs-verity needs/);
    expect(never).toMatch(/Needs another kernel/);
    expect(never).not.toContain('S5.2 Directory rename');
  });

  it('npm test\'s parts add up: contexts of the same name from two test files are summed', () => {
    const dir = mkdtempSync(join(process.env.OVLCHECK_TMP ?? os.tmpdir(), 'coverage-'));
    writeCoveragePart(dir, 'one', new Map([['a', new Map([['S6.1', 2]])], ['b', new Map([['S4.1', 1]])]]));
    writeCoveragePart(dir, 'two', new Map([['a', new Map([['S6.1', 3], ['S4.7', 1]])]]));
    const { counts, parts } = readCoverageParts(dir);
    expect(parts).toEqual(['one', 'two']);
    expect(Object.fromEntries(counts.get('a')!)).toEqual({ 'S6.1': 5, 'S4.7': 1 });
    expect(Object.fromEntries(counts.get('b')!)).toEqual({ 'S4.1': 1 });
    expect(readCoverageParts(join(dir, 'none')).parts).toEqual([]);
  });

  it('names the items a rule cites that the catalog does not have', () => {
    const r = coverageReport(new Map([['x', new Map([['S99.1', 4]])]]), 'test');
    expect(r.unknown).toEqual([{ id: 'S99.1', count: 4 }]);
    expect(formatCoverageMd(r)).toContain('- S99.1: 4');
  });
});
