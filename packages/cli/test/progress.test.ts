import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createIngestPipeline, fileSource, type BatchWriter } from '@anti-oom/core';
import { formatProgressLine } from '../src/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'anti-oom-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('progress on a slow sink', () => {
  it('the percentage is what the database acknowledged, while the reader runs far ahead', async () => {
    // Fixed-width rows, so the bytes of N rows are exact: 100 bytes each.
    const header = 'sku,pad\n';
    const rows = 20_000;
    let csv = header;
    for (let i = 0; i < rows; i++) csv += `${String(i).padStart(8, '0')},${'x'.repeat(90)}\n`;
    const path = join(dir, 'slow.csv');
    writeFileSync(path, csv);
    const size = Buffer.byteLength(csv);

    // A sink that takes 20 ms per batch of 500: the file is read long before it is written.
    const slow: BatchWriter = {
      async write(batch) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const n = batch.items.length;
        return { written: n, inserted: n, upserted: 0, matched: 0, modified: 0, failures: [] };
      },
    };
    const pipeline = createIngestPipeline({ sink: slow, batch: { size: 500 }, concurrency: 1, memory: false });
    const seen: { percent: string; written: number; readAhead: number }[] = [];
    pipeline.on('progress', (s) => {
      if (s.state !== 'running') return;
      const line = formatProgressLine(s, { bytesDone: s.bytesAcknowledged, size });
      seen.push({ percent: line.trim().split('%')[0]!, written: s.rowsWritten, readAhead: s.bytesRead - s.bytesAcknowledged });
    });
    await pipeline.run(fileSource(path));

    expect(seen.length).toBe(rows / 500);
    for (const p of seen) {
      // Exactly the acknowledged rows' share of the file, to the tenth of a percent shown.
      expect(p.percent).toBe((((header.length + p.written * 100) / size) * 100).toFixed(1));
    }
    // Bytes taken from the file ran ahead of what was written: the old measure would have said more.
    expect(Math.max(...seen.map((p) => p.readAhead))).toBeGreaterThan(100_000);
  });
});
