import type { Readable } from 'node:stream';
import { IngestError, IngestErrorCode } from '@anti-oom/core';

/**
 * Yields the chunks of `source`, failing with E_IDLE_TIMEOUT when fewer than `minBytes` arrive in
 * `ms` of waiting. Only time spent asking for data counts: when the database is the slow side the
 * import is not asking, and a paused upload is not an idle one. A byte floor rather than "any
 * byte" is what stops an upload that trickles a byte a second from holding its slot forever.
 * @internal
 */
export async function* idleGuard(source: Readable, ms: number, minBytes = 1): AsyncGenerator<Buffer> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // The current window: waiting time and bytes received in it.
  let waited = 0;
  let bytes = 0;
  const stalled = () =>
    new IngestError(
      IngestErrorCode.E_IDLE_TIMEOUT,
      bytes === 0
        ? `The upload sent nothing for ${ms} ms; it was stopped. Check the connection and upload again.`
        : `The upload sent only ${bytes} bytes in ${ms} ms (at least ${minBytes} are needed); it was stopped. Check the connection and upload again.`,
      { limit: ms },
    );
  try {
    for (;;) {
      const pending = chunks.next();
      let next: IteratorResult<Buffer> | undefined;
      while (next === undefined) {
        const started = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const windowEnds = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms - waited)));
        try {
          next = await Promise.race([pending, windowEnds]);
        } finally {
          clearTimeout(timer);
        }
        waited += performance.now() - started;
        if (next !== undefined && !next.done) bytes += next.value.length;
        if (next === undefined || waited >= ms) {
          // A full window of waiting has passed: it must have brought enough bytes.
          if (bytes < minBytes && !(next?.done ?? false)) throw stalled();
          waited = 0;
          bytes = 0;
        }
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Ends the source: on success a no-op, on error or abort it releases the upload stream.
    await chunks.return?.();
  }
}
