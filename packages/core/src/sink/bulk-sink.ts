import { Writable } from 'node:stream';
import pRetry from 'p-retry';
import { IngestError, IngestErrorCode } from '../errors.js';
import { numberOption } from '../options/number-option.js';
import type { Batch, BatchWriter, WriteResult } from '../types.js';
import { normalizeRetryOptions, type RetryOptions } from './retry.js';
import { isTransientError } from './transient.js';

/** Options of {@link createBulkSink}. */
export interface BulkSinkOptions {
  /**
   * Most batches written at the same time. Memory grows with it (batch size x concurrency).
   * @defaultValue `2`
   */
  concurrency?: number;
  /** Retry policy for transient errors. */
  retry?: RetryOptions;
  /** Stops retries (and waits for the attempt in flight) when aborted. */
  signal?: AbortSignal;
}

/**
 * A Writable of {@link Batch}es that calls back only when a write slot is free: with
 * `concurrency` batches unacknowledged, the next write waits, and so does everything upstream.
 *
 * Events: `batchWritten` (result, batch) after each acknowledgement; `batchRefused` (error, batch,
 * inTransit) when a batch fails for good, just before the stream errors with `E_SINK` (`inTransit`:
 * some attempt failed in transit, so some of the batch may have landed); `retry`
 * (error, batch, attempt) before each retry.
 */
export interface BulkSink extends Writable {
  /** Batches sent and not yet settled. */
  readonly inFlight: number;
  /** Resolves once no batch is in flight. */
  whenIdle(): Promise<void>;
}

function intersects(a: Set<string>, b: Set<string>): boolean {
  const [small, large] = a.size < b.size ? [a, b] : [b, a];
  for (const key of small) if (large.has(key)) return true;
  return false;
}

function lineRange(batch: Batch): string {
  const first = batch.items[0]?.line ?? 0;
  const last = batch.items[batch.items.length - 1]?.line ?? 0;
  return first > 0 ? ` (lines ${first}-${last})` : '';
}

/**
 * The stage that writes batches through a {@link BatchWriter} (see `mongoSink`), with bounded
 * concurrency, retries with exponential backoff on transient errors, and key-aware ordering:
 * two batches that touch the same key are never in flight together, so a later row wins.
 */
export function createBulkSink(writer: BatchWriter, options: BulkSinkOptions = {}): BulkSink {
  const concurrency = options.concurrency ?? 2;
  numberOption('concurrency', concurrency, 1, { min: 1, integer: true });
  const retry = normalizeRetryOptions(options.retry);
  const signal = options.signal;
  const isTransient = writer.isTransient ?? isTransientError;

  const inFlight = new Map<Promise<void>, Set<string> | undefined>();
  let failure: IngestError | undefined;

  const whenIdle = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.all(inFlight.keys());
  };

  /**
   * Every attempt at one batch. Resolves with the result, or `undefined` when the import was
   * aborted before any attempt could fail (nothing of the batch can have landed). Rejects with the
   * last error otherwise, including when an abort cut the retries short after a failed attempt:
   * that attempt may have written part of the batch.
   */
  async function attemptAll(batch: Batch, state: { inTransit: boolean }): Promise<WriteResult | undefined> {
    let settled: WriteResult | undefined;
    let lastFailure: unknown;
    const attemptSignal = signal ?? new AbortController().signal;
    try {
      return await pRetry(
        async (attemptNumber) => {
          settled = await writer.write(batch, { attempt: attemptNumber - 1, signal: attemptSignal });
          return settled;
        },
        {
          retries: retry.retries,
          minTimeout: retry.minDelayMs,
          maxTimeout: retry.maxDelayMs,
          maxRetryTime: retry.maxElapsedMs,
          factor: 2,
          randomize: true,
          ...(signal ? { signal } : {}),
          shouldRetry: ({ error }) => isTransient(error),
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            lastFailure = error;
            // A write that failed in transit may have landed, whatever later attempts say.
            if (isTransient(error)) state.inTransit = true;
            if (retriesLeft > 0 && isTransient(error)) sink.emit('retry', error, batch, attemptNumber);
          },
        },
      );
    } catch (err) {
      // p-retry rejects on abort even when the attempt in flight succeeded; keep that success.
      if (settled !== undefined) return settled;
      if (signal?.aborted) {
        if (lastFailure === undefined) return undefined;
        throw lastFailure;
      }
      throw err;
    }
  }

  async function writeBatch(batch: Batch): Promise<void> {
    let result: WriteResult | undefined;
    const state = { inTransit: false };
    try {
      result = await attemptAll(batch, state);
    } catch (err) {
      const transient = isTransient(err);
      const reason = err instanceof Error ? err.message : String(err);
      if (signal?.aborted) {
        // Stopped between retries: the import ends for another reason, but this batch's rows
        // must still be accounted for, as possibly written.
        const stopped = new IngestError(IngestErrorCode.E_ABORTED, `The import stopped while batch ${batch.seq}${lineRange(batch)} was being retried after: ${reason}.`, {}, { cause: err });
        sink.emit('batchRefused', stopped, batch, true);
        return;
      }
      const refusal = new IngestError(
        IngestErrorCode.E_SINK,
        transient
          ? `The database stayed unreachable while writing batch ${batch.seq}${lineRange(batch)}, after ${retry.retries} retries: ${reason}. Check the connection and run the import again.`
          : `Writing batch ${batch.seq}${lineRange(batch)} failed for a reason retrying cannot fix: ${reason}.`,
        {},
        { cause: err },
      );
      // Every refused batch is reported, so its rows are accounted for; the first one ends the stream.
      // Refused after an attempt lost in transit, the batch may be partly in the database.
      sink.emit('batchRefused', refusal, batch, transient || state.inTransit);
      if (failure === undefined) {
        failure = refusal;
        sink.destroy(failure);
      }
      return;
    }
    if (result !== undefined) sink.emit('batchWritten', result, batch);
  }

  async function dispatch(batch: Batch): Promise<void> {
    const keys = writer.keysOf?.(batch);
    if (keys !== undefined && keys.size > 0) {
      for (;;) {
        const blocking: Promise<void>[] = [];
        for (const [p, k] of inFlight) if (k !== undefined && intersects(k, keys)) blocking.push(p);
        if (blocking.length === 0) break;
        await Promise.race(blocking);
      }
    }
    if (failure !== undefined || sink.destroyed) return;
    const p: Promise<void> = writeBatch(batch).finally(() => inFlight.delete(p));
    inFlight.set(p, keys);
    while (inFlight.size >= concurrency) await Promise.race(inFlight.keys());
  }

  const sink = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(batch: Batch, _enc, callback) {
      dispatch(batch).then(() => callback(failure), callback);
    },
    final(callback) {
      whenIdle().then(() => callback(failure), callback);
    },
    destroy(err, callback) {
      // Let in-flight batches settle, so the counts reported after `close` are exact.
      whenIdle().then(() => callback(err), callback);
    },
  }) as BulkSink;
  Object.defineProperty(sink, 'inFlight', { get: () => inFlight.size });
  sink.whenIdle = whenIdle;
  return sink;
}
