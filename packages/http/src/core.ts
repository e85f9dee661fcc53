import { IngestError, IngestErrorCode } from '@anti-oom/core';
import { guard } from './guard.js';
import { normalizeRouteOptions, type IngestRouteOptions, type NormalizedRouteOptions } from './options.js';
import { errorResult, forClient, json } from './present.js';
import { ImportRegistry, type ImportEntry } from './registry.js';
import { header, type IngestRequest, type IngestResult } from './request.js';
import { createQueuedRoutes } from './queue/queued-routes.js';
import type { ImportQueue } from './queue/types.js';
import { matchRoute, UUID } from './routes.js';
import type { SseStream } from './sse.js';
import { Uploads } from './uploads.js';
import { watch } from './watch.js';

/**
 * The import routes with no framework attached: a request in, an answer out. Every adapter is a
 * renderer over one of these.
 */
export interface IngestRoutes<Req> {
  /** Answers a request, or resolves `undefined` when it is not one of the import routes. Never rejects. */
  handle(req: IngestRequest<Req>): Promise<IngestResult | undefined>;
  /** Aborts running imports, waits for them to settle and ends every progress stream. */
  close(): Promise<void>;
  /** Imports currently known (running, pending or ended and not yet expired). */
  readonly size: number;
}

function hasBody(req: IngestRequest<unknown>): boolean {
  if (req.hasBody !== undefined) return req.hasBody;
  const length = header(req, 'content-length');
  return header(req, 'transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}

/** The client's address as quotas see it; behind a trusted proxy, the last hop it recorded. */
function clientKey(req: IngestRequest<unknown>, trustProxy: boolean): string {
  const forwarded = trustProxy ? header(req, 'x-forwarded-for')?.split(',').at(-1)?.trim() : undefined;
  return `address:${forwarded || req.clientAddress || 'unknown'}`;
}

/**
 * Builds the framework-neutral import routes. Throws `E_OPTIONS` at once for a bad option,
 * including a missing `authorize`.
 * @internal The adapters' common ground; applications use `createIngestHandler`, `ingestRouter` or `antiOom`.
 */
export function createIngestRoutes<Req>(options: IngestRouteOptions<Req>): IngestRoutes<Req> {
  const o: NormalizedRouteOptions<Req> = normalizeRouteOptions(options);
  if (o.queue) return queuedRoutes(o, o.queue);
  const registry = new ImportRegistry({ maxImports: o.maxImports, keepEndedMs: o.keepEndedMs, pendingTimeoutMs: o.pendingTimeoutMs, maxFailureEvents: o.maxFailureEvents });
  const uploads = new Uploads(o, registry);
  const streams = new Set<SseStream>();
  const fail = (err: unknown, importId?: string, headers?: Record<string, string>): IngestResult => errorResult(err, { logger: o.logger, view: o, importId, headers });
  const busy = (code: 'E_TOO_MANY_IMPORTS' | 'E_TOO_MANY_WATCHERS', message: string): IngestResult =>
    fail(new IngestError(IngestErrorCode[code], message), undefined, { 'Retry-After': String(o.retryAfterSeconds) });

  function owner(req: IngestRequest<Req>): { owner: string | undefined; key: string } {
    const who = o.owner?.(req.context);
    return { owner: who, key: who !== undefined ? `owner:${who}` : clientKey(req as IngestRequest<unknown>, o.trustProxy) };
  }

  function links(req: IngestRequest<Req>, id: string): { upload: string; status: string; events: string } {
    const base = `${req.basePath.replace(/\/+$/, '')}/${id}`;
    return { upload: base, status: base, events: `${base}/events` };
  }

  async function create(req: IngestRequest<Req>): Promise<IngestResult> {
    const refused = await guard(req, o, 'create');
    if (refused) return fail(refused.error, undefined, refused.headers);
    const who = owner(req);
    if (hasBody(req)) return uploads.run(req, who.key, who.owner, undefined);
    if (uploads.closing) return busy('E_TOO_MANY_IMPORTS', 'The server is shutting down.');
    if (registry.pendingOf(who.key) >= o.limits.maxPendingPerOwner) {
      return busy('E_TOO_MANY_IMPORTS', `You have ${o.limits.maxPendingPerOwner} imports waiting for their upload; upload into one of them, or wait for them to expire.`);
    }
    const entry = registry.create(who.owner, who.key);
    const urls = links(req, entry.id);
    return json(201, { id: entry.id, state: entry.state, links: urls }, { Location: urls.status });
  }

  async function preview(req: IngestRequest<Req>): Promise<IngestResult> {
    const refused = await guard(req, o, 'preview');
    if (refused) return fail(refused.error, undefined, refused.headers);
    return uploads.preview(req, owner(req).key);
  }

  async function onImport(req: IngestRequest<Req>, name: 'upload' | 'status' | 'events' | 'cancel', entry: ImportEntry): Promise<IngestResult> {
    const action = name === 'status' || name === 'events' ? 'watch' : name;
    const refused = await guard(req, o, action, entry);
    if (refused) return fail(refused.error, entry.id, refused.headers);
    switch (name) {
      case 'status':
        if (entry.report) return json(200, { id: entry.id, state: entry.state, report: forClient(entry.report, o) });
        if (entry.snapshot) return json(200, { id: entry.id, state: entry.state, snapshot: forClient(entry.snapshot, o) });
        return json(200, { id: entry.id, state: entry.state });
      case 'events':
        if (entry.watchers >= o.limits.maxWatchersPerImport) return busy('E_TOO_MANY_WATCHERS', `${o.limits.maxWatchersPerImport} streams follow this import already.`);
        if (streams.size >= o.limits.maxWatchers) return busy('E_TOO_MANY_WATCHERS', 'The server has too many progress streams open. Retry in a few seconds.');
        return watchEntry(req, entry);
      case 'upload': {
        if (entry.state !== 'pending' || entry.claimed) throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
        const who = owner(req);
        return uploads.run(req, who.key, entry.owner, entry);
      }
      case 'cancel':
        if (entry.state === 'pending' && !entry.claimed) {
          entry.cancelPending();
          return json(200, { id: entry.id, state: 'aborted' });
        }
        if (entry.state === 'pending') throw new IngestError(IngestErrorCode.E_CONFLICT, 'The upload into this import is starting; cancel again in a moment.');
        if (entry.state === 'running') {
          entry.pipeline?.abort('The import was cancelled.');
          return json(202, { id: entry.id, state: 'running', cancelling: true });
        }
        throw new IngestError(IngestErrorCode.E_CONFLICT, `This import has ended (${entry.state}); there is nothing to cancel.`);
    }
  }

  function watchEntry(req: IngestRequest<Req>, entry: ImportEntry): IngestResult {
    const result = watch(req, entry, o, (stream) => streams.delete(stream));
    if (result.kind === 'sse') streams.add(result.stream as SseStream);
    return result;
  }

  async function route(req: IngestRequest<Req>): Promise<IngestResult | undefined> {
    const route = matchRoute(req.method, req.path);
    if (!route) return undefined;
    if (route.name === 'create') return create(req);
    if (route.name === 'preview') return preview(req);
    const entry = UUID.test(route.id) ? registry.get(route.id) : undefined;
    if (!entry) throw new IngestError(IngestErrorCode.E_NOT_FOUND, 'No import with this id. It may have expired.');
    return onImport(req, route.name, entry);
  }

  return {
    async handle(req) {
      try {
        return await route(req);
      } catch (err) {
        return fail(err);
      }
    },
    async close() {
      uploads.closing = true;
      await registry.close();
      for (const stream of streams) stream.finish();
    },
    get size() {
      return registry.size;
    },
  };
}

/** Queue mode: the queued routes, with `POST /preview` as in-process (it stores nothing). */
function queuedRoutes<Req>(o: NormalizedRouteOptions<Req>, queue: ImportQueue): IngestRoutes<Req> {
  const registry = new ImportRegistry({ maxImports: 1, keepEndedMs: o.keepEndedMs, pendingTimeoutMs: o.pendingTimeoutMs, maxFailureEvents: o.maxFailureEvents });
  const previews = new Uploads(o, registry);
  const routes = createQueuedRoutes(o, queue, async (req) => {
    const refused = await guard(req, o, 'preview');
    if (refused) return errorResult(refused.error, { logger: o.logger, view: o, headers: refused.headers });
    const who = o.owner?.(req.context);
    return previews.preview(req, who !== undefined ? `owner:${who}` : clientKey(req as IngestRequest<unknown>, o.trustProxy));
  });
  return {
    handle: (req) => routes.handle(req),
    async close() {
      previews.closing = true;
      await registry.close();
      await routes.close();
    },
    get size() {
      return routes.size;
    },
  };
}
