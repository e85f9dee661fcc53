/**
 * Express router for Anti-OOM: the routes of `@anti-oom/http`, mounted where you like.
 *
 * @packageDocumentation
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createIngestHandler, type IngestHandlerOptions } from '@anti-oom/http';

export type {
  AuthorizeResult,
  ImportInfo,
  IngestAction,
  IngestLimits,
  PerRequestPipelineOptions,
} from '@anti-oom/http';

/** Options of {@link ingestRouter}: those of `createIngestHandler`, less `prefix` (the mount path is the prefix). */
export type IngestRouterOptions = Omit<IngestHandlerOptions, 'prefix'>;

/** An Express middleware with the import routes, plus a graceful shutdown. */
export interface IngestRouter extends RequestHandler {
  /** Aborts running imports, waits for them to settle and ends every progress stream. */
  close(): Promise<void>;
}

/**
 * The import routes as Express middleware. Mount it with `app.use('/imports', ingestRouter(...))`.
 * Mount it before any body parser that would read `text/csv` or `text/plain` bodies (such as
 * `express.text()`): uploads are streamed, never buffered.
 *
 * @example
 * ```ts
 * app.use('/imports', ingestRouter({
 *   pipeline: () => ({ sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }) }),
 *   authorize: (req, action) => Boolean(req.headers.authorization),
 * }));
 * ```
 */
export function ingestRouter(options: IngestRouterOptions): IngestRouter {
  // Express strips the mount path from req.url, so the handler sees paths from its mount point.
  const handler = createIngestHandler({ ...options, prefix: '' });
  const router = ((req: Request, res: Response, next: NextFunction) => handler(req, res, next)) as IngestRouter;
  router.close = () => handler.close();
  return router;
}
