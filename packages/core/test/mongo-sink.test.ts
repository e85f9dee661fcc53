import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { Long, MongoClient, type Collection, type CommandStartedEvent, type Db } from 'mongodb';
import { createIngestPipeline, mongoSink, RowFailureCode, type Batch, type IngestPipelineOptions } from '../src/index.js';
import { startAckServer } from '@anti-oom/testing/ack-server';
import { expectBalanced, openTestDb } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let n = 0;
const fresh = (): Collection => db.collection(`c${n++}`);

beforeAll(async () => {
  t = await openTestDb();
  db = t.db;
});
afterAll(() => t.close());

async function ingest(collection: Collection, csv: string, options: Partial<IngestPipelineOptions> & { sinkOptions?: Parameters<typeof mongoSink>[1] } = {}) {
  const { sinkOptions, ...rest } = options;
  const report = await createIngestPipeline({ sink: mongoSink(collection, sinkOptions), ...rest }).run([csv]);
  expectBalanced(report);
  return report;
}

const batchOf = (docs: Record<string, unknown>[]): Batch => ({
  seq: 0,
  bytes: 0,
  items: docs.map((document, i) => ({ line: i + 2, document, bytes: 10 })),
});

describe(`mongoSink against the real server`, () => {
  it('insert: a duplicate on a unique index fails that row at its line; the rest of the batch is written', async () => {
    const c = fresh();
    await c.createIndex({ sku: 1 }, { unique: true });
    const report = await ingest(c, 'sku,name\nA,first\nB,second\nA,again\nC,third\nB,again\n', { batch: { size: 2 } });
    expect(report).toMatchObject({ rowsRead: 5, rowsWritten: 3, rowsFailed: 2 });
    // Batches run concurrently, so failures arrive in acknowledgement order; compare by line.
    expect(report.failures.map((f) => [f.line, f.code]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [4, RowFailureCode.E_DUPLICATE_KEY],
      [6, RowFailureCode.E_DUPLICATE_KEY],
    ]);
    expect(await c.countDocuments()).toBe(3);
    expect((await c.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray()).map((d) => d.name)).toEqual(['first', 'second', 'third']);
  });

  it("a settled batch: the pipeline lets go of a mongoSink batch's rows once counted; a writer of the user's keeps its batches whole", async () => {
    const c = fresh();
    const writer = mongoSink(c);
    const seen: Batch[] = [];
    const write = writer.write;
    writer.write = (batch, attempt) => {
      seen.push(batch);
      return write(batch, attempt);
    };
    const csv = 'sku,name\nA,1\nB,2\nC,3\n';
    const report = await createIngestPipeline({ sink: writer, batch: { size: 2 } }).run([csv]);
    expect(report).toMatchObject({ rowsWritten: 3, batchesWritten: 2 });
    expect(await c.countDocuments()).toBe(3);
    expect(seen.map((b) => [b.items.length, b.bytes > 0])).toEqual([
      [0, true],
      [0, true],
    ]);

    const kept: Batch[] = [];
    const own = { write: async (batch: Batch) => (kept.push(batch), { written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] }) };
    await createIngestPipeline({ sink: own, batch: { size: 2 } }).run([csv]);
    expect(kept.map((b) => b.items.map((i) => i.document.sku))).toEqual([['A', 'B'], ['C']]);
  });

  it('insert: once a write settles, the array of documents the driver was given is empty, so whatever the driver still holds keeps no row alive', async () => {
    // The driver's connection pool can keep a spent checkout reachable, and with it the command
    // (see docs/memory.md); this is what keeps memory flat when it does.
    const own = db.client.db(db.databaseName);
    const c = own.collection(`c${n++}`);
    const sent: unknown[][] = [];
    const command = own.command.bind(own);
    vi.spyOn(own, 'command').mockImplementation((cmd, options) => {
      if (Array.isArray(cmd.documents)) sent.push(cmd.documents);
      return command(cmd, options);
    });
    const report = await ingest(c, 'sku,name\nA,1\nB,2\nC,3\nD,4\nE,5\n', { batch: { size: 2 } });
    expect(report).toMatchObject({ rowsWritten: 5, rowsFailed: 0 });
    expect(sent.map((documents) => documents.length)).toEqual([0, 0, 0]);
    expect((await c.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray()).map((d) => d.sku)).toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it('insert: a batch retried after a lost acknowledgement writes nothing twice', async () => {
    const c = fresh();
    const writer = mongoSink(c);
    const batch = batchOf([{ n: 1 }, { n: 2 }, { _id: 'given', n: 3 }]);
    const first = await writer.write(batch, { attempt: 0, signal: new AbortController().signal });
    expect(first.written).toBe(3);
    // The driver lost the acknowledgement and the sink retries the very same batch.
    const again = await writer.write(batch, { attempt: 1, signal: new AbortController().signal });
    expect(again).toMatchObject({ written: 3, failures: [] });
    expect(await c.countDocuments()).toBe(3);
  });

  it('insert: a retried row with an _id of its own, not first and holding a Long, is known as ours, not a duplicate', async () => {
    const c = fresh();
    const writer = mongoSink(c);
    const batch = batchOf([{ n: 1, big: Long.fromNumber(2 ** 40), _id: 'given' }, { n: 2 }]);
    const signal = new AbortController().signal;
    expect((await writer.write(batch, { attempt: 0, signal })).written).toBe(2);
    expect(await writer.write(batch, { attempt: 1, signal })).toMatchObject({ written: 2, failures: [] });
    expect(await c.countDocuments()).toBe(2);
  });

  it('insert: on a retry, a duplicate that is not our document is still a failure', async () => {
    const c = fresh();
    await c.insertOne({ _id: 'taken' as never, n: 'someone else' });
    const writer = mongoSink(c);
    const r = await writer.write(batchOf([{ _id: 'taken', n: 'ours' }, { n: 2 }]), { attempt: 1, signal: new AbortController().signal });
    expect(r.written).toBe(1);
    expect(r.failures).toMatchObject([{ line: 2, code: RowFailureCode.E_DUPLICATE_KEY }]);
  });

  it('insert: a batch goes to the server as one insert command carrying every row, with the write concern that applies', async () => {
    const client = new MongoClient(inject('mongoUri'), { monitorCommands: true });
    try {
      // Read when sent: the sink empties the array it sent once the write settles.
      const inserts: [number, unknown][] = [];
      client.on('commandStarted', (e: CommandStartedEvent) => e.commandName === 'insert' && inserts.push([e.command.documents.length, e.command.writeConcern]));
      const c = client.db(db.databaseName).collection(`c${n++}`, { writeConcern: { w: 1, wtimeoutMS: 5000 } });
      const bulk = vi.spyOn(c, 'initializeUnorderedBulkOp');
      const rows = (count: number) => Array.from({ length: count }, (_, i) => ({ sku: `sku-${i}`, name: `Product ${i}`, note: 'çà et là 😀' }));
      const signal = new AbortController().signal;
      // The collection's write concern, or the sink's when given: whole, never merged, as the driver does.
      expect(await mongoSink(c).write(batchOf(rows(1000)), { attempt: 0, signal })).toMatchObject({ written: 1000, inserted: 1000, failures: [] });
      expect(await mongoSink(c, { writeConcern: { w: 1 } }).write(batchOf(rows(10)), { attempt: 0, signal })).toMatchObject({ written: 10, failures: [] });
      expect(bulk).not.toHaveBeenCalled();
      expect(inserts).toEqual([
        [1000, { w: 1, wtimeout: 5000 }],
        [10, { w: 1 }],
      ]);
      expect(await c.countDocuments({ note: 'çà et là 😀' })).toBe(1010);
    } finally {
      await client.close();
    }
  });

  it('insert: a batch too large for one command (three rows of 6 MiB) goes through the bulk API, which splits it, and every row lands', async () => {
    const client = new MongoClient(inject('mongoUri'), { monitorCommands: true });
    try {
      let inserts = 0;
      client.on('commandStarted', (e) => e.commandName === 'insert' && inserts++);
      const c = client.db(db.databaseName).collection(`c${n++}`);
      const bulk = vi.spyOn(c, 'initializeUnorderedBulkOp');
      const big = 'x'.repeat(6 * 1024 * 1024);
      const report = await createIngestPipeline({ sink: mongoSink(c), csv: { maxRecordBytes: 8 * 1024 * 1024 }, batch: { maxBytes: 64 * 1024 * 1024 } }).run([
        `sku,blob\nA,${big}\n`,
        `B,${big}\n`,
        `C,${big}\n`,
      ]);
      expectBalanced(report);
      expect(report).toMatchObject({ rowsWritten: 3, rowsFailed: 0, batchesWritten: 1 });
      expect(bulk).toHaveBeenCalledTimes(1);
      expect(inserts).toBeGreaterThanOrEqual(2);
      expect(await c.countDocuments({ blob: big })).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('insert: a server that announces smaller batches than MongoDB (300 documents) gets batches it accepts', async () => {
    const server = await startAckServer({ limits: { maxWriteBatchSize: 300 } });
    const client = await MongoClient.connect(server.uri);
    try {
      const docs = Array.from({ length: 1000 }, (_, i) => ({ n: i }));
      const r = await mongoSink(client.db('small').collection('c')).write(batchOf(docs), { attempt: 0, signal: new AbortController().signal });
      expect(r).toMatchObject({ written: 1000, inserted: 1000, failures: [] });
      expect(server.counters()).toMatchObject({ inserted: 1000, writeCommands: 4 });
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('insert: unacknowledged writes (w: 0) go through the bulk API and land', async () => {
    // A client of its own: FerretDB answers some unacknowledged writes anyway, and a stray reply
    // would be read as the answer to the next command on the shared client's connection.
    const client = await MongoClient.connect(inject('mongoUri'));
    try {
      const c = client.db(db.databaseName).collection(`c${n++}`);
      const bulk = vi.spyOn(c, 'initializeUnorderedBulkOp');
      const r = await mongoSink(c, { writeConcern: { w: 0 } }).write(batchOf([{ n: 1 }, { n: 2 }, { n: 3 }]), { attempt: 0, signal: new AbortController().signal });
      expect(r).toMatchObject({ written: 3, failures: [] });
      expect(bulk).toHaveBeenCalledTimes(1);
    } finally {
      await client.close();
    }
    await vi.waitFor(async () => expect(await db.collection(`c${n - 1}`).countDocuments()).toBe(3), { timeout: 5000 });
  });

  it('upsert: the later row with the same key wins, within a batch and across concurrent batches', async () => {
    const c = fresh();
    const lines = ['sku,price'];
    for (let i = 0; i < 300; i++) lines.push(`k${i % 7},${i}`);
    const report = await ingest(c, `${lines.join('\n')}\n`, {
      sinkOptions: { mode: 'upsert', key: 'sku' },
      batch: { size: 10 },
      concurrency: 4,
      types: { price: 'int' },
    });
    expect(report).toMatchObject({ rowsWritten: 300, rowsFailed: 0 });
    const docs = await c.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray();
    const expected = Array.from({ length: 7 }, (_, k) => ({ sku: `k${k}`, price: 293 + ((k - 293 % 7 + 7) % 7) }));
    expect(docs).toEqual(expected.sort((a, b) => a.sku.localeCompare(b.sku)));
  });

  it('upsert: replaces the whole document, and re-running the same file changes nothing', async () => {
    const c = fresh();
    await c.insertOne({ sku: 'A', name: 'old', stale: true });
    const csv = 'sku,name\nA,new\nB,bee\n';
    const first = await ingest(c, csv, { sinkOptions: { mode: 'upsert', key: ['sku'] } });
    expect(first).toMatchObject({ rowsWritten: 2, matched: 1, upserted: 1 });
    expect(await c.findOne({ sku: 'A' }, { projection: { _id: 0 } })).toEqual({ sku: 'A', name: 'new' });
    const before = await c.find().sort({ sku: 1 }).toArray();
    const second = await ingest(c, csv, { sinkOptions: { mode: 'upsert', key: ['sku'] } });
    expect(second).toMatchObject({ rowsWritten: 2, matched: 2, upserted: 0 });
    // MongoDB reports an identical replacement as not modified; FerretDB counts it as modified.
    if (t.kind !== 'ferretdb') expect(second.modified).toBe(0);
    expect(await c.find().sort({ sku: 1 }).toArray()).toEqual(before);
  });

  it('upsert by _id: a hex column typed objectId is the document id; re-running replaces, never adds', async () => {
    const c = fresh();
    const ids = ['64b000000000000000000001', '64b000000000000000000002'];
    const options = { types: { _id: 'objectId' as const, price: 'number' as const }, sinkOptions: { mode: 'upsert' as const, key: '_id' } };
    await ingest(c, `_id,name,price\n${ids[0]},Apple,1\n${ids[1]},Bean,2\n`, options);
    const again = await ingest(c, `_id,name,price\n${ids[0]},Apricot,3\n`, options);
    expect(again).toMatchObject({ rowsWritten: 1, matched: 1 });
    const docs = await c.find().sort({ _id: 1 }).toArray();
    expect(docs.map((d) => [d._id.toHexString(), d['name'], d['price']])).toEqual([
      [ids[0], 'Apricot', 3],
      [ids[1], 'Bean', 2],
    ]);
  });

  it('merge: sets the row fields onto the matched document, later rows last; re-running changes nothing', async () => {
    const c = fresh();
    await c.insertOne({ sku: 'A', name: 'old', stock: 5 });
    const csv = 'sku,name,price\nA,new,1\nB,bee,2\nA,newer,3\n';
    const first = await ingest(c, csv, { sinkOptions: { mode: 'merge', key: 'sku' }, types: { price: 'int' } });
    expect(first).toMatchObject({ rowsWritten: 3, rowsFailed: 0 });
    expect(await c.findOne({ sku: 'A' }, { projection: { _id: 0 } })).toEqual({ sku: 'A', name: 'newer', stock: 5, price: 3 });
    expect(await c.findOne({ sku: 'B' }, { projection: { _id: 0 } })).toEqual({ sku: 'B', name: 'bee', price: 2 });
    const before = await c.find().sort({ sku: 1 }).toArray();
    const second = await ingest(c, csv, { sinkOptions: { mode: 'merge', key: 'sku' }, types: { price: 'int' } });
    expect(second.modified).toBe(0);
    expect(await c.find().sort({ sku: 1 }).toArray()).toEqual(before);
  });

  it.each(['upsert', 'merge'] as const)('%s: rows refused by another unique index fail alone, at their lines; the rest of the batch is written', async (mode) => {
    // FerretDB reports every error of an update batch at index 0 with zero counts; the sink must
    // still pin each refusal to its row.
    const c = fresh();
    await c.createIndex({ email: 1 }, { unique: true });
    const rows = Array.from({ length: 50 }, (_, i) => `s${i},${i === 9 || i === 29 ? 'e0' : `e${i}`}`);
    const report = await ingest(c, `sku,email\n${rows.join('\n')}\n`, { sinkOptions: { mode, key: 'sku' } });
    expect(report).toMatchObject({ rowsWritten: 48, rowsFailed: 2 });
    expect(report.failures.map((f) => [f.line, f.code])).toEqual([
      [11, RowFailureCode.E_DUPLICATE_KEY],
      [31, RowFailureCode.E_DUPLICATE_KEY],
    ]);
    expect(await c.countDocuments()).toBe(48);
    expect(await c.countDocuments({ sku: { $in: ['s9', 's29'] } })).toBe(0);
  });

  it('a row without its key is a failure E_KEY_MISSING, and nothing is written for it', async () => {
    const c = fresh();
    const report = await ingest(c, 'sku,name\nA,x\n,y\nC,z\n', { sinkOptions: { mode: 'upsert', key: 'sku' } });
    expect(report.failures).toMatchObject([{ line: 3, code: RowFailureCode.E_KEY_MISSING, column: 'sku' }]);
    expect(await c.countDocuments()).toBe(2);
  });

  it('a top-level "$" field from map is a row failure and never reaches the server as an operator', async () => {
    for (const mode of ['insert', 'upsert', 'merge'] as const) {
      const c = fresh();
      const report = await ingest(c, 'sku,v\nA,1\nB,2\n', {
        sinkOptions: { mode, key: 'sku' },
        map: (row) => (row.sku === 'B' ? { sku: 'B', $set: { hacked: true } } : row),
      });
      expect(report.failures).toMatchObject([{ line: 3, code: RowFailureCode.E_WRITE, column: '$set' }]);
      expect(await c.countDocuments({ hacked: true })).toBe(0);
      expect(await c.countDocuments()).toBe(1);
    }
  });

  it('ping fails fast when the server is unreachable', async () => {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient('mongodb://127.0.0.1:1/?directConnection=true', { serverSelectionTimeoutMS: 500 });
    const writer = mongoSink(client.db('x').collection('y'), { pingTimeoutMs: 500 });
    await expect(writer.ping!()).rejects.toThrow();
    await client.close();
  });

  it('rejects a keyed mode without a key', () => {
    expect(() => mongoSink(fresh(), { mode: 'upsert' })).toThrow(/key/);
    expect(() => mongoSink(fresh(), { mode: 'merge', key: '$x' })).toThrow(/key/);
  });
});
