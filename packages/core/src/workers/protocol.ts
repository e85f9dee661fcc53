import type { NormalizedBatchOptions } from '../batch/accumulator.js';
import type { NormalizedCsvOptions } from '../csv/options.js';
import type { ColumnTypes } from '../rows/convert.js';
import type { NormalizedRetryOptions } from '../sink/retry.js';
import type { RowFailure, RowFailureValues, WriteResult } from '../types.js';
import type { NormalizedWorkersOptions } from './options.js';

/** The messages between the main thread and its workers. @internal */

/** `workerData` of every worker. */
export interface WorkerInit {
  index: number;
  count: number;
  importId: string;
  setup: NormalizedWorkersOptions['setup'];
  data: unknown;
  csv: NormalizedCsvOptions;
  types: ColumnTypes | undefined;
  batch: NormalizedBatchOptions;
  concurrency: number;
  retry: NormalizedRetryOptions;
  ping: boolean;
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  code: string;
  message: string;
  context?: Record<string, unknown>;
}

/** A row failure with its server-side `detail` (non-enumerable, so a clone would drop it). */
export interface WireFailure {
  failure: RowFailure;
  detail?: string;
  values?: RowFailureValues;
}

export type ToWorker =
  | { type: 'start'; charset: string; delimiter: string; header: readonly string[] }
  /** Whole records from `offset` (source bytes), starting on physical line `line`. */
  | { type: 'range'; seq: number; offset: number; line: number; bytes: Uint8Array }
  /** No more ranges. */
  | { type: 'end' }
  /** Stop at once: settle the batches in flight, report them, end. */
  | { type: 'stop' };

export type FromWorker =
  /** Set up and pinged; `keyed`: the sink needs rows with the same key written in file order. */
  | { type: 'ready'; keyed: boolean }
  /** Rows settled before the sink (parse and map failures, skipped rows), in the order found. */
  | { type: 'rows'; failures: WireFailure[]; skips: number[] }
  /** Range `seq` was parsed into `rows` rows; the worker takes another. */
  | { type: 'parsed'; seq: number; rows: number }
  /**
   * Batches acknowledged (`batches` of them, sent together), and the rows the database refused. `ranges`: pairs of (first line of a
   * range, rows of the batch from that range), for the settled frontier, instead of every line.
   */
  | { type: 'written'; batches: number; result: Omit<WriteResult, 'failures'>; ranges: number[]; failures: WireFailure[] }
  /** A batch refused for good (or cut short by a stop): its rows fail, unconfirmed or not written. */
  | { type: 'refused'; error: WireError; transient: boolean; items: { line: number; values?: RowFailureValues }[] }
  | { type: 'retry'; seq: number; attempt: number; message: string }
  /** The worker's own stage failed: the import ends with this error. */
  | { type: 'fatal'; error: WireError }
  /** Nothing of this worker is in flight any more. */
  | { type: 'ended' };
