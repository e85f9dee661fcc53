import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it, vi } from 'vitest';
import { createBatcher, type Batch, type LinedDocument } from '../src/index.js';

async function collect(input: unknown[], options: Parameters<typeof createBatcher>[0]): Promise<Batch[]> {
  const out: Batch[] = [];
  await pipeline(
    Readable.from(input),
    createBatcher(options),
    new Writable({
      objectMode: true,
      write(b: Batch, _e, cb) {
        out.push(b);
        cb();
      },
    }),
  );
  return out;
}

const item = (line: number, bytes = 10): LinedDocument => ({ line, document: { line }, bytes });

describe('createBatcher', () => {
  it('closes batches by count and flushes the rest at the end', async () => {
    const batches = await collect(Array.from({ length: 25 }, (_, i) => item(i + 2)), { size: 10 });
    expect(batches.map((b) => b.items.length)).toEqual([10, 10, 5]);
    expect(batches.map((b) => b.seq)).toEqual([0, 1, 2]);
    expect(batches.flatMap((b) => b.items.map((i) => i.line))).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
  });

  it('closes a batch before it would pass maxBytes', async () => {
    const batches = await collect([item(2, 40), item(3, 40), item(4, 40), item(5, 200), item(6, 10)], { size: 100, maxBytes: 100 });
    expect(batches.map((b) => b.items.map((i) => i.line))).toEqual([[2, 3], [4], [5], [6]]);
    expect(batches.map((b) => b.bytes)).toEqual([80, 40, 200, 10]);
  });

  it('takes arrays and bare documents, estimating the size of bare ones', async () => {
    const batches = await collect([[item(2), item(3)], { name: 'bare' }], { size: 10 });
    expect(batches[0]!.items.map((i) => i.line)).toEqual([2, 3, 0]);
    expect(batches[0]!.items[2]!.bytes).toBeGreaterThan(0);
  });

  it('flushes a partial batch after maxWaitMs while input is stalled', async () => {
    const input = new PassThrough({ objectMode: true });
    const batcher = createBatcher({ size: 100, maxWaitMs: 20 });
    input.pipe(batcher);
    input.write(item(2));
    input.write(item(3));
    // No more input arrives; the two documents must not wait for the 100th.
    const first = await new Promise<Batch>((resolve) => batcher.once('data', resolve));
    expect(first.items.map((i) => i.line)).toEqual([2, 3]);
    input.end();
    batcher.destroy();
  });

  it('leaves no timer behind when destroyed with a partial batch', async () => {
    vi.useFakeTimers();
    try {
      const batcher = createBatcher({ size: 100, maxWaitMs: 60_000 });
      batcher.write(item(2));
      await vi.advanceTimersByTimeAsync(0);
      expect(vi.getTimerCount()).toBe(1);
      batcher.destroy();
      await vi.advanceTimersByTimeAsync(0);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects bad options, naming them', () => {
    expect(() => createBatcher({ size: 0 })).toThrow(/batch.size/);
    expect(() => createBatcher({ maxBytes: 1.5 })).toThrow(/batch.maxBytes/);
  });
});
