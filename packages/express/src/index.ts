/**
 * Express router for Anti-OOM: the routes of `@anti-oom/http`, mounted where you like.
 *
 * @packageDocumentation
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createIngestRoutes, fromNode, writeNode, type IngestRouteOptions } from '@anti-oom/http';

export type {
  AuthorizeResult,
  HttpLogger,
  ImportInfo,
  IngestAction,
  IngestLimits,
  PerRequestPipelineOptions,
} from '@anti-oom/http';

/**
 * Options of {@link ingestRouter}: those of `createIngestHandler`, less `prefix` (the mount path is
 * the prefix). `authorize`, `owner` and `pipeline` receive Express's `req`, so what your auth
 * middleware put on it (`req.user`) is there.
 */
export type IngestRouterOptions = IngestRouteOptions<Request>;

/** An Express middleware with the import routes, plus a graceful shutdown. */
export interface IngestRouter extends RequestHandler {
  /** Aborts running imports, waits for them to settle and ends every progress stream. */
  close(): Promise<void>;
}

/**
 * The import routes as Express middleware (Express 4 and 5). Mount it with
 * `app.use('/imports', ingestRouter(...))`, after your authentication middleware and before any
 * body parser that would read `text/csv` or `text/plain` bodies (such as `express.text()`):
 * uploads are streamed, never buffered. Requests that are not import routes go to `next()`.
 *
 * @example
 * ```ts
 * app.use('/imports', ingestRouter({
 *   authorize: (req, action) => (req.user ? true : { status: 401 }),
 *   owner: (req) => req.user?.id,
 *   pipeline: () => ({ sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }) }),
 * }));
 * ```
 */
export function ingestRouter(options: IngestRouterOptions): IngestRouter {
  const routes = createIngestRoutes<Request>(options);
  const router = ((req: Request, res: Response, next: NextFunction) => {
    // Express strips the mount path from req.url and keeps it in req.baseUrl.
    const path = new URL(req.url, 'http://x').pathname;
    const request = fromNode(req, res, { context: req, path: path === '/' ? '' : path, basePath: req.baseUrl });
    routes.handle(request).then((result) => (result ? writeNode(req, res, result) : next()), next);
  }) as IngestRouter;
  router.close = () => routes.close();
  return router;
}
