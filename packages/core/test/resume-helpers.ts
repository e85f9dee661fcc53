import type { Collection } from 'mongodb';
import { expect } from 'vitest';
import {
  createIngestPipeline,
  fileSource,
  IngestErrorCode,
  isIngestError,
  mongoCheckpoints,
  type BatchWriter,
  type Checkpoint,
  type CheckpointStore,
  type IngestPipelineOptions,
  type IngestReport,
} from '../src/index.js';
import { expectBalanced } from './helpers.js';

/** A store that stops saving once frozen: what a process killed before its next checkpoint leaves. */
export function crashable(inner: CheckpointStore): CheckpointStore & { freeze(): void; saves: number; midFile: number } {
  let frozen = false;
  const store = {
    saves: 0,
    /** Checkpoints stored past the start of the file. */
    midFile: 0,
    freeze: () => void (frozen = true),
    load: (key: string) => inner.load(key),
    clear: (key: string) => inner.clear(key),
    async save(c: Checkpoint) {
      if (frozen) return;
      store.saves++;
      await inner.save(c);
      if (c.offset > 0) store.midFile++;
    },
  };
  return store;
}

export async function outcome(p: Promise<IngestReport>): Promise<{ report: IngestReport; code?: string }> {
  try {
    return { report: await p };
  } catch (err) {
    if (!isIngestError(err) || err.report === undefined) throw err;
    return { report: err.report, code: err.code };
  }
}

/**
 * Runs the import under `key` until it completes. Run i "crashes" once its `crashes[i]`-th batch
 * is acknowledged by the database (or the first one after, once a checkpoint past the start of
 * the file is stored, so every resume starts mid-file): the store stops saving before the pipeline hears of the
 * acknowledgement (a process killed between a write and its checkpoint), then the run is aborted;
 * batches in flight still land, as they would on a real crash.
 */
export async function crashAndResume(
  options: Omit<IngestPipelineOptions, 'resume'>,
  path: string,
  key: string,
  crashes: number[],
  checkpoints: Collection,
  onAck?: (run: number, acked: number) => void,
): Promise<{ report: IngestReport; runs: number }> {
  for (let run = 0; ; run++) {
    const store = crashable(mongoCheckpoints(checkpoints));
    const crashAt = crashes[run];
    let acked = 0;
    let crashed = false;
    const inner = options.sink!;
    const sink: BatchWriter = {
      ...inner,
      async write(batch, attempt) {
        // A few ms per batch, so checkpoints (one write at a time) keep up with a tiny test file.
        await new Promise((resolve) => setTimeout(resolve, 5));
        const result = await inner.write(batch, attempt);
        onAck?.(run, acked + 1);
        if (++acked >= crashAt! && !crashed && store.midFile > 0) {
          crashed = true;
          store.freeze();
          setImmediate(() => pipeline.abort('simulated crash'));
        }
        return result;
      },
    };
    const pipeline = createIngestPipeline({ ...options, sink, resume: { store, key, intervalMs: 0 } });
    const { report, code } = await outcome(pipeline.run(fileSource(path)));
    expectBalanced(report);
    if (code === undefined) return { report, runs: run + 1 };
    expect(code).toBe(IngestErrorCode.E_ABORTED);
  }
}

