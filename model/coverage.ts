// Coverage by catalog item: how often each rule of the model decided something. The model
// calls cover('S6.1') where a rule applies, and every Step's rule is counted where it is built
// (state.ts). Outcomes never depend on it; it only counts, and only while the properties layer
// has switched it on (startCoverage) and named what is running (coverageContext: a profile, a
// property, a case file). Off, a call costs one test of a module variable.

/** Counts by context label, then by item ("S6.1"). */
export type CoverageCounts = Map<string, Map<string, number>>;

let byContext: CoverageCounts | null = null;
/** The counts of the context running now; null: not recording. */
let counts: Map<string, number> | null = null;

/** One application of a catalog item's rule. */
export function cover(item: string): void {
  if (counts !== null) counts.set(item, (counts.get(item) ?? 0) + 1);
}

const ITEM = /S\d+\.\d+[a-z]?/g;
const splitRules = new Map<string, readonly string[]>();

/** A Step's or a verdict's rule ("S5.2", "S10.1, S20", "VFS"): each catalog item it names. */
export function coverRule(rule: string): void {
  if (counts === null) return;
  let items = splitRules.get(rule);
  if (!items) splitRules.set(rule, (items = rule.match(ITEM) ?? []));
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
}

/** A verdict ({ rule }) counted and passed on. */
export function covered<T extends { rule: string }>(verdict: T): T {
  coverRule(verdict.rule);
  return verdict;
}

/** Start recording, with nothing counted yet; nothing is counted until a context is named. */
export function startCoverage(): void {
  byContext = new Map();
  counts = null;
}

/** What runs from now on (a profile, a property, a case file); null: stop counting for a while. */
export function coverageContext(label: string | null): void {
  if (byContext === null) return;
  if (label === null) {
    counts = null;
    return;
  }
  let c = byContext.get(label);
  if (!c) byContext.set(label, (c = new Map()));
  counts = c;
}

/** Whether coverage is being recorded. */
export function coverageOn(): boolean {
  return byContext !== null;
}

/** Stop recording and hand over the counts (empty if it was never started). */
export function takeCoverage(): CoverageCounts {
  const out = byContext ?? new Map();
  byContext = null;
  counts = null;
  return out;
}

/** Adds counts recorded elsewhere (a worker of the run) to the recording (if one is on). */
export function addCoverage(more: CoverageCounts): void {
  if (byContext === null) return;
  for (const [label, items] of more) {
    let c = byContext.get(label);
    if (!c) byContext.set(label, (c = new Map()));
    for (const [item, n] of items) c.set(item, (c.get(item) ?? 0) + n);
  }
}
