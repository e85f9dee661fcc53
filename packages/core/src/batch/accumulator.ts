import { numberOption } from '../options/number-option.js';
import type { Batch, LinedDocument } from '../types.js';

/** How documents are grouped into batches. */
export interface BatchOptions {
  /**
   * Most documents in one batch.
   * @defaultValue `1000`
   */
  size?: number;
  /**
   * Most approximate bytes in one batch; a batch closes before it would pass this.
   * @defaultValue `8388608` (8 MiB, well under MongoDB's 48 MB message limit)
   */
  maxBytes?: number;
  /**
   * Longest a partial batch waits for more documents when input is slow, in milliseconds.
   * `0` turns the timer off.
   * @defaultValue `1000`
   */
  maxWaitMs?: number;
}

/** @internal */
export interface NormalizedBatchOptions {
  size: number;
  maxBytes: number;
  maxWaitMs: number;
}

/** @internal */
export function normalizeBatchOptions(options: BatchOptions = {}): NormalizedBatchOptions {
  const check = (name: string, value: unknown, fallback: number, min: number): number => numberOption(`batch.${name}`, value, fallback, { min, integer: true });
  return {
    size: check('size', options.size, 1000, 1),
    maxBytes: check('maxBytes', options.maxBytes, 8 * 1024 * 1024, 1),
    maxWaitMs: check('maxWaitMs', options.maxWaitMs, 1000, 0),
  };
}

/**
 * Groups documents into batches by count and by bytes. No timers and no streams: the batcher
 * stream owns the clock.
 * @internal
 */
export class BatchAccumulator<T = Record<string, unknown>> {
  readonly #size: number;
  readonly #maxBytes: number;
  #items: LinedDocument<T>[] = [];
  #bytes = 0;
  #seq = 0;

  constructor(options: NormalizedBatchOptions) {
    this.#size = options.size;
    this.#maxBytes = options.maxBytes;
  }

  get pending(): number {
    return this.#items.length;
  }

  /**
   * Adds one document; returns the batches it closed: the open batch when this document would
   * push it past `maxBytes`, then this one if it fills a batch by count or by bytes on its own.
   */
  add(item: LinedDocument<T>, closed: Batch<T>[]): void {
    if (this.#items.length > 0 && this.#bytes + item.bytes > this.#maxBytes) closed.push(this.#close());
    this.#items.push(item);
    this.#bytes += item.bytes;
    if (this.#items.length >= this.#size || this.#bytes >= this.#maxBytes) closed.push(this.#close());
  }

  /** The open batch, if any, closed now. */
  flush(): Batch<T> | undefined {
    return this.#items.length > 0 ? this.#close() : undefined;
  }

  #close(): Batch<T> {
    const batch: Batch<T> = { seq: this.#seq++, items: this.#items, bytes: this.#bytes };
    this.#items = [];
    this.#bytes = 0;
    return batch;
  }
}
