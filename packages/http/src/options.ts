import type { IncomingMessage } from 'node:http';
import { invalidOption, numberOption, type CheckpointStore, type IngestPipelineOptions } from '@anti-oom/core';
import type { ImportQueue } from './queue/types.js';

/**
 * What a request asks to do; `authorize` sees it. `create` makes a new import (with or without its
 * upload: a `POST` with a body is `create` and nothing else), `upload` sends the file into a
 * waiting import, `watch` reads its status or follows its events, `cancel` stops it, `preview`
 * reads the start of a file and says what an import would make of it (it writes nothing, but it
 * reads the client's bytes and runs your `pipeline` callback, so it is asked separately).
 */
export type IngestAction = 'create' | 'upload' | 'watch' | 'cancel' | 'preview';

/** An import as `authorize` sees it. */
export interface ImportInfo {
  id: string;
  /** What `owner(req)` returned when the import was created. */
  owner: string | undefined;
}

/**
 * `true` allows; `false` answers 403; `{ status: 401 }` answers 401 (with an optional message and
 * `WWW-Authenticate` value).
 */
export type AuthorizeResult = boolean | { status: 401 | 403; message?: string; wwwAuthenticate?: string };

/** Options for one import, chosen per request. `id` and `signal` are the handler's. */
export type PerRequestPipelineOptions = Omit<IngestPipelineOptions, 'id' | 'signal'>;

/** Where the handler sends what clients must not see (pino fits: `logger.error({ err, importId, errorId }, msg)`). */
export interface HttpLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Limits and quotas of the HTTP layer; each has a finite default. */
export interface IngestLimits {
  /**
   * Largest upload body (compressed size, for gzip), in bytes.
   * @defaultValue `2147483648` (2 GiB)
   */
  maxFileBytes?: number;
  /**
   * Largest CSV after decompression, in bytes (a gzip bomb stops here).
   * @defaultValue `8589934592` (8 GiB)
   */
  maxDecompressedBytes?: number;
  /**
   * Largest ratio of decompressed to compressed bytes, checked once 16 MiB are decompressed.
   * CSV compresses 5-20x; a bomb of zeros, 1000x.
   * @defaultValue `200`
   */
  maxCompressionRatio?: number;
  /**
   * Largest CSV record, in bytes (the pipeline's `csv.maxRecordBytes` unless it sets its own).
   * @defaultValue `1048576`
   */
  maxRecordBytes?: number;
  /**
   * Most columns (the pipeline's `csv.maxColumns` unless it sets its own).
   * @defaultValue `1000`
   */
  maxColumns?: number;
  /**
   * Most multipart text fields.
   * @defaultValue `20`
   */
  maxFields?: number;
  /**
   * Largest multipart text field, in bytes.
   * @defaultValue `65536`
   */
  maxFieldBytes?: number;
  /**
   * Imports running at once, all owners together; one more gets 429 with `Retry-After`.
   * @defaultValue `4`
   */
  maxConcurrentImports?: number;
  /**
   * Imports one owner may have running at once (the owner is `owner(req)`, else the client's
   * address), so one client cannot take every slot; one more gets 429 with `Retry-After`.
   * @defaultValue `2`
   */
  maxRunningPerOwner?: number;
  /**
   * Imports one owner may have waiting for their upload; one more gets 429 with `Retry-After`.
   * @defaultValue `10`
   */
  maxPendingPerOwner?: number;
  /**
   * SSE streams following one import; one more gets 429 with `Retry-After`.
   * @defaultValue `10`
   */
  maxWatchersPerImport?: number;
  /**
   * SSE streams open on this handler, all imports together; one more gets 429 with `Retry-After`.
   * @defaultValue `1000`
   */
  maxWatchers?: number;
  /**
   * How long an upload may stall, in ms of the import waiting for bytes: in every such span it
   * must deliver at least `idleMinBytes`, or it ends with 408. Time the import spends waiting on
   * the database does not count.
   * @defaultValue `30000`
   */
  idleTimeoutMs?: number;
  /**
   * Bytes an upload must deliver in every `idleTimeoutMs` of waiting, so one that trickles a byte
   * at a time cannot hold an import slot forever (1 KiB per 30 s is 34 bytes a second).
   * @defaultValue `1024`
   */
  idleMinBytes?: number;
  /**
   * Bytes of the body `POST {prefix}/preview` reads (decompressed); the rest of the body is not read.
   * @defaultValue `1048576` (1 MiB)
   */
  maxPreviewBytes?: number;
  /**
   * Rows the preview parses, returns and infers types from.
   * @defaultValue `100`
   */
  maxPreviewRows?: number;
}

/** @internal */
export type NormalizedLimits = Required<IngestLimits>;

/**
 * Options of the import routes, in every adapter. `Req` is the request the callbacks receive:
 * Node's `IncomingMessage` for `createIngestHandler`, Express's `Request`, Fastify's `FastifyRequest`.
 */
export interface IngestRouteOptions<Req> {
  /**
   * The options of each import: which collection, which mapping. `fields` are the multipart text
   * fields sent before the file, or the query string of a raw upload: they come from the client,
   * so never let them pick the collection, the mode or the key.
   */
  pipeline?: (req: Req, fields: Record<string, string>) => PerRequestPipelineOptions | Promise<PerRequestPipelineOptions>;
  /**
   * Queue mode: `createIngestQueue(...)` from `@anti-oom/queue`. Uploads are streamed into the
   * queue's storage (with the same limits, gzip handling and early header check) and imported by
   * worker processes; the upload is answered at once with 202, the import's id and links, instead
   * of the report. Status, events and cancel work from any app instance. `pipeline`, when given,
   * is used only for its `csv` options (the header check and `POST /preview`); the worker's
   * `pipeline(job)` decides the rest. See docs/scaling.md.
   */
  queue?: ImportQueue;
  /**
   * Queue mode: the data of an import's job, from the request and the form fields (or query
   * string) sent with the file; the worker's `pipeline(job)` sees it as `job.data`. Must be JSON.
   * `fields` come from the client: never let them pick the collection, the mode or the key.
   * @defaultValue `() => ({})`
   */
  job?: (req: Req, fields: Record<string, string>) => unknown;
  /**
   * Who may create, upload into, watch or cancel an import. Required: without it the handler
   * refuses to start. `importId` and `info` are absent for `create`. To let everyone do
   * everything (a trusted network only), say so: `authorize: () => true`.
   */
  authorize: (req: Req, action: IngestAction, importId?: string, info?: ImportInfo) => AuthorizeResult | Promise<AuthorizeResult>;
  /**
   * Who creates an import (a user id from your session). When given, only a request with the same
   * owner may upload into, watch or cancel that import (others get 403 before `authorize` is
   * asked), and quotas count per owner; without it they count per client address.
   */
  owner?: (req: Req) => string | undefined;
  /**
   * Origins, besides the request's own, allowed to create, upload and cancel (`https://app.example`).
   * A state-changing request from any other `Origin`, or with `Sec-Fetch-Site: cross-site`, gets
   * 403 `E_CROSS_SITE` before anything is read.
   * @defaultValue `[]`
   */
  allowedOrigins?: readonly string[];
  /**
   * Behind a reverse proxy: take the request's own origin from `X-Forwarded-Proto` and
   * `X-Forwarded-Host`, and the client's address (for quotas) from the last `X-Forwarded-For` entry.
   * Turn on only when a proxy you run sets these headers; otherwise clients could forge them.
   * @defaultValue `false`
   */
  trustProxy?: boolean;
  /**
   * Receives the details of every 5xx (the error object as `err`, with `importId` and the
   * `errorId` the client was given). Clients get a generic message and the `errorId` only.
   * @defaultValue a logger writing to `console.error`
   */
  logger?: HttpLogger;
  /**
   * Send the process's heap and RSS figures in snapshots and reports to HTTP clients. They tell an
   * outsider about the server, so they are off unless you want them (a dashboard for operators).
   * @defaultValue `false`
   */
  exposeMemory?: boolean;
  /** Multipart field holding the file. @defaultValue `'file'` */
  fileField?: string;
  /** Limits and quotas; see {@link IngestLimits}. */
  limits?: IngestLimits;
  /**
   * Most imports kept in the registry (running, waiting for their upload, or ended). When it is
   * full, the oldest ended import makes room, then the oldest one that never received a byte.
   * @defaultValue `1000`
   */
  maxImports?: number;
  /**
   * How long an ended import stays readable, in ms.
   * @defaultValue `3600000` (1 hour)
   */
  keepEndedMs?: number;
  /**
   * How long a created import waits for its upload, in ms.
   * @defaultValue `600000` (10 minutes)
   */
  pendingTimeoutMs?: number;
  /**
   * Least time between two `progress` events on one SSE stream, in ms.
   * @defaultValue `250`
   */
  progressIntervalMs?: number;
  /**
   * `rowFailure` events kept and sent per import; the rest are counted in the `done` event's
   * `failureEventsDropped`.
   * @defaultValue `100`
   */
  maxFailureEvents?: number;
  /**
   * Time between SSE heartbeat comments, in ms, so proxies keep the connection.
   * @defaultValue `15000`
   */
  heartbeatMs?: number;
  /** Seconds in the `Retry-After` header of a 429. @defaultValue `5` */
  retryAfterSeconds?: number;
  /**
   * Keep a checkpoint of every upload in this store (`mongoCheckpoints(collection)`, or your own),
   * keyed by the import's id: the status (`GET {prefix}/:id`) and the SSE progress events then show
   * `durable: { offset, line }`, the last checkpoint stored, next to `bytesAcknowledged`. The
   * offset counts the CSV's own bytes (after gunzip). An upload cannot be resumed yet (a body is
   * a stream; see `resume.stream: 'checkpoint-only'` in `@anti-oom/core`), but its rows get
   * deterministic `_id`s in insert mode and the checkpoint says where it stopped, so it can be
   * continued from the same file. A `resume` the `pipeline` callback returns takes precedence.
   * @defaultValue `undefined` (no checkpoints)
   */
  checkpoints?: CheckpointStore;
}

/** Options of {@link createIngestHandler}. */
export interface IngestHandlerOptions extends IngestRouteOptions<IncomingMessage> {
  /**
   * Path the routes live under, for node:http. Express and Fastify set it for you.
   * @defaultValue `''`
   */
  prefix?: string;
}

/** @internal */
export interface NormalizedRouteOptions<Req> {
  pipeline: NonNullable<IngestRouteOptions<Req>['pipeline']>;
  queue: ImportQueue | undefined;
  job: IngestRouteOptions<Req>['job'];
  authorize: IngestRouteOptions<Req>['authorize'];
  owner: IngestRouteOptions<Req>['owner'];
  allowedOrigins: ReadonlySet<string>;
  trustProxy: boolean;
  logger: HttpLogger;
  exposeMemory: boolean;
  fileField: string;
  limits: NormalizedLimits;
  maxImports: number;
  keepEndedMs: number;
  pendingTimeoutMs: number;
  progressIntervalMs: number;
  maxFailureEvents: number;
  heartbeatMs: number;
  retryAfterSeconds: number;
  checkpoints: CheckpointStore | undefined;
}

const consoleLogger: HttpLogger = {
  error: (obj, msg) => console.error(msg, obj),
  warn: (obj, msg) => console.warn(msg, obj),
};

const count = { min: 1, integer: true } as const;
const ms = { min: 1, integer: true } as const;

/** @internal */
export function normalizePrefix(prefix: unknown): string {
  if (prefix !== undefined && typeof prefix !== 'string') throw invalidOption('prefix', "a path starting with '/'", prefix);
  const p = (prefix ?? '').replace(/\/+$/, '');
  if (p !== '' && !p.startsWith('/')) throw invalidOption('prefix', "a path starting with '/'", prefix);
  return p;
}

function normalizeOrigin(value: unknown): string {
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      if (url.origin !== 'null' && value.replace(/\/$/, '') === url.origin) return url.origin;
    } catch {
      // reported below
    }
  }
  throw invalidOption('allowedOrigins', "origins such as 'https://app.example' (scheme, host and port; no path)", value);
}

/** Fills every default and rejects bad values, naming the option, once at construction. @internal */
export function normalizeRouteOptions<Req>(options: IngestRouteOptions<Req>): NormalizedRouteOptions<Req> {
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
  const queue = options.queue;
  if (queue !== undefined && (queue === null || typeof queue !== 'object' || typeof queue.enqueue !== 'function' || typeof queue.storage?.append !== 'function')) {
    throw invalidOption('queue', 'an import queue: createIngestQueue({ connection, storage }) from @anti-oom/queue', queue);
  }
  if (queue === undefined ? typeof options.pipeline !== 'function' : options.pipeline !== undefined && typeof options.pipeline !== 'function') {
    throw invalidOption('pipeline', 'a function (req, fields) => pipeline options', options.pipeline);
  }
  if (options.job !== undefined && typeof options.job !== 'function') throw invalidOption('job', 'a function (req, fields) => JSON job data', options.job);
  if (typeof options.authorize !== 'function') {
    throw invalidOption(
      'authorize',
      'a function (req, action, importId, info) => true | false | { status: 401 }: it decides who may create, upload, watch and cancel imports. To allow everyone explicitly, pass authorize: () => true',
      options.authorize,
    );
  }
  if (options.owner !== undefined && typeof options.owner !== 'function') throw invalidOption('owner', 'a function (req) => string | undefined', options.owner);
  if (options.allowedOrigins !== undefined && !Array.isArray(options.allowedOrigins)) throw invalidOption('allowedOrigins', 'an array of origins', options.allowedOrigins);
  if (options.logger !== undefined && (typeof options.logger?.error !== 'function' || typeof options.logger?.warn !== 'function')) {
    throw invalidOption('logger', 'a pino-compatible logger (with error and warn methods)', options.logger);
  }
  const cp = options.checkpoints;
  if (cp !== undefined && (cp === null || typeof cp !== 'object' || typeof cp.load !== 'function' || typeof cp.save !== 'function' || typeof cp.clear !== 'function')) {
    throw invalidOption('checkpoints', 'a CheckpointStore such as mongoCheckpoints(collection)', cp);
  }
  const l = options.limits ?? {};
  return {
    // In queue mode without a pipeline callback, the CSV options are the defaults.
    pipeline: options.pipeline ?? (() => ({}) as PerRequestPipelineOptions),
    queue,
    job: options.job,
    authorize: options.authorize,
    owner: options.owner,
    allowedOrigins: new Set((options.allowedOrigins ?? []).map(normalizeOrigin)),
    trustProxy: options.trustProxy === true,
    logger: options.logger ?? consoleLogger,
    exposeMemory: options.exposeMemory === true,
    fileField: options.fileField ?? 'file',
    limits: {
      maxFileBytes: numberOption('limits.maxFileBytes', l.maxFileBytes, 2 * 1024 ** 3, count),
      maxDecompressedBytes: numberOption('limits.maxDecompressedBytes', l.maxDecompressedBytes, 8 * 1024 ** 3, count),
      maxCompressionRatio: numberOption('limits.maxCompressionRatio', l.maxCompressionRatio, 200, { min: 1 }),
      maxRecordBytes: numberOption('limits.maxRecordBytes', l.maxRecordBytes, 1024 * 1024, count),
      maxColumns: numberOption('limits.maxColumns', l.maxColumns, 1000, count),
      maxFields: numberOption('limits.maxFields', l.maxFields, 20, { min: 0, integer: true }),
      maxFieldBytes: numberOption('limits.maxFieldBytes', l.maxFieldBytes, 64 * 1024, count),
      maxConcurrentImports: numberOption('limits.maxConcurrentImports', l.maxConcurrentImports, 4, count),
      maxRunningPerOwner: numberOption('limits.maxRunningPerOwner', l.maxRunningPerOwner, 2, count),
      maxPendingPerOwner: numberOption('limits.maxPendingPerOwner', l.maxPendingPerOwner, 10, count),
      maxWatchersPerImport: numberOption('limits.maxWatchersPerImport', l.maxWatchersPerImport, 10, count),
      maxWatchers: numberOption('limits.maxWatchers', l.maxWatchers, 1000, count),
      idleTimeoutMs: numberOption('limits.idleTimeoutMs', l.idleTimeoutMs, 30_000, ms),
      idleMinBytes: numberOption('limits.idleMinBytes', l.idleMinBytes, 1024, count),
      maxPreviewBytes: numberOption('limits.maxPreviewBytes', l.maxPreviewBytes, 1024 * 1024, count),
      maxPreviewRows: numberOption('limits.maxPreviewRows', l.maxPreviewRows, 100, count),
    },
    maxImports: numberOption('maxImports', options.maxImports, 1000, count),
    keepEndedMs: numberOption('keepEndedMs', options.keepEndedMs, 3_600_000, ms),
    pendingTimeoutMs: numberOption('pendingTimeoutMs', options.pendingTimeoutMs, 600_000, ms),
    progressIntervalMs: numberOption('progressIntervalMs', options.progressIntervalMs, 250, { min: 0, integer: true }),
    maxFailureEvents: numberOption('maxFailureEvents', options.maxFailureEvents, 100, { min: 0, integer: true }),
    heartbeatMs: numberOption('heartbeatMs', options.heartbeatMs, 15_000, ms),
    retryAfterSeconds: numberOption('retryAfterSeconds', options.retryAfterSeconds, 5, count),
    checkpoints: cp,
  };
}
