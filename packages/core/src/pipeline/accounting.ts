import type { CheckpointCounters } from '../resume/ledger.js';
import type { IngestReport, IngestSnapshot, IngestState, RowFailure, WriteResult } from '../types.js';

/**
 * The counters of one import. A row is counted as read when its fate is known (written, failed or
 * skipped), so `rowsRead === rowsWritten + rowsFailed + rowsSkipped` holds at every moment, not
 * just at the end; rows still travelling through the stages are in none of the counters.
 * @internal
 */
export class Accounting {
  state: IngestState = 'running';
  rowsRead = 0;
  rowsWritten = 0;
  rowsFailed = 0;
  rowsSkipped = 0;
  bytesRead = 0;
  bytesAcknowledged = 0;
  /** The last checkpoint stored (a resumable import). */
  durable: { offset: number; line: number } | undefined;
  batchesWritten = 0;
  inserted = 0;
  upserted = 0;
  matched = 0;
  modified = 0;
  heapUsedBytes = 0;
  rssBytes = 0;
  peakHeapUsedBytes = 0;
  peakRssBytes = 0;
  readonly failures: RowFailure[] = [];
  readonly #keep: number;
  readonly #startedAt: number;
  #endedAt: number | undefined;
  /** Rows counted by earlier runs of a resumed import: not part of this run's rate. */
  #baseRows = 0;

  constructor(readonly id: string, keepFailures: number, startedAt = performance.now()) {
    this.#keep = keepFailures;
    this.#startedAt = startedAt;
  }

  /** Starts from the counters of earlier runs (a resumed import), so the report covers the whole import. */
  resumeFrom(base: CheckpointCounters, failures: readonly RowFailure[]): void {
    this.rowsRead += base.rowsRead;
    this.rowsWritten += base.rowsWritten;
    this.rowsFailed += base.rowsFailed;
    this.rowsSkipped += base.rowsSkipped;
    this.batchesWritten += base.batchesWritten;
    this.inserted += base.inserted;
    this.upserted += base.upserted;
    this.matched += base.matched;
    this.modified += base.modified;
    for (const f of failures) if (this.failures.length < this.#keep) this.failures.push(f);
    this.#baseRows = base.rowsRead;
  }

  /** Records a failure; returns true when it was kept in `failures`. */
  fail(failure: RowFailure): boolean {
    this.rowsRead++;
    this.rowsFailed++;
    if (this.failures.length < this.#keep) {
      this.failures.push(failure);
      return true;
    }
    return false;
  }

  skip(): void {
    this.rowsRead++;
    this.rowsSkipped++;
  }

  /** Adds an acknowledged batch; its failures go through `fail` separately. */
  written(result: WriteResult): void {
    this.rowsRead += result.written;
    this.rowsWritten += result.written;
    this.batchesWritten++;
    this.inserted += result.inserted;
    this.upserted += result.upserted;
    this.matched += result.matched;
    this.modified += result.modified;
  }

  memory(heapUsedBytes: number, rssBytes: number): void {
    this.heapUsedBytes = heapUsedBytes;
    this.rssBytes = rssBytes;
    if (heapUsedBytes > this.peakHeapUsedBytes) this.peakHeapUsedBytes = heapUsedBytes;
    if (rssBytes > this.peakRssBytes) this.peakRssBytes = rssBytes;
  }

  end(state: Exclude<IngestState, 'running'>, now = performance.now()): void {
    this.state = state;
    this.#endedAt = now;
  }

  snapshot(now = performance.now()): IngestSnapshot {
    const elapsedMs = Math.round((this.#endedAt ?? now) - this.#startedAt);
    return {
      id: this.id,
      state: this.state,
      rowsRead: this.rowsRead,
      rowsWritten: this.rowsWritten,
      rowsFailed: this.rowsFailed,
      rowsSkipped: this.rowsSkipped,
      bytesRead: this.bytesRead,
      bytesAcknowledged: this.bytesAcknowledged,
      ...(this.durable ? { durable: { ...this.durable } } : {}),
      batchesWritten: this.batchesWritten,
      inserted: this.inserted,
      upserted: this.upserted,
      matched: this.matched,
      modified: this.modified,
      elapsedMs,
      rowsPerSecond: elapsedMs > 0 ? Math.round(((this.rowsRead - this.#baseRows) * 1000) / elapsedMs) : 0,
      heapUsedBytes: this.heapUsedBytes,
      rssBytes: this.rssBytes,
    };
  }

  report(error?: { code: string; message: string }): IngestReport {
    return {
      ...this.snapshot(),
      // Stages find failures in different orders (parser before mapper, batches acknowledged
      // out of order); the report lists them by line.
      failures: [...this.failures].sort((a, b) => a.line - b.line),
      failuresTruncated: this.rowsFailed > this.failures.length,
      peakHeapUsedBytes: this.peakHeapUsedBytes,
      peakRssBytes: this.peakRssBytes,
      ...(error ? { error } : {}),
    };
  }
}
