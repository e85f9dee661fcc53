import type { Batch, BatchWriter } from '../types.js';

/**
 * Why a settled batch is emptied: a batch lives from the batcher until its acknowledgement, long
 * enough to be promoted to V8's old generation, where it is freed only by a full collection. Until
 * then its `items` still point at every row of the batch, and the young-generation collector, which
 * treats old objects as alive, copies those rows and then promotes them: on the 10-column file
 * through the driver, ~250 MB of rows promoted per 500,000 (every row) instead of ~10 MB, a quarter
 * of the CPU time spent collecting, and an old generation that grows with promoted rows.
 */

/** Writers known to keep nothing of a batch once its write settled. */
const forgetful = new WeakSet<BatchWriter>();

/**
 * Marks `writer` as keeping nothing of a batch once its write settled (returned or gave up), so
 * whoever owns the batch may empty it afterwards. `mongoSink` marks its writers.
 * @internal
 */
export function markForgetful<W extends BatchWriter>(writer: W): W {
  forgetful.add(writer);
  return writer;
}

/**
 * Whether `writer` was marked by {@link markForgetful}. A writer of the user's may keep batches
 * and read them later (test doubles do), so theirs are never emptied.
 * @internal
 */
export function isForgetful(writer: BatchWriter): boolean {
  return forgetful.has(writer);
}

/**
 * Lets go of a settled batch's rows: empties `items` (the count and byte size stay). Call it last,
 * once everything that reads the items (accounting, failures, checkpoints) is done.
 * @internal
 */
export function releaseBatch(batch: Batch): void {
  batch.items.length = 0;
}
