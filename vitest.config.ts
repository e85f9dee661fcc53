import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    globalSetup: ['packages/testing/src/vitest-setup.ts'],
    // Tests talk to one local database server; a few files at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
    // Memory tests measure what is retained, so they collect garbage before each sample.
    execArgv: ['--expose-gc'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
