import type { MemorySample } from '../memory/memory-monitor.js';
import type { Batch, BatchWriter, IngestReport, IngestSnapshot, RowFailureCode, WriteResult } from '../types.js';
import { channels, type ImportStartMessage } from './channels.js';

interface Timing {
  startedAt: number;
  attempts: number;
}

/**
 * Publishes one import's events on the diagnostics channels. Every method returns at once when
 * its channel has no subscriber; the pipeline calls them per batch, per sample or per failure,
 * never per written row.
 * @internal
 */
export class ImportObserver {
  readonly #importId: string;
  readonly #timings = new WeakMap<Batch, Timing>();
  #failed: Partial<Record<RowFailureCode, number>> | undefined;

  constructor(importId: string) {
    this.#importId = importId;
  }

  /** The writer, timed: the first attempt's start and the number of attempts of each batch. */
  wrap(writer: BatchWriter): BatchWriter {
    const timings = this.#timings;
    const timed: BatchWriter = {
      write(batch, attempt) {
        const t = timings.get(batch);
        if (t === undefined) timings.set(batch, { startedAt: performance.now(), attempts: 1 });
        else t.attempts++;
        return writer.write(batch, attempt);
      },
    };
    if (writer.keysOf) timed.keysOf = (batch) => writer.keysOf!(batch);
    if (writer.isTransient) timed.isTransient = (error) => writer.isTransient!(error);
    if (writer.ping) timed.ping = (signal) => writer.ping!(signal);
    return timed;
  }

  start(settings: ImportStartMessage['settings']): void {
    if (channels.importStart.hasSubscribers) channels.importStart.publish({ importId: this.#importId, startedAt: Date.now(), settings } satisfies ImportStartMessage);
  }

  batchWritten(result: WriteResult, batch: Batch): void {
    const t = this.#timings.get(batch);
    this.#timings.delete(batch);
    if (channels.batchWritten.hasSubscribers) {
      channels.batchWritten.publish({
        importId: this.#importId,
        seq: batch.seq,
        rowsWritten: result.written,
        rowsFailed: result.failures.length,
        bytes: batch.bytes,
        latencyMs: t === undefined ? 0 : performance.now() - t.startedAt,
        attempts: t?.attempts ?? 1,
        firstLine: batch.items[0]?.line ?? 0,
        lastLine: batch.items[batch.items.length - 1]?.line ?? 0,
      });
    }
  }

  retry(error: unknown, batch: Batch, attempt: number): void {
    if (channels.batchRetry.hasSubscribers) channels.batchRetry.publish({ importId: this.#importId, seq: batch.seq, attempt, error });
  }

  /** Counts a failed row; sent with the next {@link flushFailures}. */
  failed(code: RowFailureCode): void {
    if (!channels.rowsFailed.hasSubscribers) return;
    const counts = (this.#failed ??= {});
    counts[code] = (counts[code] ?? 0) + 1;
  }

  flushFailures(): void {
    const counts = this.#failed;
    if (counts === undefined) return;
    this.#failed = undefined;
    if (channels.rowsFailed.hasSubscribers) channels.rowsFailed.publish({ importId: this.#importId, counts });
  }

  progress(snapshot: IngestSnapshot): void {
    this.flushFailures();
    if (channels.progress.hasSubscribers) channels.progress.publish({ importId: this.#importId, snapshot });
  }

  memory(sample: MemorySample): void {
    if (channels.memory.hasSubscribers) channels.memory.publish({ importId: this.#importId, sample });
  }

  end(report: IngestReport): void {
    this.flushFailures();
    if (channels.importEnd.hasSubscribers) channels.importEnd.publish({ importId: this.#importId, report });
  }
}
