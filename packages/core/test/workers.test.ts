import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db } from 'mongodb';
import { inject } from 'vitest';
import { createIngestPipeline, isIngestError, mongoSink, type IngestError, type IngestPipelineOptions, type IngestReport, type IngestSnapshot } from '../src/index.js';
import { chunksOf, expectBalanced, openTestDb } from './helpers.js';
import type { FixtureData } from './fixtures/workers-setup.js';

const fixture = fileURLToPath(new URL('./fixtures/workers-setup.ts', import.meta.url));

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let n = 0;
const fresh = (): Collection => db.collection(`w${n++}`);

beforeAll(async () => {
  t = await openTestDb();
  db = t.db;
});
afterAll(async () => {
  await t.close();
});

async function rejection(promise: Promise<unknown>): Promise<IngestError> {
  try {
    await promise;
  } catch (err) {
    if (isIngestError(err)) return err;
    throw err;
  }
  throw new Error('expected the import to fail');
}

/** The same map as the fixture's, for the one-thread run. */
const map = (row: Record<string, unknown>): Record<string, unknown> => {
  if (row.name === 'FAIL') throw new Error('refused by map');
  // FerretDB 1.24 drops the connection on a NaN; a price that is not a number stays text.
    const price = Number(row.price);
    return { ...row, price: Number.isNaN(price) ? row.price : price };
};

/**
 * A file with what can go wrong at a range edge: a BOM, CRLF and LF, quoted line breaks (CRLF,
 * CR, LF), doubled quotes, multi-byte characters at both ends of records, blank lines, and bad
 * rows of every kind the parser and the map find.
 */
function hostileCsv(rows: number): Buffer {
  const parts = ['\uFEFFsku,name,price\r\n'];
  for (let i = 0; i < rows; i++) {
    const k = i % 23;
    if (k === 3) parts.push(`é${i},"two\nlines 😀",${i}\n`);
    else if (k === 5) parts.push(`é${i},"cr\r\nlf ""quoted""",${i}\r\n`);
    else if (k === 7) parts.push(`é${i},only two\n`); // E_COLUMN_COUNT
    else if (k === 11) parts.push('\n'); // blank: skipped
    else if (k === 13) parts.push(`é${i},"bad"x,${i}\n`); // E_CSV_RECORD
    else if (k === 17) parts.push(`é${i},FAIL,${i}\n`); // E_MAP
    else if (k === 19) parts.push(`é${i},"lone\rcr",${i}\r`);
    else parts.push(`é${i},name ${i} ü,${i}😀\n`);
  }
  parts.push(`last,"no line end",1`);
  return Buffer.from(parts.join(''));
}

const STABLE = ['state', 'rowsRead', 'rowsWritten', 'rowsFailed', 'rowsSkipped', 'bytesRead', 'bytesAcknowledged', 'inserted', 'failures', 'failuresTruncated'] as const;
const stable = (r: IngestReport): Partial<IngestReport> => Object.fromEntries(STABLE.map((k) => [k, r[k]]));

async function contents(c: Collection): Promise<unknown[]> {
  return c.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray();
}

function workers(count: number, data: FixtureData, extra: { rangeBytes?: number } = {}): IngestPipelineOptions['workers'] {
  return { count, module: fixture, data, rangeBytes: extra.rangeBytes ?? 1024 };
}

describe('workers: the same import as one thread', () => {
  it('gives identical reports, failures with their lines, and collection contents for 1, 2 and 3 workers', async () => {
    const input = hostileCsv(1500);
    const one = fresh();
    const base = await createIngestPipeline({ sink: mongoSink(one), map, maxFailuresKept: 1000, memory: false }).run(chunksOf(input, 4096));
    expect(base.rowsFailed).toBeGreaterThan(150);
    expect(base.rowsSkipped).toBeGreaterThan(50);
    const expected = await contents(one);
    for (const count of [1, 2, 3]) {
      const c = fresh();
      // Odd chunk sizes put chunk edges inside multi-byte characters and CRLFs.
      const pipeline = createIngestPipeline({ workers: workers(count, { kind: 'mongo', uri: inject('mongoUri'), db: db.databaseName, collection: c.collectionName, failName: 'FAIL' }), maxFailuresKept: 1000, memory: false });
      const report = await pipeline.run(chunksOf(input, 997));
      expect(stable(report), `${count} workers`).toEqual(stable(base));
      expect(await contents(c), `${count} workers`).toEqual(expected);
    }
    // The whole file as one chunk: this thread still parses only the head and cuts many ranges.
    const c = fresh();
    const whole = createIngestPipeline({ workers: workers(3, { kind: 'mongo', uri: inject('mongoUri'), db: db.databaseName, collection: c.collectionName, failName: 'FAIL' }), maxFailuresKept: 1000, memory: false });
    expect(stable(await whole.run([input])), 'one chunk').toEqual(stable(base));
    expect(await contents(c)).toEqual(expected);
  });

  it('emits the header once, then progress snapshots that always balance, the last one done', async () => {
    const pipeline = createIngestPipeline({ workers: workers(2, { kind: 'ack' }), memory: false });
    const headers: (readonly string[])[] = [];
    const snapshots: IngestSnapshot[] = [];
    pipeline.on('header', (h) => headers.push(h));
    pipeline.on('progress', (s) => {
      expectBalanced(s);
      snapshots.push(s);
    });
    const report = await pipeline.run([hostileCsv(800)]);
    expect(headers).toEqual([['sku', 'name', 'price']]);
    expect(snapshots.length).toBeGreaterThan(2);
    expect(snapshots.at(-1)).toMatchObject({ state: 'done', rowsRead: report.rowsRead });
    // Settled in file order: bytesAcknowledged never goes back.
    const acked = snapshots.map((s) => s.bytesAcknowledged);
    expect([...acked].sort((a, b) => a - b)).toEqual(acked);
  });

  it('fails a bad header, and a file that is not CSV, before any worker reads a row', async () => {
    const bad = await rejection(createIngestPipeline({ workers: workers(2, { kind: 'ack' }) }).run(['sku,$set\n1,2\n']));
    expect(bad.code).toBe('E_HEADER_INVALID');
    expect(bad.report).toMatchObject({ rowsRead: 0 });
    const binary = await rejection(createIngestPipeline({ workers: workers(2, { kind: 'ack' }) }).run([Buffer.from('PK\u0003\u0004 a zip file, not csv')]));
    expect(binary.code).toBe('E_CSV_MALFORMED');
  });

  it('reads a file that is only a header, or has one row without a line end', async () => {
    const empty = await createIngestPipeline({ workers: workers(2, { kind: 'ack' }) }).run(['sku,name,price\n']);
    expect(empty).toMatchObject({ state: 'done', rowsRead: 0 });
    const one = await createIngestPipeline({ workers: workers(2, { kind: 'ack' }) }).run(['sku,name,price\n1,a,2']);
    expect(one).toMatchObject({ state: 'done', rowsRead: 1, rowsWritten: 1 });
  });
});

describe('workers: stopping', () => {
  const many = (rows: number, bad = 0): string => 'sku,name,price\n' + Array.from({ length: rows }, (_, i) => (bad > 0 && i % bad === 0 ? `b${i},broken\n` : `s${i},name ${i},${i}\n`)).join('');

  it('stops every worker on abort, settles what was in flight, and still reports balanced counts', async () => {
    const controller = new AbortController();
    const pipeline = createIngestPipeline({ workers: workers(2, { kind: 'ack', delayMs: 20 }, { rangeBytes: 4096 }), signal: controller.signal, memory: false });
    pipeline.once('progress', () => controller.abort());
    const err = await rejection(pipeline.run(chunksOf(many(50_000), 65536)));
    expect(err.code).toBe('E_ABORTED');
    expectBalanced(err.report!);
    expect(err.report!.rowsWritten).toBeGreaterThan(0);
    expect(err.report!.rowsRead).toBeLessThan(50_000);
  });

  it('a batch the database refuses ends the import with E_SINK and stops every worker; its rows fail E_WRITE, the counts balance', async () => {
    const pipeline = createIngestPipeline({ workers: workers(2, { kind: 'ack', refuseLine: 5000 }, { rangeBytes: 4096 }), batch: { size: 100 }, memory: false });
    const err = await rejection(pipeline.run(chunksOf(many(20_000), 8192)));
    expect(err.code).toBe('E_SINK');
    expectBalanced(err.report!);
    const refused = err.report!.failures.filter((f) => f.code === 'E_WRITE');
    expect(refused.map((f) => f.line)).toContain(5000);
    expect(refused.length).toBeGreaterThanOrEqual(1);
  });

  it('a record over csv.maxRecordBytes inside a range ends the import with E_ROW_TOO_LARGE on its line, as with one thread', async () => {
    const input = 'sku,name,price\n' + Array.from({ length: 3000 }, (_, i) => (i === 2000 ? `big,${'x'.repeat(300)},1\n` : `s${i},n${i},${i}\n`)).join('');
    const one = await rejection(createIngestPipeline({ sink: { write: async (b) => ({ written: b.items.length, inserted: 0, upserted: 0, matched: 0, modified: 0, failures: [] }) }, csv: { maxRecordBytes: 200 } }).run([input]));
    const err = await rejection(createIngestPipeline({ workers: workers(2, { kind: 'ack' }), csv: { maxRecordBytes: 200 } }).run(chunksOf(input, 65536)));
    expect(err.code).toBe('E_ROW_TOO_LARGE');
    expect(err.message).toBe(one.message);
    expect(err.context.line).toBe(2002);
    expectBalanced(err.report!);
  });

  it('maxFailures: stops at exactly maxFailures + 1 failed rows, however many workers find failures at once', async () => {
    for (const count of [1, 2, 3]) {
      for (let run = 0; run < 3; run++) {
        const pipeline = createIngestPipeline({ workers: workers(count, { kind: 'ack' }, { rangeBytes: 2048 }), maxFailures: 5, memory: false });
        const err = await rejection(pipeline.run(chunksOf(many(20_000, 7), 8192)));
        expect(err.code).toBe('E_TOO_MANY_FAILURES');
        expect(err.report!.rowsFailed, `${count} workers`).toBe(6);
        expectBalanced(err.report!);
      }
    }
  });

  it('keeps memory bounded under a slow sink: the source waits, rows ahead of the sink stay under a fixed bound', async () => {
    const ROWS = 300_000;
    let generated = 0;
    let maxAhead = 0;
    const source = new Readable({
      read() {
        let chunk = generated === 0 ? 'sku,name,price\n' : '';
        const end = Math.min(ROWS, generated + 500);
        for (; generated < end; generated++) chunk += `sku-${generated},Product ${generated},${generated % 997}\n`;
        this.push(chunk);
        if (generated >= ROWS) this.push(null);
      },
    });
    const rangeBytes = 16384;
    const pipeline = createIngestPipeline({ workers: workers(2, { kind: 'ack', delayMs: 2 }, { rangeBytes }), batch: { size: 200 }, memory: false });
    // Every row generated and not yet settled is held somewhere: in this thread, a worker's queue,
    // a stage's buffer or a batch in flight.
    pipeline.on('progress', (s) => (maxAhead = Math.max(maxAhead, generated - s.rowsRead)));
    const report = await pipeline.run(source);
    expect(report.rowsWritten).toBe(ROWS);
    // Per worker: two ranges waiting (~550 rows each), one range's rows in each of the stages'
    // small buffers (about ten ranges in all), the batches; here, the range being cut and the
    // source's buffers. Measured: about 24,000 rows with 2 workers, whatever ROWS is.
    expect(maxAhead).toBeLessThan(40_000);
    console.log(`workers backpressure: at most ${maxAhead} rows ahead of the sink, of ${ROWS}`);
  });
});

describe('workers: options', () => {
  it('refuses what workers cannot do exactly, naming the option', () => {
    const w = workers(2, { kind: 'ack' });
    const code = (o: Partial<IngestPipelineOptions>): string | undefined => {
      try {
        createIngestPipeline({ workers: w, ...o } as IngestPipelineOptions);
      } catch (err) {
        return isIngestError(err) ? `${err.code} ${String(err.context.option)}` : 'not an IngestError';
      }
      return undefined;
    };
    expect(code({ map })).toBe('E_OPTIONS map');
    expect(code({ types: 'infer' })).toBe('E_OPTIONS types');
    expect(code({ csv: { encoding: 'utf-16le' } })).toBe('E_OPTIONS csv.encoding');
    expect(code({ csv: { trim: true } })).toBe('E_OPTIONS csv');
    expect(code({ sink: { write: async () => ({ written: 0, inserted: 0, upserted: 0, matched: 0, modified: 0, failures: [] }) } })).toBe('E_OPTIONS sink');
    expect(code({ workers: { count: 2, mongo: { uri: 'mongodb://x', db: 'd', collection: 'c', mode: 'upsert', key: 'sku' } } })).toBe('E_OPTIONS workers.mongo.mode');
    expect(code({ workers: { count: 0, module: fixture } })).toBe('E_OPTIONS workers.count');
  });

  it('upsert with one worker keeps "later row wins"', async () => {
    const c = fresh();
    await c.createIndex({ sku: 1 }, { unique: true });
    const pipeline = createIngestPipeline({ workers: { count: 1, mongo: { uri: inject('mongoUri'), db: db.databaseName, collection: c.collectionName, mode: 'upsert', key: 'sku' }, rangeBytes: 1024 } });
    const rows = Array.from({ length: 3000 }, (_, i) => `k${i % 10},v${i}\n`).join('');
    await pipeline.run(['sku,v\n' + rows]);
    const docs = await c.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray();
    expect(docs).toEqual(Array.from({ length: 10 }, (_, k) => ({ sku: `k${k}`, v: `v${2990 + k}` })));
  });

  it('refuses a UTF-16 file found by encoding auto, before writing anything', async () => {
    const input = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('sku,name\n1,a\n', 'utf16le')]);
    const err = await rejection(createIngestPipeline({ workers: workers(2, { kind: 'ack' }), csv: { encoding: 'auto' } }).run([input]));
    expect(err.code).toBe('E_OPTIONS');
    expect(err.message).toMatch(/utf-16le/);
    expect(err.report).toMatchObject({ rowsRead: 0 });
  });
});
