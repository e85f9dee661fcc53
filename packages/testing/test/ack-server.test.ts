// The acknowledge-only server: the official driver writes through it and gets the acknowledgements a
// real server on an empty collection gives, and the counters match what was sent. No database needed.
import { createConnection } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MongoClient, MongoServerError } from 'mongodb';
import { deserialize, serialize } from 'bson';
import { startAckServer, type AckServer } from '../src/ack-server.js';
import { OP_MSG, summarize } from '../src/ack-wire.js';

let server: AckServer;
let client: MongoClient;
beforeAll(async () => {
  server = await startAckServer();
  client = await MongoClient.connect(server.uri);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});
beforeEach(() => server.reset());

/** An OP_MSG request with one body section and, optionally, one document sequence. */
function opMsg(requestId: number, body: object, sequence?: { id: string; docs: object[] }, flags = 0): Buffer {
  const sections = [Buffer.from([0]), serialize(body)];
  if (sequence) {
    const docs = sequence.docs.map((d) => serialize(d));
    const id = Buffer.from(`${sequence.id}\0`, 'latin1');
    const size = Buffer.alloc(4);
    size.writeInt32LE(4 + id.length + docs.reduce((n, d) => n + d.length, 0));
    sections.push(Buffer.from([1]), size, id, ...docs);
  }
  const flagBits = Buffer.alloc(4);
  flagBits.writeUInt32LE(flags);
  const payload = Buffer.concat([flagBits, ...sections]);
  const head = Buffer.alloc(16);
  head.writeInt32LE(16 + payload.length, 0);
  head.writeInt32LE(requestId, 4);
  head.writeInt32LE(OP_MSG, 12);
  return Buffer.concat([head, payload]);
}

describe('acknowledge-only server', () => {
  it('acknowledges insertMany through the driver and counts every document', async () => {
    const docs = Array.from({ length: 2500 }, (_, i) => ({ i, name: `naïve café ${i}` }));
    const result = await client.db('bench').collection('items').insertMany(docs, { ordered: false });
    expect(result.insertedCount).toBe(2500);
    const c = server.counters();
    expect(c.inserted).toBe(2500);
    expect(c.commands.insert).toBeGreaterThanOrEqual(1);
    expect(c.unknown).toEqual({});
  });

  it('acknowledges bulkWrite as an empty collection would: upserts upserted, other updates and deletes match nothing', async () => {
    const result = await client.db('bench').collection('items').bulkWrite(
      [
        { insertOne: { document: { sku: 'a' } } },
        { replaceOne: { filter: { sku: 'b' }, replacement: { sku: 'b', v: 1 }, upsert: true } },
        { updateOne: { filter: { sku: 'c' }, update: { $set: { v: 2 } }, upsert: true } },
        { updateMany: { filter: { sku: 'd' }, update: { $set: { v: 3 } } } },
        { deleteOne: { filter: { sku: 'e' } } },
      ],
      { ordered: false },
    );
    expect([result.insertedCount, result.upsertedCount, result.matchedCount, result.modifiedCount, result.deletedCount]).toEqual([1, 2, 0, 0, 0]);
    expect(Object.keys(result.upsertedIds).sort()).toEqual(['1', '2']);
    expect(server.counters()).toMatchObject({ inserted: 1, updated: 3, upserted: 2, deleted: 1, writeCommands: 3 });
  });

  it('serves its counters over the wire and zeroes them on ackReset', async () => {
    await client.db('bench').collection('items').insertOne({ a: 1 });
    const stats = await client.db('admin').command({ ackStats: 1 });
    expect(stats).toMatchObject({ inserted: 1, ok: 1 });
    await client.db('admin').command({ ackReset: 1 });
    expect(server.counters().inserted).toBe(0);
  });

  it('answers a command it does not know with CommandNotFound and records its name', async () => {
    const err = await client.db('bench').command({ replSetGetStatus: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MongoServerError);
    expect((err as MongoServerError).codeName).toBe('CommandNotFound');
    expect(server.counters().unknown).toEqual({ replSetGetStatus: 1 });
  });

  it('counts unacknowledged (w: 0) writes through the driver', async () => {
    await client.db('bench').collection('items').insertMany([{ a: 1 }, { a: 2 }], { writeConcern: { w: 0 } });
    await client.db('admin').command({ ping: 1 });
    expect(server.counters().inserted).toBe(2);
  });

  it('reads a request that arrives one byte at a time, several requests in one write, and answers none with moreToCome', async () => {
    const socket = createConnection({ port: server.port, host: '127.0.0.1' });
    await once(socket, 'connect');
    const replies: Buffer[] = [];
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 4 && received.length >= received.readInt32LE(0)) {
        replies.push(received.subarray(0, received.readInt32LE(0)));
        received = received.subarray(received.readInt32LE(0));
      }
    });
    const first = opMsg(7, { insert: 'items', ordered: true, $db: 'bench' }, { id: 'documents', docs: [{ a: 1 }, { b: 'é' }, { c: [1, 2] }] });
    for (const byte of first) {
      socket.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    // Request 10 sets moreToCome (w: 0): counted, never answered; the ping after it is.
    const moreToCome = 2;
    socket.write(
      Buffer.concat([
        opMsg(8, { ping: 1, $db: 'admin' }),
        opMsg(9, { insert: 'items', documents: [{ a: 1 }, { a: 2 }], $db: 'bench' }),
        opMsg(10, { insert: 'items', $db: 'bench' }, { id: 'documents', docs: [{ a: 3 }] }, moreToCome),
        opMsg(11, { ping: 1, $db: 'admin' }),
      ]),
    );
    while (replies.length < 4) await once(socket, 'data');
    socket.destroy();
    expect(replies.map((r) => r.readInt32LE(8))).toEqual([7, 8, 9, 11]);
    expect(replies.map((r) => deserialize(r.subarray(21)))).toEqual([{ n: 3, ok: 1 }, { ok: 1 }, { n: 2, ok: 1 }, { ok: 1 }]);
    expect(server.counters().inserted).toBe(6);
  });

  it('reads upsert flags from statements in a document sequence and in the body', () => {
    const updates = [
      { q: { k: 1 }, u: { k: 1 }, upsert: true },
      { q: { k: 2 }, u: { $set: { v: 1 } } },
      { q: { k: 3 }, u: { k: 3 }, upsert: false, multi: false },
      { q: { k: 4 }, u: { k: 4 }, multi: false, upsert: true },
    ];
    const asSequence = opMsg(1, { update: 'items', $db: 'bench' }, { id: 'updates', docs: updates });
    const inBody = opMsg(2, { update: 'items', updates, $db: 'bench' });
    for (const bytes of [asSequence, inBody]) {
      expect(summarize({ requestId: 1, opCode: OP_MSG, body: bytes.subarray(16) })).toMatchObject({ name: 'update', db: 'bench', collection: 'items', count: 4, upserts: [0, 3], noReply: false });
    }
  });
});
