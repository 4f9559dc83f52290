// For vitest files whose tests count toward npm test's coverage table: coverage is recorded
// from the file's first test to its last (each test names its context), then saved as a part
// that properties/coverageSetup.ts merges into reports/coverage/ when the test run ends.
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { coverageContext, startCoverage, takeCoverage } from '../model/coverage.js';
import { writeCoveragePart } from './coverageReport.js';

/** Where npm test writes the table, and its test files their parts. */
export const TEST_COVERAGE_DIR = join(import.meta.dirname, '..', 'reports', 'coverage');
export const TEST_COVERAGE_PARTS = join(TEST_COVERAGE_DIR, 'parts');

/**
 * Call at the top of a test file; `name` names its part ("knownAnswers"). Only tests that name
 * their context (coverageContext) count: a test of a deliberately broken model does not.
 */
export function useCoverage(name: string): void {
  beforeAll(() => startCoverage());
  beforeEach(() => coverageContext(null));
  afterAll(() => writeCoveragePart(TEST_COVERAGE_PARTS, name, takeCoverage()));
}
