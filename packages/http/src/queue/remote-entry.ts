import { EventEmitter } from 'node:events';
import { endedReport, IngestErrorCode, type IngestReport, type IngestSnapshot } from '@anti-oom/core';
import type { ImportEvents, ImportState, NumberedFailure } from '../registry.js';
import type { ImportQueue, QueuedImportRecord } from './types.js';

/**
 * SSE event ids of a queued import. The queue numbers failures and `done` (1, 2, 3, ...) in
 * Redis, the same for every app instance; a progress event is numbered here, when a stream
 * writes it. A queue number `n` is the event id `n * STEP`, and progress events after it take
 * `n * STEP + 1`, `+ 2`, ...: ids strictly increase on every stream, and a watcher that comes
 * back with `Last-Event-ID: x` (to any instance) is sent exactly the failures numbered above `x / STEP`.
 * @internal
 */
export const STEP = 1_000_000;

/**
 * One queued import as the watchers on this app instance see it: the same face as an in-process
 * import (what `watch()` reads), fed by polling the queue every `intervalMs` while anyone watches.
 * Holds at most the failures the queue keeps (`maxFailureEvents`).
 * @internal
 */
export class RemoteEntry extends EventEmitter<ImportEvents> {
  state: ImportState = 'pending';
  owner: string | undefined;
  snapshot: IngestSnapshot | undefined;
  report: IngestReport | undefined;
  doneEventId: number | undefined;
  readonly failures: NumberedFailure[] = [];
  failuresDropped = 0;
  watchers = 0;
  #lastSeq = 0;
  #progressIds = 0;
  #snapshotKey = '';
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(
    readonly id: string,
    private readonly queue: ImportQueue,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** The watcher saw up to `eventId`: later progress ids go past it. */
  seen(eventId: number): void {
    const base = this.#lastSeq * STEP;
    if (eventId > base) this.#progressIds = Math.max(this.#progressIds, Math.min(eventId - base, STEP - 2));
  }

  nextEventId(): number {
    if (this.#progressIds < STEP - 1) this.#progressIds++;
    return this.#lastSeq * STEP + this.#progressIds;
  }

  /** Reads the queue once: false when the import is unknown. */
  async load(): Promise<boolean> {
    const view = await this.queue.view(this.id, this.#lastSeq);
    if (!view) {
      if (this.#lastSeq === 0 && this.doneEventId === undefined) return false;
      // Expired while watched: it is over for its watchers.
      if (this.doneEventId === undefined) this.#done(endedReport(this.id, 'aborted', { code: IngestErrorCode.E_ABORTED, message: 'The import expired.' }), this.#lastSeq + 1);
      return true;
    }
    this.#apply(view.record, view.events);
    return true;
  }

  /** Polls while watched. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      this.#polling ??= this.load()
        .then(() => undefined, this.onError)
        .finally(() => (this.#polling = undefined));
    }, this.intervalMs);
    this.#timer.unref?.();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #apply(record: QueuedImportRecord, events: { seq: number; kind: 'rowFailure' | 'done'; failure?: unknown; report?: IngestReport }[]): void {
    this.owner = record.owner;
    this.failuresDropped = record.failuresDropped;
    for (const e of events) {
      if (e.seq <= this.#lastSeq) continue;
      if (e.kind === 'rowFailure') {
        this.#lastSeq = e.seq;
        this.#progressIds = 0;
        const numbered = { eventId: e.seq * STEP, failure: e.failure as NumberedFailure['failure'] };
        this.failures.push(numbered);
        this.emit('rowFailure', numbered.failure, numbered.eventId);
      } else if (this.doneEventId === undefined) {
        this.#done(e.report!, e.seq);
      }
    }
    if (this.doneEventId !== undefined) return;
    this.state = record.state;
    const snapshot = record.snapshot;
    if (snapshot) {
      const key = `${snapshot.state}:${snapshot.rowsRead}:${snapshot.bytesRead}:${snapshot.bytesAcknowledged}:${snapshot.durable?.offset ?? ''}`;
      this.snapshot = snapshot;
      if (key !== this.#snapshotKey) {
        this.#snapshotKey = key;
        this.emit('progress', snapshot);
      }
    }
  }

  #done(report: IngestReport, seq: number): void {
    this.#lastSeq = seq;
    this.report = report;
    this.snapshot = report;
    this.state = report.state as ImportState;
    this.doneEventId = seq * STEP;
    this.emit('done', report, this.doneEventId);
    this.close();
  }
}
