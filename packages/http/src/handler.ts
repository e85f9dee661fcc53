import type { IncomingMessage, ServerResponse } from 'node:http';
import { IngestError, IngestErrorCode } from '@anti-oom/core';
import { createIngestRoutes } from './core.js';
import { normalizePrefix, type IngestHandlerOptions } from './options.js';
import { errorResult } from './present.js';
import { fromNode, writeNode } from './respond.js';

/** A node:http request listener with the import routes, plus a graceful shutdown. */
export interface IngestHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Aborts running imports, waits for them to settle and ends every progress stream. */
  close(): Promise<void>;
  /** Imports currently known (running, pending or ended and not yet expired). */
  readonly size: number;
}

/**
 * The import routes, for `http.createServer()`:
 *
 * | Route | Action for `authorize` | Does |
 * |---|---|---|
 * | `POST {prefix}` with a body | `create` | creates an import and uploads into it; answers with the report when it ends |
 * | `POST {prefix}` without a body | `create` | creates an import waiting for its upload: `201 { id, links }` |
 * | `PUT {prefix}/:id` | `upload` | uploads into a waiting import; answers with the report when it ends |
 * | `GET {prefix}/:id` | `watch` | `{ id, state, snapshot }` while running, `{ id, state, report }` once ended |
 * | `GET {prefix}/:id/events` | `watch` | Server-Sent Events: `progress`, `rowFailure`, `done` |
 * | `DELETE {prefix}/:id` | `cancel` | cancels a running or waiting import |
 * | `POST {prefix}/preview` | `preview` | reads the first bytes of a file (at most `limits.maxPreviewBytes`) and answers with what an import would make of it (`previewCsv`'s result); writes nothing |
 *
 * A browser that wants to watch its own upload creates the import first, opens the event stream,
 * then uploads. Bodies are `text/csv` (optionally `Content-Encoding: gzip`), `application/gzip`, or
 * `multipart/form-data` with one file (text fields before it reach the `pipeline` callback).
 *
 * `authorize` is required; creating, uploading, cancelling and previewing are refused across sites;
 * see docs/security.md. For Fetch API runtimes (Hono, Next.js, Bun, Deno), see `createFetchHandler`.
 *
 * @example
 * ```ts
 * const handler = createIngestHandler({
 *   prefix: '/imports',
 *   authorize: (req) => req.headers.authorization === `Bearer ${process.env.IMPORT_TOKEN}`,
 *   pipeline: () => ({ sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }) }),
 * });
 * http.createServer(handler).listen(3000, '127.0.0.1');
 * ```
 */
export function createIngestHandler(options: IngestHandlerOptions): IngestHandler {
  const prefix = normalizePrefix(options?.prefix);
  const routes = createIngestRoutes<IncomingMessage>(options);
  const logger = options.logger;

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const ours = path === prefix || path.startsWith(`${prefix}/`) || (prefix === '' && path === '/');
    if (!ours) {
      if (next) next();
      else writeNode(req, res, errorResult(new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such route.'), { logger: logger ?? console, view: { exposeMemory: false } }));
      return;
    }
    const request = fromNode(req, res, { context: req, path: path.slice(prefix.length), basePath: prefix });
    void routes.handle(request).then((result) => {
      if (result) writeNode(req, res, result);
      else if (next) next();
      else writeNode(req, res, errorResult(new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such route.'), { logger: logger ?? console, view: { exposeMemory: false } }));
    });
  }) as IngestHandler;

  handler.close = () => routes.close();
  Object.defineProperty(handler, 'size', { get: () => routes.size });
  return handler;
}
