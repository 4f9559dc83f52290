// vitest globalSetup (vitest.config.ts): the coverage parts of the last test run are cleared
// before it, and merged into reports/coverage/coverage.md and coverage.json after it. Test
// files run in workers of their own, so each saves its counts as a part (coverageForTests.ts).
import { rmSync } from 'node:fs';
import { release } from 'node:os';
import { readCoverageParts, totalsLine, writeCoverage } from './coverageReport.js';
import { TEST_COVERAGE_DIR, TEST_COVERAGE_PARTS } from './coverageForTests.js';

export function setup(): void {
  rmSync(TEST_COVERAGE_PARTS, { recursive: true, force: true });
}

export function teardown(): void {
  const { counts, parts } = readCoverageParts(TEST_COVERAGE_PARTS);
  if (parts.length === 0) return; // none of the test files that count ran
  const source = `npm test (vitest), kernel ${release()}, ${new Date().toISOString()}: the test files ${parts.join(', ')}.`;
  const r = writeCoverage(TEST_COVERAGE_DIR, counts, source);
  console.log(`coverage by catalog item: ${totalsLine(r)}; ${TEST_COVERAGE_DIR}/coverage.md`);
  if (r.reached === 0) throw new Error(`coverage: the test files ${parts.join(', ')} saved counts, but no catalog item was reached`);
}
