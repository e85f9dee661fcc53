import { Readable } from 'node:stream';
import { IngestError, IngestErrorCode, previewCsv, type CsvOptions } from '@anti-oom/core';
import { guard } from '../guard.js';
import { idleGuard } from '../idle.js';
import type { NormalizedRouteOptions } from '../options.js';
import { errorResult, forClient, json } from '../present.js';
import { header, type IngestRequest, type IngestResult } from '../request.js';
import { matchRoute, UUID } from '../routes.js';
import type { SseStream } from '../sse.js';
import { classifyUpload, openUpload } from '../upload.js';
import { lastSeen, watch } from '../watch.js';
import { RemoteEntry } from './remote-entry.js';
import type { ImportQueue, QueuedImportRecord } from './types.js';

/** Bytes held before the header is checked: enough for any header a CSV should have. */
const HEAD_BYTES = 64 * 1024;

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new IngestError(IngestErrorCode.E_IDLE_TIMEOUT, `The upload did not reach its file within ${ms} ms; it was stopped.`, { limit: ms })), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Passes the file through, but reads its start first and refuses a header the import would
 * refuse (operator names, paths, duplicates, too many columns) before anything is stored.
 */
async function* headerChecked(source: AsyncIterable<Buffer>, csv: CsvOptions | undefined): AsyncGenerator<Buffer> {
  const held: Buffer[] = [];
  let size = 0;
  let checked = false;
  const check = async (): Promise<void> => {
    checked = true;
    const head = Buffer.concat(held);
    const preview = await previewCsv(Readable.from([head]), { maxBytes: Math.max(1, head.length), maxRows: 1, ...(csv ? { csv } : {}) });
    const code = preview.error?.code;
    if (code === IngestErrorCode.E_HEADER_INVALID || code === IngestErrorCode.E_TOO_MANY_COLUMNS) {
      throw new IngestError(code, preview.error!.message, { ...(preview.error!.line !== undefined ? { line: preview.error!.line } : {}) });
    }
  };
  for await (const chunk of source) {
    if (checked) {
      yield chunk;
      continue;
    }
    held.push(chunk);
    size += chunk.length;
    if (size >= HEAD_BYTES) {
      await check();
      yield* held.splice(0);
    }
  }
  if (!checked && size > 0) {
    await check();
    yield* held.splice(0);
  }
}

/** What JSON keeps of `value`, or an E_OPTIONS error: job data travels through Redis. */
function jobData(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value ?? {});
  } catch (err) {
    throw new IngestError(IngestErrorCode.E_OPTIONS, `The job callback must return JSON data: ${(err as Error).message}`);
  }
  if (text === undefined) throw new IngestError(IngestErrorCode.E_OPTIONS, 'The job callback must return JSON data (an object).');
  return JSON.parse(text);
}

/** @internal */
export interface QueuedRoutes<Req> {
  handle(req: IngestRequest<Req>): Promise<IngestResult | undefined>;
  close(): Promise<void>;
  readonly size: number;
}

/**
 * The import routes in queue mode: the same routes, guard, limits and SSE, over an
 * {@link ImportQueue}. An upload streams into the queue's storage (decompressed, its header
 * checked first), then becomes a job, and the answer is 202 with the id and links at once; the
 * status, the events and cancel work from any instance, since everything is read from the queue.
 * @internal
 */
export function createQueuedRoutes<Req>(o: NormalizedRouteOptions<Req>, queue: ImportQueue, preview: (req: IngestRequest<Req>) => Promise<IngestResult>): QueuedRoutes<Req> {
  const streams = new Set<SseStream>();
  const entries = new Map<string, RemoteEntry>();
  /** Uploads streaming into storage from this instance. */
  let uploading = 0;
  let closing = false;
  const fail = (err: unknown, importId?: string, headers?: Record<string, string>): IngestResult => errorResult(err, { logger: o.logger, view: o, importId, headers });
  const busy = (code: 'E_TOO_MANY_IMPORTS' | 'E_TOO_MANY_WATCHERS', message: string): IngestResult =>
    fail(new IngestError(IngestErrorCode[code], message), undefined, { 'Retry-After': String(o.retryAfterSeconds) });

  function owner(req: IngestRequest<Req>): { owner: string | undefined; key: string } {
    const who = o.owner?.(req.context);
    if (who !== undefined) return { owner: who, key: `owner:${who}` };
    const forwarded = o.trustProxy ? header(req, 'x-forwarded-for')?.split(',').at(-1)?.trim() : undefined;
    return { owner: undefined, key: `address:${forwarded || req.clientAddress || 'unknown'}` };
  }

  function links(req: IngestRequest<Req>, id: string): { upload: string; status: string; events: string } {
    const base = `${req.basePath.replace(/\/+$/, '')}/${id}`;
    return { upload: base, status: base, events: `${base}/events` };
  }

  function hasBody(req: IngestRequest<Req>): boolean {
    if (req.hasBody !== undefined) return req.hasBody;
    const length = header(req, 'content-length');
    return header(req, 'transfer-encoding') !== undefined || (length !== undefined && length !== '0');
  }

  async function csvOptions(req: IngestRequest<Req>, fields: Record<string, string>): Promise<CsvOptions> {
    const given = (await o.pipeline(req.context, fields)).csv;
    return { maxRecordBytes: o.limits.maxRecordBytes, maxColumns: o.limits.maxColumns, ...given };
  }

  /** Streams the upload into storage and enqueues it; `record` is claimed by this request. */
  async function upload(req: IngestRequest<Req>, who: { owner: string | undefined; key: string }, existing: QueuedImportRecord | undefined): Promise<IngestResult> {
    if (closing) return busy('E_TOO_MANY_IMPORTS', 'The server is shutting down.');
    if (uploading >= o.limits.maxConcurrentImports) return busy('E_TOO_MANY_IMPORTS', `${o.limits.maxConcurrentImports} uploads are running already. Retry in a few seconds.`);
    const live = await queue.liveOf(who.key);
    if (live.active >= o.limits.maxRunningPerOwner) return busy('E_TOO_MANY_IMPORTS', `You have ${live.active} imports running or queued already; wait for one to end.`);
    const kind = classifyUpload(req.headers);
    if (existing && !(await queue.claim(existing.id, existing.quotaKey))) throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
    uploading++;
    let id = existing?.id;
    const headers: Record<string, string> = {};
    let stored = false;
    try {
      const opened = await withDeadline(openUpload(req.body(), req.query, req.headers, kind, o.fileField, o.limits), o.limits.idleTimeoutMs);
      const data = jobData(o.job ? await o.job(req.context, opened.fields) : {});
      const csv = await csvOptions(req, opened.fields);
      if (!existing) {
        const record = await queue.create({ owner: who.owner, quotaKey: who.key, pendingTimeoutMs: o.pendingTimeoutMs, maxFailureEvents: o.maxFailureEvents });
        id = record.id;
        headers['X-Import-Id'] = id;
        if (!(await queue.claim(id, who.key))) throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
      }
      const length = kind.kind === 'raw' && !kind.gzip ? header(req, 'content-length') : undefined;
      await queue.storage.create(id!, { ...(length && /^\d{1,15}$/.test(length) ? { length: Number(length) } : {}), ...(opened.filename ? { filename: opened.filename } : {}) });
      stored = true;
      const file = Readable.from(headerChecked(idleGuard(opened.file, o.limits.idleTimeoutMs, o.limits.idleMinBytes), csv), { objectMode: false, highWaterMark: 64 * 1024 });
      await queue.storage.append(id!, 0, file, req.signal);
      await queue.storage.complete(id!);
      await queue.enqueue(id!, data);
      const urls = links(req, id!);
      return json(202, { id, state: 'queued', links: urls }, { ...headers, Location: urls.status });
    } catch (err) {
      if (existing && !stored) {
        // Nothing of the file was kept: the import waits for an upload again, as in-process.
        await queue.release(existing.id).catch(() => undefined);
      } else if (id !== undefined) {
        // The import ends here, with an empty report; watchers get it as `done`.
        const report = await queue.fail(id, err, o.keepEndedMs).catch(() => undefined);
        if (err instanceof IngestError && report && !err.report) err.report = report;
      }
      return errorResult(err, { logger: o.logger, view: o, importId: id, headers });
    } finally {
      uploading--;
    }
  }

  async function create(req: IngestRequest<Req>): Promise<IngestResult> {
    const refused = await guard(req, o, 'create');
    if (refused) return fail(refused.error, undefined, refused.headers);
    const who = owner(req);
    if (hasBody(req)) return upload(req, who, undefined);
    if (closing) return busy('E_TOO_MANY_IMPORTS', 'The server is shutting down.');
    if ((await queue.liveOf(who.key)).pending >= o.limits.maxPendingPerOwner) {
      return busy('E_TOO_MANY_IMPORTS', `You have ${o.limits.maxPendingPerOwner} imports waiting for their upload; upload into one of them, or wait for them to expire.`);
    }
    const record = await queue.create({ owner: who.owner, quotaKey: who.key, pendingTimeoutMs: o.pendingTimeoutMs, maxFailureEvents: o.maxFailureEvents });
    const urls = links(req, record.id);
    return json(201, { id: record.id, state: record.state, links: urls }, { Location: urls.status });
  }

  async function events(req: IngestRequest<Req>, record: QueuedImportRecord): Promise<IngestResult> {
    if (streams.size >= o.limits.maxWatchers) return busy('E_TOO_MANY_WATCHERS', 'The server has too many progress streams open. Retry in a few seconds.');
    let entry = entries.get(record.id);
    if (!entry) {
      entry = new RemoteEntry(record.id, queue, Math.max(50, o.progressIntervalMs), (err) => o.logger.warn({ err, importId: record.id }, 'reading a queued import failed; retrying'));
      if (!(await entry.load())) throw new IngestError(IngestErrorCode.E_NOT_FOUND, 'No import with this id. It may have expired.');
      entries.set(record.id, entry);
    } else {
      await entry.load();
    }
    // Counted across instances it is not: the cap holds per instance.
    if (entry.watchers >= o.limits.maxWatchersPerImport) return busy('E_TOO_MANY_WATCHERS', `${o.limits.maxWatchersPerImport} streams follow this import already.`);
    entry.seen(lastSeen(req as IngestRequest<unknown>));
    const e = entry;
    const result = watch(req, e, o, (stream) => {
      streams.delete(stream);
      if (e.watchers === 0) {
        e.close();
        if (entries.get(e.id) === e) entries.delete(e.id);
      }
    });
    if (result.kind === 'sse') {
      streams.add(result.stream as SseStream);
      e.start();
    } else if (e.watchers === 0) {
      e.close();
      entries.delete(e.id);
    }
    return result;
  }

  async function onImport(req: IngestRequest<Req>, name: 'upload' | 'status' | 'events' | 'cancel', record: QueuedImportRecord): Promise<IngestResult> {
    const action = name === 'status' || name === 'events' ? 'watch' : name;
    const refused = await guard(req, o, action, record);
    if (refused) return fail(refused.error, record.id, refused.headers);
    switch (name) {
      case 'status':
        if (record.report) return json(200, { id: record.id, state: record.state, report: forClient(record.report, o) });
        if (record.snapshot) return json(200, { id: record.id, state: record.state, snapshot: forClient(record.snapshot, o) });
        return json(200, { id: record.id, state: record.state });
      case 'events':
        return events(req, record);
      case 'upload': {
        if (record.state !== 'pending' || record.claimed) throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has started already; create a new one.');
        return upload(req, { owner: record.owner, key: record.quotaKey }, record);
      }
      case 'cancel': {
        if (record.state === 'pending' && record.claimed) throw new IngestError(IngestErrorCode.E_CONFLICT, 'The upload into this import is under way; cancel again once it is queued.');
        const outcome = await queue.cancel(record.id, o.keepEndedMs);
        if (outcome === 'aborted') return json(200, { id: record.id, state: 'aborted' });
        if (outcome === 'cancelling') return json(202, { id: record.id, state: 'running', cancelling: true });
        if (outcome === 'unknown') throw new IngestError(IngestErrorCode.E_NOT_FOUND, 'No import with this id. It may have expired.');
        throw new IngestError(IngestErrorCode.E_CONFLICT, 'This import has ended; there is nothing to cancel.');
      }
    }
  }

  interface TusContext {
    req: IngestRequest<Req>;
  }
  // tus uploads: the upload id is the import id. Created (guard `create`, quotas as an upload),
  // continued and checked (guard `upload`, owner check) from any instance; the request that
  // stores the last byte enqueues the job, with `job(req, metadata)` as its data.
  const tus = queue.tus?.<TusContext>({
    maxSize: o.limits.maxFileBytes,
    onCreate: async (id, _meta, ctx) => {
      const who = owner(ctx!.req);
      await queue.create({ id, owner: who.owner, quotaKey: who.key, pendingTimeoutMs: o.pendingTimeoutMs, maxFailureEvents: o.maxFailureEvents });
      if (!(await queue.claim(id, who.key))) throw new IngestError(IngestErrorCode.E_CONFLICT, 'This upload exists already.');
    },
    onComplete: async (id, meta, ctx) => {
      await queue.enqueue(id, jobData(o.job ? await o.job(ctx!.req.context, meta.extra ?? {}) : {}));
    },
  });

  function tusAnswer(result: { status: number; headers: Record<string, string>; error?: unknown }, importId: string | undefined): IngestResult {
    if (result.error === undefined) return { kind: 'empty', status: result.status, headers: result.headers };
    const answer = errorResult(result.error, { logger: o.logger, view: o, importId, headers: result.headers });
    return { ...answer, status: result.status } as IngestResult;
  }

  async function tusRoute(req: IngestRequest<Req>, id: string | undefined): Promise<IngestResult> {
    const tusReq = { method: req.method, id, headers: req.headers, body: req.body, basePath: `${req.basePath.replace(/\/+$/, '')}/tus`, signal: req.signal, context: { req } };
    const action = tus!.action(tusReq);
    if (action === 'options' || action === undefined) return tusAnswer(await tus!.handle(tusReq), id);
    if (action === 'create') {
      const refused = await guard(req, o, 'create');
      if (refused) return fail(refused.error, undefined, refused.headers);
      if (closing) return busy('E_TOO_MANY_IMPORTS', 'The server is shutting down.');
      const live = await queue.liveOf(owner(req).key);
      if (live.active >= o.limits.maxRunningPerOwner) return busy('E_TOO_MANY_IMPORTS', `You have ${live.active} imports running or queued already; wait for one to end.`);
      return tusAnswer(await tus!.handle(tusReq), undefined);
    }
    const record = id !== undefined && UUID.test(id) ? await queue.get(id) : undefined;
    if (!record) throw new IngestError(IngestErrorCode.E_NOT_FOUND, 'No such upload: it was never created, has expired, or has been deleted.');
    const refused = await guard(req, o, action === 'terminate' ? 'cancel' : 'upload', record);
    if (refused) return fail(refused.error, record.id, refused.headers);
    const result = await tus!.handle(tusReq);
    // Terminated: the upload is gone, so is its import.
    if (action === 'terminate' && result.error === undefined) {
      await queue.fail(record.id, new IngestError(IngestErrorCode.E_ABORTED, 'The upload was terminated by its client.'), o.keepEndedMs);
    }
    return tusAnswer(result, record.id);
  }

  async function route(req: IngestRequest<Req>): Promise<IngestResult | undefined> {
    const parts = req.path.split('/').filter(Boolean);
    if (tus && parts[0] === 'tus' && parts.length <= 2) return tusRoute(req, parts[1]);
    const r = matchRoute(req.method, req.path);
    if (!r) return undefined;
    if (r.name === 'create') return create(req);
    if (r.name === 'preview') return preview(req);
    const record = UUID.test(r.id) ? await queue.get(r.id) : undefined;
    if (!record) throw new IngestError(IngestErrorCode.E_NOT_FOUND, 'No import with this id. It may have expired.');
    return onImport(req, r.name, record);
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
      closing = true;
      for (const e of entries.values()) e.close();
      entries.clear();
      for (const stream of streams) stream.finish();
    },
    get size() {
      return uploading + entries.size;
    },
  };
}
