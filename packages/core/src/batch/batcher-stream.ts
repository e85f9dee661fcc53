import { Transform } from 'node:stream';
import type { Batch, LinedDocument } from '../types.js';
import { BatchAccumulator, normalizeBatchOptions, type BatchOptions } from './accumulator.js';
import { estimateSize } from './estimate-size.js';

/** Accepts a LinedDocument, or a bare document (line 0, size estimated). */
function toItem(value: unknown): LinedDocument {
  const v = value as Partial<LinedDocument>;
  if (v !== null && typeof v === 'object' && typeof v.line === 'number' && typeof v.bytes === 'number' && v.document !== undefined) {
    return v as LinedDocument;
  }
  return { line: 0, document: value as Record<string, unknown>, bytes: estimateSize(value) };
}

interface BatcherInternals {
  /**
   * Empty each array taken once its documents are in batches: set by the pipeline, whose arrays
   * come from its own mapper and are read by nobody else. A stream's buffer is a linked list whose
   * spent entries keep pointing at the next ones; an entry that reached the old generation keeps
   * the later arrays, and their rows, alive until a full collection (see sink/release.ts).
   */
  consumeArrays?: boolean;
}

/**
 * A Transform from documents to {@link Batch}es, closed by count (`size`), by approximate bytes
 * (`maxBytes`) or by time (`maxWaitMs` after the first document of a partial batch).
 *
 * Takes a document, a {@link LinedDocument}, or an array of either. Byte sizes come from the CSV
 * record each document was read from; bare documents get a shallow estimate, never a serialization.
 */
export function createBatcher(options: BatchOptions = {}): Transform {
  return batcher(options, {});
}

/**
 * {@link createBatcher} for the pipeline's own stages, which own the arrays they pass it.
 * @internal
 */
export function createConsumingBatcher(options: BatchOptions = {}): Transform {
  return batcher(options, { consumeArrays: true });
}

function batcher(options: BatchOptions, { consumeArrays = false }: BatcherInternals): Transform {
  const { maxWaitMs, ...limits } = normalizeBatchOptions(options);
  const acc = new BatchAccumulator({ ...limits, maxWaitMs });
  let timer: NodeJS.Timeout | undefined;
  const clearTimer = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const onTimer = (): void => {
    timer = undefined;
    const batch = acc.flush();
    if (batch !== undefined) stream.push(batch);
  };

  const stream = new Transform({
    objectMode: true,
    highWaterMark: 1,
    transform(chunk: unknown, _enc, callback) {
      const closed: Batch[] = [];
      if (Array.isArray(chunk)) {
        for (let i = 0; i < chunk.length; i++) acc.add(toItem(chunk[i]), closed);
        if (consumeArrays) chunk.length = 0;
      } else {
        acc.add(toItem(chunk), closed);
      }
      for (const batch of closed) stream.push(batch);
      // The wait counts from the first document of the open batch, so closing a batch resets it.
      if (acc.pending === 0 || closed.length > 0) clearTimer();
      if (acc.pending > 0 && maxWaitMs > 0 && timer === undefined) {
        // unref'd: a partial batch waiting for slow input must not keep the process alive by itself.
        timer = setTimeout(onTimer, maxWaitMs).unref();
      }
      callback();
    },
    flush(callback) {
      clearTimer();
      callback(null, acc.flush());
    },
    destroy(err, callback) {
      clearTimer();
      callback(err);
    },
  });
  return stream;
}
