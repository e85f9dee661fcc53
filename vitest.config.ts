import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources of every workspace package: no build needed.
    alias: {
      '@anti-oom/core': src('core'),
      '@anti-oom/http': src('http'),
      '@anti-oom/express': src('express'),
      '@anti-oom/fastify': src('fastify'),
      '@anti-oom/cli': src('cli'),
      '@anti-oom/queue': src('queue'),
      '@anti-oom/example-shared': fileURLToPath(new URL('./examples/shared/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['packages/testing/src/vitest-setup.ts'],
    // Tests talk to one local database server; a few files at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
    // Memory tests measure what is retained, so they collect garbage before each sample.
    execArgv: ['--expose-gc'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
