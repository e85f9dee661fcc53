import { Readable } from 'node:stream';

/**
 * One Server-Sent Event. `data` is JSON, and JSON.stringify never emits a raw line break, so a
 * single `data:` line is always valid framing: a message containing "\n\ndata: " stays inside its
 * JSON string and cannot forge an event.
 */
export function formatSseEvent(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Headers of every SSE response. @internal */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  // nginx buffers responses by default, which would hold events back until the stream ends.
  'X-Accel-Buffering': 'no',
};

/** @internal */
export interface SseStreamOptions {
  progressIntervalMs: number;
  heartbeatMs: number;
  /** A fresh event id for a progress event, at the moment it is written. */
  nextEventId: () => number;
}

/**
 * The frames of one SSE response, as a Readable any framework can send (node:http pipes it, Fastify
 * sends it, the fetch handler wraps it in a pulling `ReadableStream`). It respects backpressure: when
 * `push()` says the consumer is full nothing more is pushed until it reads again; meanwhile
 * progress is coalesced to the latest snapshot, failures queue (they are capped upstream), and
 * `done` goes out last, then the stream ends. Ids strictly increase: a failure never waits behind
 * a progress event, and a progress event gets its id when it is written.
 * @internal
 */
export class SseStream extends Readable {
  readonly #options: SseStreamOptions;
  readonly #queue: { frame: string; id: number }[] = [];
  #latestProgress: unknown;
  #hasProgress = false;
  #done: { frame: string; id: number } | undefined;
  // Until the buffer is full, pushing is fine even before the consumer first reads.
  #wanted = true;
  #finished = false;
  #lastId = 0;
  #lastProgressAt = 0;
  #throttle: NodeJS.Timeout | undefined;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(options: SseStreamOptions) {
    super({ highWaterMark: 16 * 1024 });
    this.#options = options;
    this.push('retry: 2000\n\n');
    this.#heartbeat = setInterval(() => {
      if (this.#wanted && !this.#finished) this.#push(': heartbeat\n\n');
    }, options.heartbeatMs);
    this.#heartbeat.unref?.();
  }

  /** The latest counters; sent at most once per `progressIntervalMs`. */
  progress(snapshot: unknown): void {
    if (this.#finished || this.#done) return;
    this.#latestProgress = snapshot;
    this.#hasProgress = true;
    this.#flush();
  }

  rowFailure(failure: unknown, id: number): void {
    if (this.#finished || this.#done || id <= this.#lastQueuedId()) return;
    this.#queue.push({ frame: formatSseEvent('rowFailure', failure, id), id });
    this.#flush();
  }

  done(data: unknown, id: number): void {
    if (this.#finished || this.#done) return;
    this.#done = { frame: formatSseEvent('done', data, id), id };
    // The report supersedes any progress still waiting.
    this.#hasProgress = false;
    this.#flush();
  }

  /** Ends the stream now (shutdown). */
  finish(): void {
    if (this.#finished) return;
    this.#cleanup();
    this.push(null);
  }

  override _read(): void {
    this.#wanted = true;
    this.#flush();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#cleanup();
    callback(err);
  }

  #lastQueuedId(): number {
    return this.#queue.at(-1)?.id ?? this.#lastId;
  }

  #cleanup(): void {
    this.#finished = true;
    clearInterval(this.#heartbeat);
    if (this.#throttle) clearTimeout(this.#throttle);
    this.#throttle = undefined;
  }

  #push(frame: string): void {
    if (!this.push(frame)) this.#wanted = false;
  }

  #flush(): void {
    while (this.#wanted && !this.#finished && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      this.#lastId = next.id;
      this.#push(next.frame);
    }
    if (!this.#wanted || this.#finished || this.#queue.length > 0) return;
    if (this.#hasProgress) {
      const wait = this.#lastProgressAt + this.#options.progressIntervalMs - Date.now();
      if (wait <= 0) {
        this.#hasProgress = false;
        this.#lastProgressAt = Date.now();
        this.#lastId = this.#options.nextEventId();
        this.#push(formatSseEvent('progress', this.#latestProgress, this.#lastId));
      } else {
        this.#throttle ??= setTimeout(() => {
          this.#throttle = undefined;
          this.#flush();
        }, wait);
      }
    }
    if (!this.#wanted || this.#finished) return;
    if (this.#done && !this.#hasProgress) {
      this.#lastId = this.#done.id;
      this.push(this.#done.frame);
      this.finish();
    }
  }
}
