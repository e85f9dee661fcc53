/**
 * node:http handler for Anti-OOM: CSV uploads into MongoDB with limits, an import registry and
 * live progress over Server-Sent Events. `@anti-oom/express` and `@anti-oom/fastify` are thin
 * layers over it.
 *
 * @packageDocumentation
 */
export { createIngestHandler } from './handler.js';
export type { IngestHandler } from './handler.js';
export type {
  AuthorizeResult,
  ImportInfo,
  IngestAction,
  IngestHandlerOptions,
  IngestLimits,
  PerRequestPipelineOptions,
} from './options.js';
export type { ImportState } from './registry.js';
export { formatSseEvent } from './sse.js';
