import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Merges the coverage-by-catalog-item counts the test files save (properties/coverageSetup.ts).
    globalSetup: ['./properties/coverageSetup.ts'],
    // Hang guards, not speed limits: vitest's 5 s default failed tests on a busy CI runner. A test
    // that needs longer says so itself, from its measured worst case with a wide margin.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
