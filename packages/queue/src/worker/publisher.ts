import type { IngestSnapshot, RowFailure } from '@anti-oom/core';
import type { ImportStore } from '../state/import-store.js';

/**
 * Relays one running import's events to Redis without holding the import up, in bounded memory:
 * at most one write in flight; snapshots coalesce to the latest; failures wait in order, at most
 * `maxQueued` of them (the rest are counted by the report, as failures past the cap always are).
 * `onCancel` runs when a snapshot write finds the import's cancel flag set.
 * @internal
 */
export class Publisher {
  #snapshot: IngestSnapshot | undefined;
  readonly #failures: RowFailure[] = [];
  #running: Promise<void> | undefined;
  #failed = 0;

  constructor(
    private readonly store: ImportStore,
    private readonly id: string,
    private readonly maxQueued: number,
    private readonly onCancel: () => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  snapshot(snapshot: IngestSnapshot): void {
    this.#snapshot = snapshot;
    this.#kick();
  }

  failure(failure: RowFailure): void {
    if (this.#failures.length >= this.maxQueued) return;
    this.#failures.push(failure);
    this.#kick();
  }

  /** Resolves once everything handed in so far is written (or given up). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  #kick(): void {
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  async #drain(): Promise<void> {
    for (;;) {
      try {
        const failure = this.#failures.shift();
        if (failure !== undefined) {
          await this.store.failure(this.id, failure);
          continue;
        }
        const snapshot = this.#snapshot;
        if (snapshot === undefined) return;
        this.#snapshot = undefined;
        if ((await this.store.snapshot(this.id, snapshot)) === true) this.onCancel();
      } catch (err) {
        // Progress is advisory: a lost write costs a watcher one update, never a row. The next
        // snapshot supersedes it; the report at the end is what counts.
        if (this.#failed++ === 0) this.onError(err);
      }
    }
  }
}
