// The coverage table: every catalog item (model/catalog.ts), how often the model applied it
// (model/coverage.ts) and by which profile, property or case file, and, for the items never
// reached, why (their reach in the catalog). `ovlcheck run --coverage` and `replay --coverage`
// write it as coverage.md and coverage.json; npm test writes it from its test files' parts
// (properties/coverageSetup.ts).

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOG, testableHere, type Reach } from '../model/catalog.js';
import type { CoverageCounts } from '../model/coverage.js';

export interface ItemRow {
  id: string;
  title: string;
  reach: Reach;
  why?: string;
  count: number;
  /** Contexts that applied it, most first. */
  by: { context: string; count: number }[];
}

export interface CoverageReport {
  /** What produced the counts (the command, the test run). */
  source: string;
  items: ItemRow[];
  /** Items testable here (reach here or not-modelled) that were reached, of how many. */
  reached: number;
  testable: number;
  /** Items named by a rule that are not in the catalog (a typo in a citation, or a missing item). */
  unknown: { id: string; count: number }[];
}

/** The table of counts. */
export function coverageReport(counts: CoverageCounts, source: string): CoverageReport {
  const byItem = new Map<string, { context: string; count: number }[]>();
  for (const [context, items] of counts) {
    for (const [id, count] of items) {
      if (!byItem.has(id)) byItem.set(id, []);
      byItem.get(id)!.push({ context, count });
    }
  }
  const sum = (by: { count: number }[] = []) => by.reduce((n, b) => n + b.count, 0);
  const items = CATALOG.map((c): ItemRow => {
    const by = (byItem.get(c.id) ?? []).sort((a, b) => b.count - a.count || (a.context < b.context ? -1 : 1));
    return { ...c, count: sum(by), by };
  });
  const known = new Set(CATALOG.map((c) => c.id));
  const unknown = [...byItem].filter(([id]) => !known.has(id)).map(([id, by]) => ({ id, count: sum(by) })).sort((a, b) => (a.id < b.id ? -1 : 1));
  const testable = items.filter((i) => testableHere(i));
  return { source, items, reached: testable.filter((i) => i.count > 0).length, testable: testable.length, unknown };
}

export function percent(r: CoverageReport): string {
  return r.testable ? `${Math.round((100 * r.reached) / r.testable)}%` : '-';
}

/** One line: "98 of 131 items testable here reached (75%)". */
export function totalsLine(r: CoverageReport): string {
  return `${r.reached} of ${r.testable} catalog items testable here reached (${percent(r)})`;
}

const REASONS: Record<Exclude<Reach, 'here'>, string> = {
  'not-modelled': 'Not modelled yet (testable here)',
  'other-kernel': 'Needs another kernel',
  untestable: 'Untestable here',
  'no-rule': 'No rule of its own',
};

const SHOWN_CONTEXTS = 4;

function byText(row: ItemRow): string {
  const shown = row.by.slice(0, SHOWN_CONTEXTS).map((b) => `${b.context} ${b.count}`);
  if (row.by.length > SHOWN_CONTEXTS) shown.push(`and ${row.by.length - SHOWN_CONTEXTS} more`);
  return shown.join(', ');
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The never-reached items, grouped by why (the README's list is made from this too). */
export function unreachedText(r: CoverageReport): string[] {
  const out: string[] = [];
  const never = r.items.filter((i) => i.count === 0);
  const modelled = never.filter((i) => i.reach === 'here');
  if (modelled.length) {
    out.push(`- **Modelled, not reached here** (the generator or the cases do not get there): ${modelled.map((i) => `${i.id} ${i.title}`).join('; ')}`);
  }
  for (const [reach, heading] of Object.entries(REASONS)) {
    const group = never.filter((i) => i.reach === reach);
    if (!group.length) continue;
    out.push(`- **${heading}** (${group.length}):`);
    // Items that share a reason are listed together under it.
    const byWhy = new Map<string, ItemRow[]>();
    for (const i of group) byWhy.set(i.why ?? '', [...(byWhy.get(i.why ?? '') ?? []), i]);
    for (const [why, rows] of byWhy) out.push(`  - ${rows.map((i) => `${i.id} ${i.title}`).join('; ')}: ${why}`);
  }
  return out;
}

export function formatCoverageMd(r: CoverageReport): string {
  const lines = [
    '# Coverage by catalog item',
    '',
    `${r.source}`,
    '',
    `**${totalsLine(r)}**; ${r.items.filter((i) => i.count > 0).length} of the catalog's ${r.items.length} items reached in all. ` +
      'A count is how often the model applied the item\'s rule (model/coverage.ts) while its prediction was compared; "testable here" ' +
      'leaves out the items that need another kernel, cannot be exercised on this machine, or have no rule of their own (model/catalog.ts).',
    '',
    '| item | title | count | by |',
    '|---|---|---:|---|',
    ...r.items.map((i) => `| ${i.id} | ${cell(i.title)} | ${i.count || (i.reach === 'here' ? '0' : `0 (${i.reach})`)} | ${cell(byText(i))} |`),
    '',
    '## Never reached',
    '',
    ...unreachedText(r),
  ];
  const surprising = r.items.filter((i) => i.count > 0 && i.reach !== 'here');
  if (surprising.length) {
    lines.push('', '## Reached, though the catalog says otherwise (update model/catalog.ts)', '');
    for (const i of surprising) lines.push(`- ${i.id} ${i.title}: ${i.reach} (${i.why}), reached ${i.count} times`);
  }
  if (r.unknown.length) {
    lines.push('', '## Named by a rule but not in the catalog', '');
    for (const u of r.unknown) lines.push(`- ${u.id}: ${u.count}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes coverage.md and coverage.json in dir; returns the report. */
export function writeCoverage(dir: string, counts: CoverageCounts, source: string): CoverageReport {
  const r = coverageReport(counts, source);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'coverage.md'), formatCoverageMd(r));
  writeFileSync(join(dir, 'coverage.json'), JSON.stringify(r, null, 2) + '\n');
  return r;
}

// ------------------------------------------------------------------ parts (npm test)

type Plain = Record<string, Record<string, number>>;

function toPlain(counts: CoverageCounts): Plain {
  return Object.fromEntries([...counts].map(([context, items]) => [context, Object.fromEntries(items)]));
}

/** Saves one test file's counts as dir/<name>.json, for the merge at the end of the test run. */
export function writeCoveragePart(dir: string, name: string, counts: CoverageCounts): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(toPlain(counts)) + '\n');
}

/** Every part in dir, merged (contexts of the same name add up); the names of the parts. */
export function readCoverageParts(dir: string): { counts: CoverageCounts; parts: string[] } {
  const counts: CoverageCounts = new Map();
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    /* no parts at all */
  }
  for (const f of files) {
    const plain = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Plain;
    for (const [context, items] of Object.entries(plain)) {
      if (!counts.has(context)) counts.set(context, new Map());
      const c = counts.get(context)!;
      for (const [id, n] of Object.entries(items)) c.set(id, (c.get(id) ?? 0) + n);
    }
  }
  return { counts, parts: files.map((f) => f.replace(/\.json$/, '')) };
}
