import { describe, expect, it } from 'vitest';
import { createIngestPipeline, type Batch, type BatchWriter, type WriteResult } from '../src/index.js';
import { expectBalanced, productCsv } from './helpers.js';

/**
 * What docs/memory.md promises: the rows held by an import are about `batch.size × (concurrency + 2)`,
 * whatever the size of the chunks the source hands over. Stage logic only (a fake writer slower than
 * the source); the real driver's share is measured by scripts/rss-compare.mjs.
 */
describe('memory bound', () => {
  it('a 10-column import from 1 MiB source chunks into a slow sink holds a few thousand rows and a few MB, not whole chunks of rows per stage', async () => {
    const ROWS = 200_000;
    const BATCH = 1000;
    const CONCURRENCY = 2;
    const gc = global.gc;
    if (!gc) throw new Error('run with --expose-gc (vitest.config.ts sets it)');

    // ~110 bytes a row, three quoted fields: the shape of the benchmark's 10-column file. About
    // 9,500 rows a chunk: before the bound, each stage buffered whole chunks of rows (40,000+ rows).
    const source = productCsv(ROWS, {
      chunkRows: 9500,
      header: 'sku,name,category,brand,price,cost,qty,weight,active,created\n',
      row: (i) => `SKU-${i},"steel oak, model ${i}",cat-${i % 40},"eco & co",${i % 1000}.25,${i % 500}.5,${i % 10000},${(i % 30) + 0.125},${i % 2 === 0},2021-03-04T05:06:07.${String(i % 1000).padStart(3, '0')}Z\n`,
    });

    let mapped = 0;
    let written = 0;
    let maxHeld = 0;
    let peakRetained = 0;
    let writes = 0;
    let baseline = 0;
    const slow: BatchWriter = {
      async write(batch: Batch): Promise<WriteResult> {
        // Rows mapped and not yet acknowledged: what waits between the mapper and the database.
        maxHeld = Math.max(maxHeld, mapped - written);
        if (++writes % 25 === 0) {
          gc();
          peakRetained = Math.max(peakRetained, process.memoryUsage().heapUsed - baseline);
        }
        // Slower than parsing, so every buffer upstream is full whenever the sink is asked to write.
        await new Promise((r) => setTimeout(r, 2));
        written += batch.items.length;
        return { written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] };
      },
    };

    gc();
    baseline = process.memoryUsage().heapUsed;
    const pipeline = createIngestPipeline({
      sink: slow,
      batch: { size: BATCH },
      concurrency: CONCURRENCY,
      memory: false,
      map: (row) => {
        mapped++;
        return row;
      },
    });
    const report = await pipeline.run(source);

    expect(report.rowsWritten).toBe(ROWS);
    expectBalanced(report);
    // In flight, waiting at the sink, in the batcher, and one parsed piece (≤ 64 KiB, ~600 rows here)
    // on its way: ~5,000. Before the bound: ~28,000 with these chunks.
    expect(maxHeld).toBeLessThanOrEqual(BATCH * (CONCURRENCY + 2) + 2000);
    // Retained after a full GC, with generous room: ~5 MB here; ~45 MB before the bound.
    expect(peakRetained).toBeLessThan(16 * 1024 * 1024);
    console.log(`memory bound: at most ${maxHeld} rows mapped and not acknowledged; retained heap +${(peakRetained / 1048576).toFixed(1)} MB`);
  }, 120_000);
});
