import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createBulkSink, IngestErrorCode, type Batch, type BatchWriter, type WriteResult } from '../src/index.js';

const ok = (batch: Batch): WriteResult => ({ written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] });
const batchOf = (seq: number, keys: string[] = []): Batch => ({
  seq,
  bytes: 10,
  items: (keys.length ? keys : ['x']).map((k, i) => ({ line: seq * 10 + i + 2, document: { k }, bytes: 10 })),
});
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

class TrackingWriter implements BatchWriter {
  inFlight = 0;
  maxInFlight = 0;
  order: number[] = [];
  keysOf?: (batch: Batch) => Set<string>;
  constructor(private readonly delay: (batch: Batch) => number = () => 2) {}
  async write(batch: Batch): Promise<WriteResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await tick(this.delay(batch));
    this.inFlight--;
    this.order.push(batch.seq);
    return ok(batch);
  }
}

describe('createBulkSink', () => {
  it('never has more than `concurrency` batches in flight, and acknowledges every batch', async () => {
    for (const concurrency of [1, 3]) {
      const writer = new TrackingWriter();
      const sink = createBulkSink(writer, { concurrency });
      const written: number[] = [];
      sink.on('batchWritten', (_r: WriteResult, b: Batch) => written.push(b.seq));
      await pipeline(Readable.from(Array.from({ length: 20 }, (_, i) => batchOf(i))), sink);
      expect(writer.maxInFlight).toBe(concurrency);
      expect(written.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
  });

  it('does not accept the next batch until a slot frees (backpressure)', async () => {
    let release!: () => void;
    const writer: BatchWriter = { write: (b) => new Promise((r) => (release = () => r(ok(b)))) };
    const sink = createBulkSink(writer, { concurrency: 1 });
    let accepted = 0;
    sink.write(batchOf(0), () => accepted++);
    await tick(5);
    expect(accepted).toBe(0);
    release();
    await tick(5);
    expect(accepted).toBe(1);
    sink.destroy();
  });

  it('retries transient errors and then succeeds', async () => {
    let calls = 0;
    const attempts: number[] = [];
    const writer: BatchWriter = {
      async write(b, { attempt }) {
        attempts.push(attempt);
        if (++calls < 3) throw Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
        return ok(b);
      },
    };
    const sink = createBulkSink(writer, { retry: { minDelayMs: 1, maxDelayMs: 2 } });
    const retries: number[] = [];
    sink.on('retry', (_e: unknown, _b: Batch, n: number) => retries.push(n));
    await pipeline(Readable.from([batchOf(0)]), sink);
    expect(attempts).toEqual([0, 1, 2]);
    expect(retries).toEqual([1, 2]);
  });

  it('ends with E_SINK on a non-transient error, without retrying', async () => {
    let calls = 0;
    const writer: BatchWriter = {
      async write() {
        calls++;
        throw Object.assign(new Error('not authorized'), { code: 13 });
      },
    };
    const sink = createBulkSink(writer, { retry: { minDelayMs: 1 } });
    const refused: Batch[] = [];
    sink.on('batchRefused', (_e: unknown, b: Batch) => refused.push(b));
    await expect(pipeline(Readable.from([batchOf(0), batchOf(1)]), sink)).rejects.toMatchObject({ code: IngestErrorCode.E_SINK });
    expect(calls).toBe(1);
    expect(refused.map((b) => b.seq)).toEqual([0]);
  });

  it('ends with E_SINK once the retry budget is spent', async () => {
    let calls = 0;
    const writer: BatchWriter = {
      async write() {
        calls++;
        throw Object.assign(new Error('down'), { name: 'MongoServerSelectionError' });
      },
    };
    const sink = createBulkSink(writer, { retry: { retries: 3, minDelayMs: 1, maxDelayMs: 1 } });
    await expect(pipeline(Readable.from([batchOf(0)]), sink)).rejects.toMatchObject({ code: IngestErrorCode.E_SINK, message: expect.stringMatching(/unreachable/) });
    expect(calls).toBe(4);
  });

  it('never runs two batches sharing a key at once, so a later row wins', async () => {
    // Batch 0 is slow and batch 1 fast: without the key check, 1 would land before 0.
    const unrelated = new TrackingWriter((b) => (b.seq === 0 ? 30 : 1));
    await pipeline(Readable.from([batchOf(0, ['a', 'b']), batchOf(1, ['z'])]), createBulkSink(unrelated, { concurrency: 3 }));
    expect(unrelated.order).toEqual([1, 0]);

    const writer = new TrackingWriter((b) => (b.seq === 0 ? 30 : 1));
    writer.keysOf = (b: Batch) => new Set(b.items.map((i) => String(i.document.k)));
    await pipeline(Readable.from([batchOf(0, ['a', 'b']), batchOf(1, ['c', 'a'])]), createBulkSink(writer, { concurrency: 3 }));
    expect(writer.order).toEqual([0, 1]);
  });

  it('on abort between retries, reports the batch as refused and possibly written (a failed attempt may have landed part of it)', async () => {
    const controller = new AbortController();
    const writer: BatchWriter = {
      async write() {
        setTimeout(() => controller.abort(), 5);
        throw Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
      },
    };
    const sink = createBulkSink(writer, { signal: controller.signal, retry: { minDelayMs: 1000, maxDelayMs: 1000 } });
    const refused: [unknown, Batch, boolean][] = [];
    sink.on('batchRefused', (e: unknown, b: Batch, transient: boolean) => refused.push([e, b, transient]));
    sink.on('error', () => {});
    sink.write(batchOf(0));
    await new Promise((r) => setTimeout(r, 20));
    await sink.whenIdle();
    expect(refused).toHaveLength(1);
    expect(refused[0]![0]).toMatchObject({ code: IngestErrorCode.E_ABORTED });
    expect(refused[0]![2]).toBe(true);
    sink.destroy();
  });

  it('reports every refused batch, not only the first', async () => {
    const writer: BatchWriter = {
      async write() {
        await tick(5);
        throw Object.assign(new Error('not authorized'), { code: 13 });
      },
    };
    const sink = createBulkSink(writer, { concurrency: 2 });
    const refused: number[] = [];
    sink.on('batchRefused', (_e: unknown, b: Batch) => refused.push(b.seq));
    await expect(pipeline(Readable.from([batchOf(0), batchOf(1)]), sink)).rejects.toMatchObject({ code: IngestErrorCode.E_SINK });
    expect(refused.sort()).toEqual([0, 1]);
  });

  it('on abort, stops retrying but keeps the result of the attempt in flight', async () => {
    const controller = new AbortController();
    const writer: BatchWriter = {
      async write(b) {
        controller.abort();
        await tick(5);
        return ok(b);
      },
    };
    const sink = createBulkSink(writer, { signal: controller.signal });
    const written: Batch[] = [];
    sink.on('batchWritten', (_r: WriteResult, b: Batch) => written.push(b));
    sink.write(batchOf(0));
    await sink.whenIdle();
    expect(written).toHaveLength(1);
    sink.destroy();
  });
});
