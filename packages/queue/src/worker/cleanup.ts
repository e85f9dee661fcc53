import type { Redis } from 'ioredis';
import type { IngestLogger } from '@anti-oom/core';
import type { UploadStorage } from '../storage/types.js';

/** @internal */
export interface CleanupOptions {
  prefix: string;
  keepFilesMs: number;
  incompleteUploadTtlMs: number;
  sweepIntervalMs: number;
  logger: IngestLogger | undefined;
}

/**
 * Deletes stored files: at once when an import ends, or after `keepFilesMs` (a sorted set
 * `{prefix}:files` of ids scored by when they go, swept by every worker: `ZREM` decides which
 * one deletes); and uploads never completed, once older than `incompleteUploadTtlMs`.
 * @internal
 */
export class Cleanup {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly storage: UploadStorage,
    private readonly o: CleanupOptions,
  ) {}

  get #key(): string {
    return `${this.o.prefix}:files`;
  }

  /** The import `id` ended: its file goes now, or is kept for audit. */
  async ended(id: string, now = Date.now()): Promise<void> {
    if (this.o.keepFilesMs > 0) {
      await this.redis.zadd(this.#key, now + this.o.keepFilesMs, id);
      return;
    }
    await this.#delete(id);
  }

  start(): void {
    this.#timer = setInterval(() => void this.sweep(), this.o.sweepIntervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One pass: files whose audit time is over, then abandoned uploads. */
  sweep(now = Date.now()): Promise<void> {
    this.#sweeping ??= this.#sweep(now).finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweep(now: number): Promise<void> {
    try {
      const due = await this.redis.zrangebyscore(this.#key, '-inf', now, 'LIMIT', 0, 100);
      for (const id of due) if ((await this.redis.zrem(this.#key, id)) === 1) await this.#delete(id);
      const removed = await this.storage.deleteIncomplete(now - this.o.incompleteUploadTtlMs);
      if (removed > 0) this.o.logger?.info({ removed }, 'anti-oom worker: abandoned uploads deleted');
    } catch (err) {
      this.o.logger?.warn({ err }, 'anti-oom worker: the cleanup sweep failed; it runs again later');
    }
  }

  async #delete(id: string): Promise<void> {
    try {
      await this.storage.delete(id);
    } catch (err) {
      this.o.logger?.warn({ err, importId: id }, 'anti-oom worker: a stored file could not be deleted');
    }
  }
}
