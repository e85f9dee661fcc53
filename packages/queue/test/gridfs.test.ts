import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { openTestDb } from '@anti-oom/testing/test-db';
import { GridFSBucket, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridfsStorage } from '../src/storage/gridfs.js';
import { body, digest, expectedDigest, slice } from './bytes.js';
import { describeStorage } from './storage-suite.js';

const CHUNK = 16 * 1024;

describeStorage(
  'gridfsStorage',
  async () => {
    const t = await openTestDb('gridfs');
    return { storage: gridfsStorage(t.db, { chunkSize: CHUNK }), defaults: gridfsStorage(t.db, { bucketName: 'defaults' }), close: t.close };
  },
  { unit: CHUNK, memory: { size: 48 * 1024 * 1024, bound: 8 * 1024 * 1024 } },
);

describe('gridfsStorage', () => {
  let t: Awaited<ReturnType<typeof openTestDb>>;
  let db: Db;
  beforeAll(async () => {
    t = await openTestDb('gridfs');
    db = t.db;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('stores a completed upload as an ordinary GridFS file', async () => {
    const storage = gridfsStorage(db, { bucketName: 'csv', chunkSize: CHUNK });
    const id = randomUUID();
    await storage.create(id, { filename: 'orders.csv' });
    const size = 3 * CHUNK + 100;
    // Appends that end mid-chunk, so the partial last chunk is rewritten.
    for (const [from, to] of [[0, CHUNK / 2], [CHUNK / 2, 2 * CHUNK + 1], [2 * CHUNK + 1, size]] as const) await storage.append(id, from, body(12, from, to, 3000));
    await storage.complete(id);

    const bucket = new GridFSBucket(db, { bucketName: 'csv' });
    const [file] = await bucket.find({ _id: id as never }).toArray();
    expect(file).toMatchObject({ length: size, chunkSize: CHUNK, filename: 'orders.csv' });
    expect(await db.collection('csv.chunks').countDocuments({ files_id: id })).toBe(4);
    expect(await digest(bucket.openDownloadStream(id as never))).toEqual(expectedDigest(12, 0, size));
    expect(await digest(bucket.openDownloadStream(id as never, { start: CHUNK + 5, end: size }))).toEqual(expectedDigest(12, CHUNK + 5, size));
    // And what the storage hands a worker reads the same bytes.
    expect(await digest((await storage.source(id)).open(CHUNK + 5))).toEqual(expectedDigest(12, CHUNK + 5, size));
  });

  it('completes an upload into a readable GridFS file past bytes a crashed append left beyond its length', async () => {
    const storage = gridfsStorage(db, { chunkSize: CHUNK });
    const id = randomUUID();
    await storage.create(id, {});
    await storage.append(id, 0, body(13, 0, CHUNK + 10));
    // An app instance that died between storing chunks and recording the new length: the last
    // chunk rewritten longer, and one more after it.
    await db.collection('antiOomUploads.chunks').updateOne({ files_id: id, n: 1 }, { $set: { data: Buffer.concat([slice(13, CHUNK, CHUNK + 10), slice(99, 0, 50)]) } });
    await db.collection('antiOomUploads.chunks').insertOne({ files_id: id, n: 2, data: slice(99, 0, 10) });
    await storage.complete(id);
    expect(await digest((await storage.source(id)).open(0))).toEqual(expectedDigest(13, 0, CHUNK + 10));
  });

  it('lets another append take over an upload whose writer died, once its lease has expired', async () => {
    const storage = gridfsStorage(db, { chunkSize: CHUNK, leaseMs: 200 });
    const id = randomUUID();
    await storage.create(id, {});
    // A writer that never finishes: its claim stays until the lease runs out.
    const stuck = new Readable({ read() {} });
    const first = storage.append(id, 0, stuck).catch((err: { code?: string }) => err.code);
    await new Promise((r) => setTimeout(r, 50));
    await expect(storage.append(id, 0, body(14, 0, 10))).rejects.toMatchObject({ code: 'E_CONFLICT' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await storage.append(id, 0, body(14, 0, 10))).toBe(10);
    // The old writer, woken up, finds it lost its claim and stores nothing.
    stuck.push(slice(1, 0, 100));
    stuck.push(null);
    expect(await first).toBe('E_CONFLICT');
    expect((await storage.stat(id))!.offset).toBe(10);
  });

  it('refuses options it cannot use, naming them', () => {
    expect(() => gridfsStorage(db, { bucketName: 'a.b' })).toThrow(/bucketName/);
    expect(() => gridfsStorage(db, { chunkSize: 0 })).toThrow(/chunkSize/);
    expect(() => gridfsStorage(db, { chunkSize: 16 * 1024 * 1024 })).toThrow(/chunkSize/);
    expect(() => gridfsStorage(db, { leaseMs: Number.NaN })).toThrow(/leaseMs/);
  });
});
