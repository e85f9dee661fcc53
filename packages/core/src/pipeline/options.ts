import type { StandardSchemaV1 } from '@standard-schema/spec';
import { randomUUID } from 'node:crypto';
import { normalizeBatchOptions, type BatchOptions, type NormalizedBatchOptions } from '../batch/accumulator.js';
import { normalizeCsvOptions, type CsvOptions, type NormalizedCsvOptions } from '../csv/options.js';
import { invalidOption } from '../errors.js';
import { numberOption } from '../options/number-option.js';
import type { ColumnTypes } from '../rows/convert.js';
import { normalizeResumeOptions, type NormalizedResumeOptions, type ResumeOptions } from '../resume/session.js';
import { RowProcessor, type RowMapper } from '../rows/row-processor.js';
import { normalizeRetryOptions, type NormalizedRetryOptions, type RetryOptions } from '../sink/retry.js';
import type { BatchWriter, IngestLogger } from '../types.js';
import { checkWorkersCompanions, normalizeWorkersOptions, type NormalizedWorkersOptions, type WorkersOptions } from '../workers/options.js';

/** Options of {@link createIngestPipeline}. */
export interface IngestPipelineOptions {
  /** Where rows go: `mongoSink(collection, ...)`, or any {@link BatchWriter}. Required, except with `workers` (which builds one per worker). */
  sink?: BatchWriter;
  /** How to read the CSV. */
  csv?: CsvOptions;
  /**
   * Column types; columns not listed stay strings. An empty value becomes `null`.
   * `'infer'` chooses them from the first rows (at most 1000 rows or 1 MiB), then applies them
   * as if written by hand; the report's `inferredTypes` says what was chosen. See the guide
   * "Preview and type inference" for the rules.
   */
  types?: ColumnTypes | 'infer';
  /** Any Standard Schema v1 validator (zod, valibot, arktype); runs after `types`, before `map`. */
  schema?: StandardSchemaV1;
  /** Shapes each row into the document to write; runs last. */
  map?: RowMapper<object>;
  /** How rows are grouped into writes. */
  batch?: BatchOptions;
  /**
   * Batches written at the same time.
   * @defaultValue `2`
   */
  concurrency?: number;
  /** Retries of a batch after transient database errors. */
  retry?: RetryOptions;
  /**
   * The import ends with `E_TOO_MANY_FAILURES` once more rows than this have failed.
   * @defaultValue `Infinity`
   */
  maxFailures?: number;
  /**
   * How many failures the report keeps (all are counted).
   * @defaultValue `100`
   */
  maxFailuresKept?: number;
  /**
   * Largest input, in bytes as read from the source; more ends the import with `E_FILE_TOO_LARGE`.
   * @defaultValue `Infinity`
   */
  maxInputBytes?: number;
  /** Aborts the import: reading stops at once, batches in flight settle, `run()` rejects with `E_ABORTED`. */
  signal?: AbortSignal;
  /**
   * Memory sampling; `false` turns it off.
   * @defaultValue `{ intervalMs: 1000 }`
   */
  memory?: { intervalMs?: number } | false;
  /** A pino-compatible logger; each import logs through `logger.child({ importId })` when it has `child`. Silent when absent. */
  logger?: IngestLogger;
  /**
   * Milliseconds between heartbeat log lines at info level.
   * @defaultValue `5000`
   */
  heartbeatMs?: number;
  /**
   * Ping the database before reading anything, so an unreachable server fails the import at once.
   * @defaultValue `true`
   */
  ping?: boolean;
  /** The import's id. @defaultValue `crypto.randomUUID()` */
  id?: string;
  /**
   * Makes the import durable: checkpoints in `store` under `key`, and a later run with the same
   * key continues after the last one, writing no row twice. Needs a source that can be opened at
   * an offset (`fileSource(path)`, or any `{ open(start), size? }`). See docs/durable-imports.md.
   */
  resume?: ResumeOptions;
  /**
   * Parse, type, map and write on several worker threads, each with its own sink; see
   * {@link WorkersOptions} and docs/workers.md. Without it, one thread does everything.
   */
  workers?: WorkersOptions;
}

/** @internal */
export interface NormalizedPipelineOptions {
  sink: BatchWriter;
  csv: NormalizedCsvOptions;
  types: ColumnTypes | 'infer' | undefined;
  schema: StandardSchemaV1 | undefined;
  map: RowMapper<object> | undefined;
  batch: NormalizedBatchOptions;
  concurrency: number;
  retry: NormalizedRetryOptions;
  maxFailures: number;
  maxFailuresKept: number;
  maxInputBytes: number;
  signal: AbortSignal | undefined;
  memoryIntervalMs: number | undefined;
  logger: IngestLogger | undefined;
  heartbeatMs: number;
  ping: boolean;
  id: string;
  resume: NormalizedResumeOptions | undefined;
  workers: NormalizedWorkersOptions | undefined;
}

/** Stands in for `sink` with `workers`, where every worker has its own; never written to. */
const WORKERS_OWN_SINKS: BatchWriter = {
  write: () => Promise.reject(new Error('With workers, each worker writes through its own sink.')),
};


/** @internal */
export function normalizePipelineOptions(options: IngestPipelineOptions): NormalizedPipelineOptions {
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
  const workers = normalizeWorkersOptions(options.workers);
  const sink = workers && options.sink === undefined ? WORKERS_OWN_SINKS : options.sink;
  if (sink === null || typeof sink !== 'object' || typeof sink.write !== 'function') {
    throw invalidOption('sink', 'a BatchWriter such as mongoSink(collection)', sink);
  }
  const concurrency = numberOption('concurrency', options.concurrency, 2, { min: 1, integer: true });
  let memoryIntervalMs: number | undefined = 1000;
  if (options.memory === false) memoryIntervalMs = undefined;
  else if (options.memory?.intervalMs !== undefined) memoryIntervalMs = numberOption('memory.intervalMs', options.memory.intervalMs, 1000, { min: 1, integer: true });
  if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0)) throw invalidOption('id', 'a non-empty string', options.id);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidOption('signal', 'an AbortSignal', options.signal);
  const id = options.id ?? randomUUID();
  // Built once here only to reject bad types, schema or map before anything is read.
  new RowProcessor({ types: options.types === 'infer' ? undefined : options.types, schema: options.schema, map: options.map, importId: id });
  const csv = normalizeCsvOptions(options.csv);
  if (workers) checkWorkersCompanions(workers, { sink: options.sink, map: options.map, schema: options.schema, types: options.types, resume: options.resume, csv });
  return {
    sink,
    csv,
    types: options.types,
    schema: options.schema,
    map: options.map,
    batch: normalizeBatchOptions(options.batch),
    concurrency,
    retry: normalizeRetryOptions(options.retry),
    maxFailures: numberOption('maxFailures', options.maxFailures, Infinity, { integer: true, unlimited: true }),
    maxFailuresKept: numberOption('maxFailuresKept', options.maxFailuresKept, 100, { integer: true }),
    maxInputBytes: numberOption('maxInputBytes', options.maxInputBytes, Infinity, { integer: true, unlimited: true }),
    signal: options.signal,
    memoryIntervalMs,
    logger: importLogger(options.logger, id),
    heartbeatMs: numberOption('heartbeatMs', options.heartbeatMs, 5000, { min: 1, integer: true }),
    ping: options.ping ?? true,
    id,
    resume: normalizeResumeOptions(options.resume),
    workers,
  };
}

/** The import's own logger, with `importId` on every line: a child when the logger has `child`, else a thin wrapper. */
function importLogger(logger: IngestLogger | undefined, importId: string): IngestLogger | undefined {
  if (logger === undefined) return undefined;
  if (logger === null || typeof logger !== 'object' || typeof logger.info !== 'function') throw invalidOption('logger', 'a pino-compatible logger', logger);
  if (typeof logger.child === 'function') return logger.child({ importId });
  return {
    debug: (obj, msg) => logger.debug({ importId, ...obj }, msg),
    info: (obj, msg) => logger.info({ importId, ...obj }, msg),
    warn: (obj, msg) => logger.warn({ importId, ...obj }, msg),
    error: (obj, msg) => logger.error({ importId, ...obj }, msg),
  };
}
