import type { ServerResponse } from 'node:http';

/**
 * One Server-Sent Event. `data` is JSON, and JSON.stringify never emits a raw line break, so a
 * single `data:` line is always valid framing: a message containing "\n\ndata: " stays inside its
 * JSON string and cannot forge an event.
 */
export function formatSseEvent(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** @internal */
export interface SseStreamOptions {
  progressIntervalMs: number;
  heartbeatMs: number;
}

/**
 * An SSE response that respects backpressure: when `res.write()` returns false nothing more is
 * written until `drain`; meanwhile progress is coalesced to the latest snapshot (only the newest
 * matters), failures queue (they are capped upstream), and `done` goes out last, then the stream ends.
 * @internal
 */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #options: SseStreamOptions;
  readonly #queue: string[] = [];
  #latestProgress: string | undefined;
  #done: string | undefined;
  #blocked = false;
  #closed = false;
  #lastProgressAt = 0;
  #throttle: NodeJS.Timeout | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #onClose: () => void;

  constructor(res: ServerResponse, options: SseStreamOptions, onClose: () => void) {
    this.#res = res;
    this.#options = options;
    this.#onClose = onClose;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx buffers responses by default, which would hold events back until the stream ends.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.#heartbeat = setInterval(() => this.#send(': heartbeat\n\n'), options.heartbeatMs);
    res.once('close', () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  progress(snapshot: unknown, id: number): void {
    if (this.#closed || this.#done) return;
    this.#latestProgress = formatSseEvent('progress', snapshot, id);
    const wait = this.#lastProgressAt + this.#options.progressIntervalMs - Date.now();
    if (wait <= 0) this.#flush();
    else this.#throttle ??= setTimeout(() => {
      this.#throttle = undefined;
      this.#flush();
    }, wait);
  }

  rowFailure(failure: unknown, id: number): void {
    if (this.#closed || this.#done) return;
    this.#queue.push(formatSseEvent('rowFailure', failure, id));
    this.#flush();
  }

  done(report: unknown, id: number): void {
    if (this.#closed || this.#done) return;
    this.#done = formatSseEvent('done', report, id);
    // The report supersedes any progress still waiting.
    this.#latestProgress = undefined;
    this.#flush();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    if (this.#throttle) clearTimeout(this.#throttle);
    if (!this.#res.writableEnded) this.#res.end();
    this.#onClose();
  }

  #send(frame: string): void {
    if (this.#closed || this.#blocked) return;
    if (!this.#res.write(frame)) {
      this.#blocked = true;
      this.#res.once('drain', () => {
        this.#blocked = false;
        this.#flush();
      });
    }
  }

  #flush(): void {
    while (!this.#blocked && !this.#closed && this.#queue.length > 0) this.#send(this.#queue.shift()!);
    if (this.#blocked || this.#closed) return;
    if (this.#latestProgress && !this.#throttle && Date.now() - this.#lastProgressAt >= this.#options.progressIntervalMs) {
      const frame = this.#latestProgress;
      this.#latestProgress = undefined;
      this.#lastProgressAt = Date.now();
      this.#send(frame);
    }
    if (this.#blocked || this.#closed) return;
    if (this.#done && this.#latestProgress === undefined) {
      this.#send(this.#done);
      this.close();
    }
  }
}
