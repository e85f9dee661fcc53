import diagnostics from 'node:diagnostics_channel';
import type { MemorySample } from '../memory/memory-monitor.js';
import type { IngestReport, IngestSnapshot, RowFailureCode } from '../types.js';

/**
 * Names of the `node:diagnostics_channel` channels every import publishes on. Subscribe with
 * `diagnostics_channel.subscribe(name, fn)`; nothing is computed for a channel nobody listens to.
 * These names and their payloads are public API: they change only in a breaking release.
 */
export const IngestChannel = {
  /** {@link ImportStartMessage}: `run()` began, before anything is read. */
  importStart: 'anti-oom:import:start',
  /** {@link ImportEndMessage}: the import ended (done, failed or aborted), with its report. */
  importEnd: 'anti-oom:import:end',
  /** {@link BatchWrittenMessage}: the database acknowledged a batch. */
  batchWritten: 'anti-oom:batch:written',
  /** {@link BatchRetryMessage}: a batch failed with a transient error and will be retried. */
  batchRetry: 'anti-oom:batch:retry',
  /** {@link RowsFailedMessage}: rows failed since the last message, by code; at most once per batch and once at the end. */
  rowsFailed: 'anti-oom:rows:failed',
  /** {@link ProgressMessage}: the counters, after every acknowledged batch and once at the end. */
  progress: 'anti-oom:progress',
  /** {@link MemoryMessage}: a memory sample, at the start and then every `memory.intervalMs`. */
  memory: 'anti-oom:memory',
} as const;

/** Payload of `anti-oom:import:start`. */
export interface ImportStartMessage {
  importId: string;
  /** `Date.now()` at the start. */
  startedAt: number;
  /** Rows per batch, batches in flight, the CSV engine, and whether types were given, inferred or absent. */
  settings: { batchSize: number; concurrency: number; engine: 'csv-parse' | 'fast'; types: 'given' | 'infer' | 'none' };
}

/** Payload of `anti-oom:import:end`. */
export interface ImportEndMessage {
  importId: string;
  /** The final report; `report.state` and `report.error` say how it ended. */
  report: IngestReport;
}

/** Payload of `anti-oom:batch:written`. */
export interface BatchWrittenMessage {
  importId: string;
  /** Position of the batch in the import, from 0. */
  seq: number;
  /** Rows of the batch now in the database. */
  rowsWritten: number;
  /** Rows of the batch the database refused (duplicate key, validation, ...). */
  rowsFailed: number;
  /** Approximate size of the batch in bytes. */
  bytes: number;
  /** Milliseconds from the first attempt's start to the acknowledgement, retries included. */
  latencyMs: number;
  /** Attempts it took: 1 when no retry was needed. */
  attempts: number;
  /** Line of the first and the last row of the batch. */
  firstLine: number;
  lastLine: number;
}

/** Payload of `anti-oom:batch:retry`. */
export interface BatchRetryMessage {
  importId: string;
  seq: number;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** The transient error. */
  error: unknown;
}

/** Payload of `anti-oom:rows:failed`. */
export interface RowsFailedMessage {
  importId: string;
  /** Rows failed since the previous message, by {@link RowFailureCode}; only codes with a count. */
  counts: Partial<Record<RowFailureCode, number>>;
}

/** Payload of `anti-oom:progress`. */
export interface ProgressMessage {
  importId: string;
  snapshot: IngestSnapshot;
}

/** Payload of `anti-oom:memory`. */
export interface MemoryMessage {
  importId: string;
  sample: MemorySample;
}

/** @internal */
export const channels = {
  importStart: diagnostics.channel(IngestChannel.importStart),
  importEnd: diagnostics.channel(IngestChannel.importEnd),
  batchWritten: diagnostics.channel(IngestChannel.batchWritten),
  batchRetry: diagnostics.channel(IngestChannel.batchRetry),
  rowsFailed: diagnostics.channel(IngestChannel.rowsFailed),
  progress: diagnostics.channel(IngestChannel.progress),
  memory: diagnostics.channel(IngestChannel.memory),
};
