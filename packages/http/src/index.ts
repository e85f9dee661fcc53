/**
 * node:http handler for Anti-OOM: CSV uploads into MongoDB with limits, an import registry and
 * live progress over Server-Sent Events. `@anti-oom/express` and `@anti-oom/fastify` are thin
 * layers over the same framework-neutral routes.
 *
 * @packageDocumentation
 */
export { createIngestHandler } from './handler.js';
export type { IngestHandler } from './handler.js';
export { createFetchHandler } from './fetch.js';
export type { FetchConnectionInfo, FetchHandler, FetchHandlerOptions } from './fetch.js';
export type {
  AuthorizeResult,
  HttpLogger,
  ImportInfo,
  IngestAction,
  IngestHandlerOptions,
  IngestLimits,
  IngestRouteOptions,
  PerRequestPipelineOptions,
} from './options.js';
export type { ImportState } from './registry.js';
export type { ImportQueue, QueuedImportEvent, QueuedImportRecord, QueuedState, TusEndpointRequest, TusUploadMeta } from './queue/types.js';
export { formatSseEvent } from './sse.js';
export type { IngestRequest, IngestResult } from './request.js';
export { createIngestRoutes } from './core.js';
export type { IngestRoutes } from './core.js';
export { discardRest, fromNode, writeNode } from './respond.js';
