import type { ColumnTypes } from './rows/convert.js';

/**
 * Codes of row-level failures. A failed row is data in the report, never an exception.
 */
export const RowFailureCode = {
  /** The record has more or fewer fields than the header. */
  E_COLUMN_COUNT: 'E_COLUMN_COUNT',
  /** The record is not valid CSV (a stray quote, a quote never closed) and was skipped. */
  E_CSV_RECORD: 'E_CSV_RECORD',
  /**
   * The record holds bytes that are not UTF-8 while the input is read as UTF-8. Nothing is
   * written in their place; if the file is in another charset, set `csv.encoding`.
   */
  E_ENCODING: 'E_ENCODING',
  /** A value does not convert to the type given in `types`. */
  E_TYPE: 'E_TYPE',
  /** The `schema` rejected the row. */
  E_VALIDATION: 'E_VALIDATION',
  /** The `map` function threw. */
  E_MAP: 'E_MAP',
  /** A field named in the sink's `key` is missing or empty. */
  E_KEY_MISSING: 'E_KEY_MISSING',
  /** The database refused the document for a duplicate key on a unique index. */
  E_DUPLICATE_KEY: 'E_DUPLICATE_KEY',
  /** The database refused the document for another reason (validation, size, ...). */
  E_WRITE: 'E_WRITE',
  /**
   * A write of the row's batch failed in transit and was never confirmed: the database stayed
   * unreachable past the retry budget, or the import stopped before the retry. The row may or may
   * not be in the database; re-running the import in `upsert` mode, or checking by key, settles it.
   */
  E_UNCONFIRMED: 'E_UNCONFIRMED',
} as const;

/** The string code of a {@link RowFailure}. */
export type RowFailureCode = (typeof RowFailureCode)[keyof typeof RowFailureCode];

/** One row that was read but not written, and why. */
export interface RowFailure {
  /** 1-based physical line where the record starts (the header is line 1). */
  line: number;
  /** Stable code; see {@link RowFailureCode}. */
  code: RowFailureCode;
  /** What went wrong, for a person. */
  message: string;
  /** The column at fault, where known. */
  column?: string;
  /**
   * The database's own text for a row it refused (it names collections, indexes and servers), for
   * the server's logs. Non-enumerable, so it never reaches JSON: reports, HTTP responses and SSE
   * events carry only `code`, `column` and the key value in `message`.
   */
  readonly detail?: string;
}

/**
 * The values of a failed row, for writing it somewhere a person can fix it: the fields as read
 * (by column name; as an array when the record's field count did not match the header), or the
 * document as sent when the database refused it. Absent when the record could not be read at all.
 */
export type RowFailureValues = Readonly<Record<string, unknown>> | readonly string[];

/** A CSV record as it leaves the parser: field values by column name, and where it came from. */
export interface CsvRecord {
  /** 1-based physical line where the record starts. */
  line: number;
  /** Field values by header name. Built on a validated header, so no key can reach a prototype. */
  row: Record<string, string>;
  /** Bytes of input the record took, delimiters included; the batcher uses it as a size estimate. */
  bytes: number;
  /**
   * Offset in the source, in the source's own bytes (before any transcoding), just past the
   * record's line end: where the next record starts. `NaN` for charsets whose characters have no
   * fixed width (Shift_JIS, GBK, ...). Checkpoints and `bytesAcknowledged` are built on it.
   */
  end: number;
  /** Physical line on which the next record starts (past any line breaks inside quoted fields). */
  nextLine: number;
}

/** A document on its way to the sink, still carrying the line it came from. */
export interface LinedDocument<T = Record<string, unknown>> {
  /** 1-based physical line of the source record; 0 when the document did not come from a file. */
  line: number;
  /** The document to write. */
  document: T;
  /** Approximate size in bytes, used to cap batches by bytes. */
  bytes: number;
  /** Source offset just past the record (see {@link CsvRecord.end}), when the document came from a file. */
  end?: number;
  /** Physical line on which the next record starts, with `end`. */
  nextLine?: number;
  /** The pipeline gave the document its `_id` (a resumable insert): a copy found under that `_id` is this row's own. */
  assignedId?: boolean;
}

/** A group of documents the sink writes in one round trip. */
export interface Batch<T = Record<string, unknown>> {
  /** Position of the batch in the import, from 0. */
  seq: number;
  /** The documents, in file order. */
  items: LinedDocument<T>[];
  /** Sum of the items' approximate sizes. */
  bytes: number;
}

/** What a {@link BatchWriter} reports for one batch. */
export interface WriteResult {
  /** Rows of the batch that are now in the database (inserted, replaced, merged or already there). */
  written: number;
  /** Documents inserted. */
  inserted: number;
  /** Documents created by an upsert. */
  upserted: number;
  /** Documents an upsert or merge matched. */
  matched: number;
  /** Matched documents that changed. */
  modified: number;
  /** Rows the database refused; `written + failures.length` equals the batch size. */
  failures: RowFailure[];
}

/** Context a {@link BatchWriter} gets with each attempt. */
export interface WriteAttempt {
  /** 0 for the first attempt, then 1, 2, ... for retries of the same batch. */
  attempt: number;
  /** Fires when the import is aborted; an in-flight write may ignore it. */
  signal: AbortSignal;
  /**
   * The batch may have been written before, by an earlier run of the same resumable import that
   * stopped before its checkpoint: a duplicate key on the row's own `_id` means it is there.
   */
  replay?: boolean;
}

/**
 * The contract between the bulk sink and a database. `mongoSink` is one;
 * write your own to land rows somewhere else.
 *
 * `write` must be idempotent across attempts of the same batch: the sink retries
 * a batch when `write` rejects with a transient error.
 */
export interface BatchWriter<T = Record<string, unknown>> {
  /** Writes one batch. Rejects only for batch-level errors; per-document refusals go in `failures`. */
  write(batch: Batch<T>, attempt: WriteAttempt): Promise<WriteResult>;
  /**
   * Keys the batch touches, when the order of writes matters (upsert, merge). The sink never
   * runs two batches that share a key at the same time, so a later row always wins.
   */
  keysOf?(batch: Batch<T>): Set<string> | undefined;
  /** Whether an error is worth retrying. Defaults to the sink's own rules. */
  isTransient?(error: unknown): boolean;
  /** Cheap liveness check (a ping), used to fail fast before reading anything. */
  ping?(signal?: AbortSignal): Promise<void>;
  /**
   * How a resumed import keeps replayed rows from landing twice. `'insert'`: the pipeline gives
   * each document without an `_id` a deterministic one (from the resume key's nonce and the line)
   * and marks the item `assignedId`; on a write with `replay`, the writer must count a duplicate
   * key on such an `_id` as written (`mongoSink` does). `'keyed'`: writes are idempotent by key
   * (upsert, merge). Absent: the writer is taken to be idempotent.
   */
  readonly resumeMode?: 'insert' | 'keyed';
}

/**
 * A pino-compatible logger; only these methods are used. With `child` (as pino has), each import
 * logs through `logger.child({ importId })`, so every line carries the import's id.
 */
export interface IngestLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: Record<string, unknown>): IngestLogger;
}

/** Where an import stands. */
export type IngestState = 'running' | 'done' | 'failed' | 'aborted';

/** Counters of an import at one moment; `snapshot()` and `progress` events return it. */
export interface IngestSnapshot {
  /** The import's id (`options.id`, or a random UUID). */
  id: string;
  state: IngestState;
  /** Data rows read from the input: written + failed + skipped, once the import settles. */
  rowsRead: number;
  /** Rows the database acknowledged. */
  rowsWritten: number;
  /** Rows that failed, with a reason (see the report's `failures`). */
  rowsFailed: number;
  /** Blank lines, and rows `map` returned `undefined` for. */
  rowsSkipped: number;
  /** Bytes of input consumed (compressed bytes if the source was compressed); from the start of the source when resumed. */
  bytesRead: number;
  /**
   * Offset in the source just past the last record whose fate is settled along with every record
   * before it: written and acknowledged by the database, failed, or skipped. This is where a
   * checkpoint would resume, and what honest progress is measured by (`bytesRead` runs ahead by
   * whatever the stages hold). In the source's own bytes (uncompressed, before transcoding); 0
   * until the first batch is acknowledged, and for charsets with no fixed width.
   */
  bytesAcknowledged: number;
  /**
   * A resumable import (`resume` option): the last checkpoint stored, where a later run would
   * continue (source offset, and the line of the record there). Absent otherwise.
   */
  durable?: { offset: number; line: number };
  /** Batches the database acknowledged. */
  batchesWritten: number;
  inserted: number;
  upserted: number;
  matched: number;
  modified: number;
  /** Milliseconds since `run()` started. */
  elapsedMs: number;
  /** rowsRead per second since the start. */
  rowsPerSecond: number;
  /** Heap in use at the last memory sample. */
  heapUsedBytes: number;
  /** Resident set size at the last memory sample. */
  rssBytes: number;
}

/** The final account of an import. */
export interface IngestReport extends IngestSnapshot {
  /** The first failures found (up to `maxFailuresKept`), sorted by line. */
  failures: RowFailure[];
  /** True when more rows failed than `failures` holds. */
  failuresTruncated: boolean;
  peakHeapUsedBytes: number;
  peakRssBytes: number;
  /** Why the import ended early, when it did. */
  error?: { code: string; message: string };
  /**
   * Present when the import was continued from a checkpoint (`resume` option): the line it resumed
   * at the last time, and how many times it was resumed. The counters cover the whole import.
   */
  resumed?: { fromLine: number; fromByte: number; times: number };
  /** With `types: 'infer'`: the type chosen for every column (`'string'` where none fitted), once the sample was read. */
  inferredTypes?: ColumnTypes;
}
