import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { createIngestPipeline, IngestError, IngestErrorCode, isIngestError } from '@anti-oom/core';
import { idleGuard } from './idle.js';
import { normalizeHandlerOptions, type IngestAction, type IngestHandlerOptions } from './options.js';
import { ImportRegistry, type ImportEntry } from './registry.js';
import { sendError, sendJson } from './respond.js';
import { SseStream } from './sse.js';
import { classifyUpload, openUpload } from './upload.js';

/** A node:http request listener with the import routes, plus a graceful shutdown. */
export interface IngestHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Aborts running imports, waits for them to settle and ends every progress stream. */
  close(): Promise<void>;
  /** Imports currently known (running, pending or ended and not yet expired). */
  readonly size: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new IngestError(IngestErrorCode.E_IDLE_TIMEOUT, `The upload did not reach its file within ${ms} ms; it was stopped.`, { limit: ms })),
      ms,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The import routes, for `http.createServer()` or any framework that hands over Node's request and
 * response (the Express and Fastify adapters do):
 *
 * | Route | Does |
 * |---|---|
 * | `POST {prefix}` with a body | creates an import and uploads into it; answers with the report when it ends |
 * | `POST {prefix}` without a body | creates an import waiting for its upload: `201 { id, links }` |
 * | `PUT {prefix}/:id` | uploads into a waiting import; answers with the report when it ends |
 * | `GET {prefix}/:id` | `{ id, state, snapshot }` while running, `{ id, state, report }` once ended |
 * | `GET {prefix}/:id/events` | Server-Sent Events: `progress`, `rowFailure`, `done` |
 * | `DELETE {prefix}/:id` | cancels a running or waiting import |
 *
 * A browser that wants to watch its own upload creates the import first, opens the event stream,
 * then uploads. Bodies are `text/csv` (optionally `Content-Encoding: gzip`), `application/gzip`, or
 * `multipart/form-data` with one file (text fields before it reach the `pipeline` callback).
 */
export function createIngestHandler(options: IngestHandlerOptions): IngestHandler {
  const o = normalizeHandlerOptions(options);
  const registry = new ImportRegistry({
    maxImports: o.maxImports,
    keepEndedMs: o.keepEndedMs,
    pendingTimeoutMs: o.pendingTimeoutMs,
    maxFailureEvents: o.maxFailureEvents,
  });
  const streams = new Set<SseStream>();
  let starting = 0;
  let closing = false;

  async function allowed(req: IncomingMessage, res: ServerResponse, action: IngestAction, entry?: ImportEntry): Promise<boolean> {
    if (!o.authorize) return true;
    const verdict = entry ? await o.authorize(req, action, entry.id, { id: entry.id, owner: entry.owner }) : await o.authorize(req, action);
    if (verdict === true) return true;
    const status = typeof verdict === 'object' && verdict.status === 401 ? 401 : 403;
    const message = (typeof verdict === 'object' && verdict.message) || (status === 401 ? 'Sign in to do this.' : 'You may not do this.');
    const headers: Record<string, string> = {};
    if (typeof verdict === 'object' && verdict.wwwAuthenticate) headers['WWW-Authenticate'] = verdict.wwwAuthenticate;
    sendError(req, res, new IngestError(status === 401 ? IngestErrorCode.E_UNAUTHORIZED : IngestErrorCode.E_FORBIDDEN, message), headers);
    return false;
  }

  /** URLs of an import, from the path the client used (Express strips its mount path from req.url). */
  function links(req: IncomingMessage, id: string): { upload: string; status: string; events: string } {
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const base = `${new URL(original, 'http://x').pathname.replace(/\/+$/, '')}/${id}`;
    return { upload: base, status: base, events: `${base}/events` };
  }

  async function upload(req: IncomingMessage, res: ServerResponse, entry: ImportEntry | undefined): Promise<void> {
    const kind = classifyUpload(req);
    if (closing) throw new IngestError(IngestErrorCode.E_TOO_MANY_IMPORTS, 'The server is shutting down.');
    if (registry.running + starting >= o.limits.maxConcurrentImports) {
      sendError(req, res, new IngestError(IngestErrorCode.E_TOO_MANY_IMPORTS, `${o.limits.maxConcurrentImports} imports are running already. Retry in a few seconds.`), {
        'Retry-After': String(o.retryAfterSeconds),
      });
      return;
    }
    starting++;
    let started = false;
    const controller = new AbortController();
    // A response closed before it finished means the client went away: abort at once.
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('the client disconnected'));
    });
    try {
      // A multipart preamble that never reaches the file would hold a slot forever (slow loris).
      const opened = await withDeadline(openUpload(req, kind, o.fileField, o.limits), o.limits.idleTimeoutMs);
      const perRequest = await o.pipeline(req, opened.fields);
      const target = entry ?? registry.create(o.owner?.(req));
      if (target.state !== 'pending') throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
      const pipeline = createIngestPipeline({
        ...perRequest,
        csv: { maxRecordBytes: o.limits.maxRecordBytes, maxColumns: o.limits.maxColumns, ...perRequest.csv },
        maxInputBytes: Math.min(perRequest.maxInputBytes ?? Infinity, o.limits.maxDecompressedBytes),
        id: target.id,
        signal: controller.signal,
      });
      target.start(pipeline);
      starting--;
      started = true;
      if (!entry) res.setHeader('X-Import-Id', target.id);
      const source = Readable.from(idleGuard(opened.file, o.limits.idleTimeoutMs, o.limits.idleMinBytes), { objectMode: false, highWaterMark: 64 * 1024 });
      const report = await pipeline.run(source);
      sendJson(res, 200, report);
    } catch (err) {
      if (!started) starting--;
      if (!isIngestError(err)) throw err;
      sendError(req, res, err);
    }
  }

  function events(req: IncomingMessage, res: ServerResponse, entry: ImportEntry): void {
    const header = req.headers['last-event-id'];
    const lastSeen = Number(Array.isArray(header) ? header[0] : header ?? new URL(req.url ?? '/', 'http://x').searchParams.get('lastEventId') ?? 0) || 0;
    const unsubscribe = (): void => {
      entry.off('progress', onProgress);
      entry.off('rowFailure', onFailure);
      entry.off('done', onDone);
      streams.delete(stream);
    };
    const stream = new SseStream(res, { progressIntervalMs: o.progressIntervalMs, heartbeatMs: o.heartbeatMs }, unsubscribe);
    const onProgress = (snapshot: unknown, id: number): void => stream.progress(snapshot, id);
    const onFailure = (failure: unknown, id: number): void => stream.rowFailure(failure, id);
    const onDone = (report: unknown, id: number): void => stream.done(report, id);
    streams.add(stream);
    // A new or reconnecting watcher first gets the current state, then the live events.
    for (const f of entry.failures) if (f.eventId > lastSeen) stream.rowFailure(f.failure, f.eventId);
    if (entry.report) {
      stream.done(entry.report, entry.lastEventId);
      return;
    }
    stream.progress(entry.snapshot ?? { id: entry.id, state: entry.state }, entry.lastEventId);
    entry.on('progress', onProgress);
    entry.on('rowFailure', onFailure);
    entry.on('done', onDone);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== o.prefix && !path.startsWith(`${o.prefix}/`)) return false;
    const parts = path.slice(o.prefix.length).split('/').filter(Boolean);
    const method = req.method ?? 'GET';

    if (parts.length === 0) {
      if (method !== 'POST') return false;
      if (!(await allowed(req, res, 'upload'))) return true;
      if (hasBody(req)) {
        await upload(req, res, undefined);
      } else {
        const entry = registry.create(o.owner?.(req));
        const urls = links(req, entry.id);
        sendJson(res, 201, { id: entry.id, state: entry.state, links: urls }, { Location: urls.status });
      }
      return true;
    }

    const [id, sub] = parts;
    if (parts.length > 2 || (sub !== undefined && sub !== 'events')) return false;
    const entry = id && UUID.test(id) ? registry.get(id) : undefined;
    if (!entry) throw new IngestError(IngestErrorCode.E_NOT_FOUND, 'No import with this id. It may have expired.');

    if (sub === 'events') {
      if (method !== 'GET') return false;
      if (await allowed(req, res, 'watch', entry)) events(req, res, entry);
      return true;
    }
    switch (method) {
      case 'GET':
        if (await allowed(req, res, 'watch', entry)) sendJson(res, 200, entry.status());
        return true;
      case 'PUT':
      case 'POST':
        if (!(await allowed(req, res, 'upload', entry))) return true;
        if (entry.state !== 'pending') throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
        await upload(req, res, entry);
        return true;
      case 'DELETE':
        if (!(await allowed(req, res, 'cancel', entry))) return true;
        if (entry.state === 'pending') {
          entry.cancelPending();
          sendJson(res, 200, { id: entry.id, state: 'aborted' });
        } else if (entry.state === 'running') {
          entry.pipeline?.abort('The import was cancelled.');
          sendJson(res, 202, { id: entry.id, state: 'running', cancelling: true });
        } else {
          throw new IngestError(IngestErrorCode.E_CONFLICT, `This import has ended (${entry.state}); there is nothing to cancel.`);
        }
        return true;
      default:
        return false;
    }
  }

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    route(req, res).then(
      (handled) => {
        if (handled) return;
        if (next) next();
        else sendError(req, res, new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such route.'));
      },
      (err: unknown) => {
        if (isIngestError(err)) sendError(req, res, err);
        else if (next) next(err);
        else sendError(req, res, err);
      },
    );
  }) as IngestHandler;

  handler.close = async () => {
    closing = true;
    await registry.close();
    for (const stream of streams) stream.close();
  };
  Object.defineProperty(handler, 'size', { get: () => registry.size });
  return handler;
}
