import type { Readable } from 'node:stream';
import { IngestError, IngestErrorCode } from '@anti-oom/core';

/**
 * Yields the chunks of `source`, failing with E_IDLE_TIMEOUT when one takes longer than `ms` to
 * arrive. The clock runs only while the import is asking for data: when the database is the slow
 * side, the import is not asking, and a paused upload is not an idle one.
 * @internal
 */
export async function* idleGuard(source: Readable, ms: number): AsyncGenerator<Buffer> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new IngestError(IngestErrorCode.E_IDLE_TIMEOUT, `The upload sent nothing for ${ms} ms; it was stopped. Check the connection and upload again.`, { limit: ms })),
          ms,
        );
      });
      let next: IteratorResult<Buffer>;
      try {
        next = await Promise.race([chunks.next(), idle]);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Ends the source: on success a no-op, on error or abort it releases the upload stream.
    await chunks.return?.();
  }
}
