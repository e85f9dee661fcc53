import { Readable } from 'node:stream';
import type { Batch, BatchWriter, IngestReport, IngestSnapshot, WriteResult } from '../src/index.js';

export { openTestDb } from '@anti-oom/testing/test-db';

/** Every ending must account for every row. */
export function expectBalanced(s: IngestSnapshot | IngestReport): void {
  if (s.rowsRead !== s.rowsWritten + s.rowsFailed + s.rowsSkipped) {
    throw new Error(`unbalanced: read ${s.rowsRead} != written ${s.rowsWritten} + failed ${s.rowsFailed} + skipped ${s.rowsSkipped}`);
  }
}

/** A CSV of `rows` product rows, generated lazily in chunks so the test itself holds no file. */
export function productCsv(rows: number, options: { chunkRows?: number; header?: string; row?: (i: number) => string } = {}): Readable {
  const chunkRows = options.chunkRows ?? 1000;
  const row = options.row ?? ((i: number) => `sku-${i},Product ${i},${(i % 1000) / 10}\n`);
  let i = 0;
  let headerSent = false;
  return new Readable({
    read() {
      let out = '';
      if (!headerSent) {
        out += options.header ?? 'sku,name,price\n';
        headerSent = true;
      }
      const end = Math.min(rows, i + chunkRows);
      for (; i < end; i++) out += row(i);
      this.push(out);
      if (i >= rows) this.push(null);
    },
  });
}

/** Splits a buffer into chunks of `size` bytes, to replay input at every boundary. */
export function chunksOf(input: Buffer | string, size: number): Buffer[] {
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** An in-memory writer for stage logic only (batch boundaries, counters); never for MongoDB claims. */
export class MemoryWriter implements BatchWriter {
  readonly batches: Batch[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly delayMs = 0) {}
  async write(batch: Batch): Promise<WriteResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      this.batches.push(batch);
      return { written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] };
    } finally {
      this.inFlight--;
    }
  }
  get documents(): Record<string, unknown>[] {
    return this.batches.flatMap((b) => b.items.map((i) => i.document));
  }
}
