import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { endedReport, IngestError, IngestErrorCode, type IngestPipeline, type IngestReport, type IngestSnapshot, type RowFailure } from '@anti-oom/core';

/** Where an import stands, from creation to its end. `queued` (queue mode only): its file is stored and its job waits for a worker. */
export type ImportState = 'pending' | 'queued' | 'running' | 'done' | 'failed' | 'aborted';

/** A row failure with the SSE event id it was sent under. @internal */
export interface NumberedFailure {
  eventId: number;
  failure: RowFailure;
}

/** Events of one import, as SSE streams relay them. @internal */
export interface ImportEvents {
  progress: [snapshot: IngestSnapshot];
  rowFailure: [failure: RowFailure, eventId: number];
  done: [report: IngestReport, eventId: number];
}

/**
 * One import and what watchers need of it: the latest counters, the first failures, the report.
 * Each import has its own emitter, so progress can only ever reach that import's watchers.
 *
 * Event ids come from one counter per import: a failure and the end take theirs when they happen
 * (so a reconnecting watcher can be sent exactly the failures it missed), a progress event takes a
 * fresh one when a stream writes it (a throttled snapshot goes out later than it was made, and must
 * not carry an id older than a failure already sent).
 * @internal
 */
export class ImportEntry extends EventEmitter<ImportEvents> {
  state: ImportState = 'pending';
  pipeline: IngestPipeline | undefined;
  snapshot: IngestSnapshot | undefined;
  report: IngestReport | undefined;
  /** Id of the `done` event, once the import has ended. */
  doneEventId: number | undefined;
  readonly failures: NumberedFailure[] = [];
  failuresDropped = 0;
  endedAt: number | undefined;
  /** An upload has started on this import (bytes are on their way): it is not evicted. */
  claimed = false;
  /** Open SSE streams on this import. */
  watchers = 0;
  #eventId = 0;

  constructor(
    readonly id: string,
    readonly owner: string | undefined,
    /** Who counts for quotas: the owner, else the client's address. */
    readonly quotaKey: string,
    readonly createdAt: number,
    private readonly maxFailureEvents: number,
  ) {
    super();
    // Watchers are capped by the handler, not here.
    this.setMaxListeners(0);
  }

  /** A new event id, greater than every id given so far. */
  nextEventId(): number {
    return ++this.#eventId;
  }

  /** Binds a pipeline: its events become this import's events. */
  start(pipeline: IngestPipeline): void {
    this.state = 'running';
    this.claimed = true;
    this.pipeline = pipeline;
    this.snapshot = pipeline.snapshot();
    pipeline.on('progress', (snapshot) => {
      this.snapshot = snapshot;
      this.emit('progress', snapshot);
    });
    pipeline.on('rowFailure', (failure) => {
      if (this.failures.length >= this.maxFailureEvents) {
        this.failuresDropped++;
        return;
      }
      const numbered = { eventId: this.nextEventId(), failure };
      this.failures.push(numbered);
      this.emit('rowFailure', failure, numbered.eventId);
    });
    // A checkpoint is stored after the progress event of its batch: shown at once, so the status
    // says what the store holds even when the upload stalls and no further batch comes.
    pipeline.on('checkpoint', () => {
      if (this.report) return;
      this.snapshot = pipeline.snapshot();
      this.emit('progress', this.snapshot);
    });
    pipeline.on('done', (report) => this.#end(report));
  }

  /** Ends an import that never started: watchers get `done` with an empty, aborted report. */
  cancelPending(message = 'The import was cancelled before its upload started.'): void {
    if (this.state !== 'pending') return;
    this.#end(endedReport(this.id, 'aborted', { code: IngestErrorCode.E_ABORTED, message }));
  }

  #end(report: IngestReport): void {
    // The report says everything from now on; the pipeline (its stages and buffers) can go.
    this.pipeline = undefined;
    this.state = report.state as ImportState;
    this.report = report;
    this.snapshot = report;
    this.endedAt = Date.now();
    this.doneEventId = this.nextEventId();
    this.emit('done', report, this.doneEventId);
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
 * `keepEndedMs`, imports waiting for their upload `pendingTimeoutMs`. When it is full, the oldest
 * ended import makes room, then the oldest that never received a byte: creating imports and never
 * uploading cannot lock others out.
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

  /** Imports waiting for their upload, of one quota key. */
  pendingOf(quotaKey: string): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.state === 'pending' && !e.claimed && e.quotaKey === quotaKey) n++;
    return n;
  }

  create(owner: string | undefined, quotaKey = owner ?? '', now = Date.now()): ImportEntry {
    this.sweep(now);
    if (this.#entries.size >= this.#options.maxImports) this.#evictOldest((e) => e.endedAt !== undefined);
    if (this.#entries.size >= this.#options.maxImports) this.#evictOldest((e) => e.state === 'pending' && !e.claimed, 'The import was dropped before its upload started: the server needed room for newer imports.');
    if (this.#entries.size >= this.#options.maxImports) {
      throw new IngestError(IngestErrorCode.E_TOO_MANY_IMPORTS, 'The server keeps too many imports right now. Try again later.');
    }
    const entry = new ImportEntry(randomUUID(), owner, quotaKey, now, this.#options.maxFailureEvents);
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

  /** Drops an import; one that never started first tells its watchers it is over. */
  #forget(entry: ImportEntry, message?: string): void {
    entry.cancelPending(message);
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
    if (entry.state === 'pending') return !entry.claimed && now - entry.createdAt > this.#options.pendingTimeoutMs;
    return entry.endedAt !== undefined && now - entry.endedAt > this.#options.keepEndedMs;
  }

  /** Map order is creation order, so the first match is the oldest (ended ones: by end time). */
  #evictOldest(which: (e: ImportEntry) => boolean, message?: string): void {
    let oldest: ImportEntry | undefined;
    for (const e of this.#entries.values()) {
      if (!which(e)) continue;
      if (e.endedAt === undefined) {
        oldest = e;
        break;
      }
      if (oldest === undefined || e.endedAt < oldest.endedAt!) oldest = e;
    }
    if (oldest) this.#forget(oldest, message);
  }
}
