import type { IncomingMessage } from 'node:http';
import { invalidOption, type IngestPipelineOptions } from '@anti-oom/core';

/** What a request asks to do; `authorize` sees it. */
export type IngestAction = 'upload' | 'watch' | 'cancel';

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

/** Limits of the HTTP layer; each has a finite default. */
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
   * Imports running at once; one more gets 429 with `Retry-After`.
   * @defaultValue `4`
   */
  maxConcurrentImports?: number;
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
}

/** @internal */
export type NormalizedLimits = Required<IngestLimits>;

/** Options of {@link createIngestHandler}. */
export interface IngestHandlerOptions {
  /**
   * Path the routes live under, for node:http. Express and Fastify set it for you.
   * @defaultValue `''`
   */
  prefix?: string;
  /**
   * The options of each import: which collection, which mapping. `fields` are the multipart text
   * fields sent before the file, or the query string of a raw upload.
   */
  pipeline: (req: IncomingMessage, fields: Record<string, string>) => PerRequestPipelineOptions | Promise<PerRequestPipelineOptions>;
  /**
   * Who may upload, watch or cancel. `importId` and `info` are absent when a new import is being
   * created. Without this hook anyone may, and an import's unguessable id is the only key to its
   * progress.
   */
  authorize?: (req: IncomingMessage, action: IngestAction, importId?: string, info?: ImportInfo) => AuthorizeResult | Promise<AuthorizeResult>;
  /** Who creates an import (a user id from your session), kept with it for `authorize`. */
  owner?: (req: IncomingMessage) => string | undefined;
  /** Multipart field holding the file. @defaultValue `'file'` */
  fileField?: string;
  /** Limits; see {@link IngestLimits}. */
  limits?: IngestLimits;
  /**
   * Most imports kept in the registry (running, waiting for their upload, or ended).
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
   * `rowFailure` events sent per import; the rest are counted in progress.
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
}

/** @internal */
export interface NormalizedHandlerOptions {
  prefix: string;
  pipeline: IngestHandlerOptions['pipeline'];
  authorize: NonNullable<IngestHandlerOptions['authorize']> | undefined;
  owner: IngestHandlerOptions['owner'];
  fileField: string;
  limits: NormalizedLimits;
  maxImports: number;
  keepEndedMs: number;
  pendingTimeoutMs: number;
  progressIntervalMs: number;
  maxFailureEvents: number;
  heartbeatMs: number;
  retryAfterSeconds: number;
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw invalidOption(name, 'a positive number', value);
  return value;
}

/** @internal */
export function normalizeHandlerOptions(options: IngestHandlerOptions): NormalizedHandlerOptions {
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
  if (typeof options.pipeline !== 'function') throw invalidOption('pipeline', 'a function (req, fields) => pipeline options', options.pipeline);
  if (options.authorize !== undefined && typeof options.authorize !== 'function') throw invalidOption('authorize', 'a function', options.authorize);
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  if (prefix !== '' && !prefix.startsWith('/')) throw invalidOption('prefix', "a path starting with '/'", options.prefix);
  const l = options.limits ?? {};
  return {
    prefix,
    pipeline: options.pipeline,
    authorize: options.authorize,
    owner: options.owner,
    fileField: options.fileField ?? 'file',
    limits: {
      maxFileBytes: positive('limits.maxFileBytes', l.maxFileBytes, 2 * 1024 ** 3),
      maxDecompressedBytes: positive('limits.maxDecompressedBytes', l.maxDecompressedBytes, 8 * 1024 ** 3),
      maxCompressionRatio: positive('limits.maxCompressionRatio', l.maxCompressionRatio, 200),
      maxRecordBytes: positive('limits.maxRecordBytes', l.maxRecordBytes, 1024 * 1024),
      maxColumns: positive('limits.maxColumns', l.maxColumns, 1000),
      maxFields: positive('limits.maxFields', l.maxFields, 20),
      maxFieldBytes: positive('limits.maxFieldBytes', l.maxFieldBytes, 64 * 1024),
      maxConcurrentImports: positive('limits.maxConcurrentImports', l.maxConcurrentImports, 4),
      idleTimeoutMs: positive('limits.idleTimeoutMs', l.idleTimeoutMs, 30_000),
      idleMinBytes: positive('limits.idleMinBytes', l.idleMinBytes, 1024),
    },
    maxImports: positive('maxImports', options.maxImports, 1000),
    keepEndedMs: positive('keepEndedMs', options.keepEndedMs, 3_600_000),
    pendingTimeoutMs: positive('pendingTimeoutMs', options.pendingTimeoutMs, 600_000),
    progressIntervalMs: positive('progressIntervalMs', options.progressIntervalMs, 250),
    maxFailureEvents: positive('maxFailureEvents', options.maxFailureEvents, 100),
    heartbeatMs: positive('heartbeatMs', options.heartbeatMs, 15_000),
    retryAfterSeconds: positive('retryAfterSeconds', options.retryAfterSeconds, 5),
  };
}
