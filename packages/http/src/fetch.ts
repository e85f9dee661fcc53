import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { IngestError, IngestErrorCode } from '@anti-oom/core';
import { createIngestRoutes } from './core.js';
import { normalizePrefix, type IngestRouteOptions } from './options.js';
import { errorResult } from './present.js';
import type { IngestRequest, IngestResult } from './request.js';

/** Options of {@link createFetchHandler}: those of every adapter, with the callbacks getting the `Request`. */
export interface FetchHandlerOptions extends IngestRouteOptions<Request> {
  /**
   * Path the routes live under, as the `Request`'s URL has it (`/api/imports` for a Next.js route
   * handler at `app/api/imports/[[...path]]/route.ts`).
   * @defaultValue `''`
   */
  prefix?: string;
}

/** What the runtime knows of the connection and a `Request` does not carry. */
export interface FetchConnectionInfo {
  /**
   * The peer's address, for the per-client quotas when there is no `owner`. Without it (and
   * without `owner`) every anonymous client shares one quota.
   */
  clientAddress?: string | undefined;
}

/** A Fetch API handler with the import routes, plus a graceful shutdown. */
export interface FetchHandler {
  (request: Request, connection?: FetchConnectionInfo): Promise<Response>;
  /** Aborts running imports, waits for them to settle and ends every progress stream. */
  close(): Promise<void>;
  /** Imports currently known (running, pending or ended and not yet expired). */
  readonly size: number;
}

/**
 * A neutral request from a `Request`. The upload aborts when the `Request`'s signal does: the
 * runtimes (`@hono/node-server`, Bun, Deno, Next.js) abort it when the client goes away.
 * @internal
 */
export function fromFetch(request: Request, options: { path: string; basePath: string; clientAddress: string | undefined }): IngestRequest<Request> {
  const url = new URL(request.url);
  const headers: Record<string, string> = {};
  // Headers iterates names in lower case, as the routes expect them.
  for (const [name, value] of request.headers) headers[name] = value;
  const length = headers['content-length'];
  return {
    method: request.method,
    path: options.path,
    query: url.searchParams,
    headers,
    body: () => (request.body ? Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>) : Readable.from([])),
    // A hand-built Request has a body and no length header; one with `Content-Length: 0` has none.
    hasBody: request.body !== null && length !== '0',
    context: request,
    clientAddress: options.clientAddress,
    secure: url.protocol === 'https:',
    basePath: options.basePath,
    signal: request.signal,
  };
}

/**
 * A Node Readable as a web stream that honours backpressure: a chunk is read only when the
 * consumer pulls, so a slow client leaves the frames in the SSE stream (which coalesces progress
 * then) rather than in a queue. Cancelling (the client went away) destroys the source.
 * @internal
 */
export function toWebStream(source: Readable): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const close = (): void => {
          if (settled) return;
          settled = true;
          controller.close();
        };
        source.once('end', close);
        // Destroyed without an end (the server shutting down): the response ends there.
        source.once('close', close);
        source.once('error', (err) => {
          if (settled) return;
          settled = true;
          controller.error(err);
        });
      },
      pull(controller) {
        return new Promise<void>((resolve) => {
          const next = (): void => {
            if (settled) return resolve();
            const chunk = source.read() as Buffer | string | null;
            if (chunk === null) {
              source.once('readable', next);
              return;
            }
            controller.enqueue(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            resolve();
          };
          next();
        });
      },
      cancel() {
        settled = true;
        source.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

/** An answer as a `Response`. @internal */
export function toResponse(result: IngestResult): Response {
  if (result.kind === 'sse') return new Response(toWebStream(result.stream), { status: result.status, headers: result.headers });
  if (result.kind === 'empty') return new Response(null, { status: result.status, headers: result.headers });
  return new Response(JSON.stringify(result.body), { status: result.status, headers: { 'Content-Type': 'application/json; charset=utf-8', ...result.headers } });
}

/**
 * The import routes as a Fetch API handler, `(request) => Promise<Response>`, for Hono, Next.js
 * route handlers, Remix/React Router actions, Bun and Deno: the same routes, limits,
 * authorization, owner checks, cross-site rules, quotas and Server-Sent Events as
 * `createIngestHandler`, over the same neutral core. Progress streams are `ReadableStream`
 * responses that read only as fast as the client does; a client that goes away cancels its stream,
 * and an upload whose `Request` signal aborts is aborted.
 *
 * `authorize`, `owner` and `pipeline` receive the `Request`. Pass the peer's address as the second
 * argument (`{ clientAddress }`) where the runtime knows it, or give `owner`, so quotas count per
 * client. See docs/fetch-runtimes.md.
 *
 * @example
 * ```ts
 * const imports = createFetchHandler({
 *   prefix: '/imports',
 *   authorize: (request) => request.headers.get('authorization') === `Bearer ${process.env.IMPORT_TOKEN}`,
 *   pipeline: () => ({ sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }) }),
 * });
 * app.all('/imports/*', (c) => imports(c.req.raw)); // Hono
 * ```
 */
export function createFetchHandler(options: FetchHandlerOptions): FetchHandler {
  const prefix = normalizePrefix(options?.prefix);
  const routes = createIngestRoutes<Request>(options);
  const notFound = (): Response =>
    toResponse(errorResult(new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such route.'), { logger: options.logger ?? console, view: { exposeMemory: false } }));

  const handler = (async (request: Request, connection?: FetchConnectionInfo) => {
    const path = new URL(request.url).pathname;
    const ours = path === prefix || path.startsWith(`${prefix}/`) || (prefix === '' && path === '/');
    if (!ours) return notFound();
    const result = await routes.handle(fromFetch(request, { path: path.slice(prefix.length), basePath: prefix, clientAddress: connection?.clientAddress }));
    return result ? toResponse(result) : notFound();
  }) as FetchHandler;
  handler.close = () => routes.close();
  Object.defineProperty(handler, 'size', { get: () => routes.size });
  return handler;
}
