import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { IngestError, IngestErrorCode, type IngestPipeline, type IngestReport, type IngestSnapshot, type RowFailure } from '@anti-oom/core';

/** Where an import stands, from creation to its end. */
export type ImportState = 'pending' | 'running' | 'done' | 'failed' | 'aborted';

/** A row failure with the SSE event id it was sent under. */
export interface NumberedFailure {
  eventId: number;
  failure: RowFailure;
}

/** Events of one import, as SSE streams relay them. @internal */
export interface ImportEvents {
  progress: [snapshot: IngestSnapshot, eventId: number];
  rowFailure: [failure: RowFailure, eventId: number];
  done: [report: IngestReport, eventId: number];
}

/**
 * One import and what watchers need of it: the latest counters, the first failures, the report.
 * Each import has its own emitter, so progress can only ever reach that import's watchers.
 * @internal
 */
export class ImportEntry extends EventEmitter<ImportEvents> {
  state: ImportState = 'pending';
  pipeline: IngestPipeline | undefined;
  snapshot: IngestSnapshot | undefined;
  report: IngestReport | undefined;
  readonly failures: NumberedFailure[] = [];
  failuresDropped = 0;
  endedAt: number | undefined;
  #eventId = 0;

  constructor(
    readonly id: string,
    readonly owner: string | undefined,
    readonly createdAt: number,
    private readonly maxFailureEvents: number,
  ) {
    super();
    // Any number of watchers may follow one import.
    this.setMaxListeners(0);
  }

  /** Id of the latest event, for `Last-Event-ID`. */
  get lastEventId(): number {
    return this.#eventId;
  }

  /** Binds a pipeline: its events become this import's events. */
  start(pipeline: IngestPipeline): void {
    this.state = 'running';
    this.pipeline = pipeline;
    this.snapshot = pipeline.snapshot();
    pipeline.on('progress', (snapshot) => {
      this.snapshot = snapshot;
      this.emit('progress', snapshot, ++this.#eventId);
    });
    pipeline.on('rowFailure', (failure) => {
      if (this.failures.length >= this.maxFailureEvents) {
        this.failuresDropped++;
        return;
      }
      const numbered = { eventId: ++this.#eventId, failure };
      this.failures.push(numbered);
      this.emit('rowFailure', failure, numbered.eventId);
    });
    pipeline.on('done', (report) => {
      this.state = report.state;
      this.report = report;
      this.snapshot = report;
      this.endedAt = Date.now();
      this.emit('done', report, ++this.#eventId);
    });
  }

  /** Ends an import that never started: watchers get `done` with an empty, aborted report. */
  cancelPending(): void {
    if (this.state !== 'pending') return;
    const report: IngestReport = {
      id: this.id,
      state: 'aborted',
      rowsRead: 0,
      rowsWritten: 0,
      rowsFailed: 0,
      rowsSkipped: 0,
      bytesRead: 0,
      bytesAcknowledged: 0,
      batchesWritten: 0,
      inserted: 0,
      upserted: 0,
      matched: 0,
      modified: 0,
      elapsedMs: 0,
      rowsPerSecond: 0,
      heapUsedBytes: 0,
      rssBytes: 0,
      failures: [],
      failuresTruncated: false,
      peakHeapUsedBytes: 0,
      peakRssBytes: 0,
      error: { code: 'E_ABORTED', message: 'The import was cancelled before its upload started.' },
    };
    this.state = 'aborted';
    this.report = report;
    this.snapshot = report;
    this.endedAt = Date.now();
    this.emit('done', report, ++this.#eventId);
  }

  /** What GET /:id answers. */
  status(): { id: string; state: ImportState; snapshot?: IngestSnapshot; report?: IngestReport } {
    if (this.report) return { id: this.id, state: this.state, report: this.report };
    if (this.snapshot) return { id: this.id, state: this.state, snapshot: this.snapshot };
    return { id: this.id, state: this.state };
  }
}

/** @internal */
export interface RegistryOptions {
  maxImports: number;
  keepEndedMs: number;
  pendingTimeoutMs: number;
  maxFailureEvents: number;
}

/**
 * The imports one handler knows, bounded in number and in time: ended imports are kept
 * `keepEndedMs`, imports waiting for their upload `pendingTimeoutMs`.
 * @internal
 */
export class ImportRegistry {
  readonly #entries = new Map<string, ImportEntry>();
  readonly #options: RegistryOptions;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: RegistryOptions) {
    this.#options = options;
    const every = Math.max(1000, Math.min(options.keepEndedMs, options.pendingTimeoutMs, 60_000));
    this.#sweeper = setInterval(() => this.sweep(), every).unref();
  }

  get size(): number {
    return this.#entries.size;
  }

  get running(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.state === 'running') n++;
    return n;
  }

  create(owner: string | undefined, now = Date.now()): ImportEntry {
    this.sweep(now);
    if (this.#entries.size >= this.#options.maxImports) this.#evictOldestEnded();
    if (this.#entries.size >= this.#options.maxImports) {
      throw new IngestError(IngestErrorCode.E_TOO_MANY_IMPORTS, 'The server keeps too many imports right now. Try again later.');
    }
    const entry = new ImportEntry(randomUUID(), owner, now, this.#options.maxFailureEvents);
    this.#entries.set(entry.id, entry);
    return entry;
  }

  get(id: string, now = Date.now()): ImportEntry | undefined {
    const entry = this.#entries.get(id);
    if (entry && this.#expired(entry, now)) {
      this.#forget(entry);
      return undefined;
    }
    return entry;
  }

  sweep(now = Date.now()): void {
    for (const entry of this.#entries.values()) if (this.#expired(entry, now)) this.#forget(entry);
  }

  /** Drops an expired import; one that never started first tells its watchers it is over. */
  #forget(entry: ImportEntry): void {
    entry.cancelPending();
    this.#entries.delete(entry.id);
  }

  /** Aborts every running import and waits until each has settled. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    const running = [...this.#entries.values()].filter((e) => e.state === 'running');
    await Promise.all(
      running.map(
        (e) =>
          new Promise<void>((resolve) => {
            e.once('done', () => resolve());
            e.pipeline?.abort('The server is shutting down.');
          }),
      ),
    );
  }

  #expired(entry: ImportEntry, now: number): boolean {
    if (entry.state === 'pending') return now - entry.createdAt > this.#options.pendingTimeoutMs;
    return entry.endedAt !== undefined && now - entry.endedAt > this.#options.keepEndedMs;
  }

  #evictOldestEnded(): void {
    let oldest: ImportEntry | undefined;
    for (const e of this.#entries.values()) {
      if (e.endedAt !== undefined && (oldest === undefined || e.endedAt < oldest.endedAt!)) oldest = e;
    }
    if (oldest) this.#entries.delete(oldest.id);
  }
}
