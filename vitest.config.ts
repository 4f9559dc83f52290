import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Merges the coverage-by-catalog-item counts the test files save (properties/coverageSetup.ts).
    globalSetup: ['./properties/coverageSetup.ts'],
  },
});
