import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createIngestPipeline, type Batch, type BatchWriter, type WriteResult } from '../src/index.js';
import { expectBalanced } from './helpers.js';

/**
 * Stage logic only: the writer is a fake that is slower than the source. What is checked is our
 * pipeline's memory and flow control, not anything about MongoDB.
 */
describe('backpressure', () => {
  it('a fast 2M-row source into a slow sink: the source is paused and heap stays flat', async () => {
    const ROWS = 2_000_000;
    // Retained heap (measured after a full GC). The file as row objects would be several hundred MB.
    const HEAP_GROWTH_LIMIT = 32 * 1024 * 1024;
    const AHEAD_LIMIT = 100_000; // rows generated but not yet written, at any moment

    let generated = 0;
    let peak = 0;
    let written = 0;
    let maxAhead = 0;
    const source = new Readable({
      read() {
        let chunk = generated === 0 ? 'sku,name,price\n' : '';
        const end = Math.min(ROWS, generated + 2000);
        for (; generated < end; generated++) chunk += `sku-${generated},Product ${generated},${generated % 997}\n`;
        this.push(chunk);
        if (generated >= ROWS) this.push(null);
      },
    });
    const gc = global.gc;
    if (!gc) throw new Error('run with --expose-gc (vitest.config.ts sets it)');
    let batches = 0;
    const slow: BatchWriter = {
      async write(batch: Batch): Promise<WriteResult> {
        maxAhead = Math.max(maxAhead, generated - written);
        if (++batches % 100 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        }
        // Slower than parsing: each batch waits for the timer phase of the event loop.
        await new Promise((r) => setTimeout(r, 1));
        written += batch.items.length;
        return { written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] };
      },
    };

    gc();
    const baseline = process.memoryUsage().heapUsed;
    peak = baseline;
    const pipeline = createIngestPipeline({ sink: slow });
    const report = await pipeline.run(source);

    expect(report.rowsWritten).toBe(ROWS);
    expectBalanced(report);
    expect(maxAhead).toBeLessThan(AHEAD_LIMIT);
    expect(peak - baseline).toBeLessThan(HEAP_GROWTH_LIMIT);
    console.log(`backpressure: max rows ahead of the sink ${maxAhead}, heap growth ${Math.round((peak - baseline) / 1048576)} MB`);
  }, 120_000);
});
