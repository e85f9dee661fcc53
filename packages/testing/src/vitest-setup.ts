import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startMongo } from './index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUri: string;
    mongoKind: string;
  }
}

/** vitest globalSetup: one database server for the whole run, torn down at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startMongo();
  process.stderr.write(`[anti-oom/testing] tests run against ${server.kind}${server.description ? ` (${server.description})` : ''} at ${server.uri}\n`);
  project.provide('mongoUri', server.uri);
  project.provide('mongoKind', server.kind);
  return () => server.stop();
}
