import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { mongoSink } from '@anti-oom/core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createIngestHandler, type IngestHandlerOptions } from '../src/index.js';
import { csvRows, followEvents, listen, send } from './client.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
beforeAll(async () => {
  t = await openTestDb('shutdown');
  db = t.db;
});
afterAll(() => t.close());

/** A node:http server with the import routes at /imports; `close()` closes the handler too. */
async function serve(options: Omit<IngestHandlerOptions, 'prefix' | 'authorize'>) {
  const handler = createIngestHandler({ prefix: '/imports', authorize: () => true, ...options });
  const server = await listen(createServer(handler));
  return {
    handler,
    origin: server.origin,
    async close() {
      await handler.close();
      await server.close();
    },
  };
}

describe('graceful shutdown', () => {
  it('close() aborts running imports, answers their uploads, ends progress streams, and refuses new uploads', async () => {
    const collection = db.collection('c');
    const { handler, origin, close } = await serve({ pipeline: () => ({ sink: mongoSink(collection) }) });
    const { links } = (await send(`${origin}/imports`, {})).body;
    const watching = followEvents(origin + links.events);
    const uploading = send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: csvRows(200_000, { chunkRows: 500, delayMs: 5 }) });
    for (;;) {
      const s: any = await fetch(origin + links.status).then((r) => r.json());
      if (s.snapshot?.rowsWritten > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await handler.close();
    const reply = await uploading;
    expect(reply.body.report.state).toBe('aborted');
    expect(reply.body.report.rowsRead).toBe(reply.body.report.rowsWritten + reply.body.report.rowsFailed + reply.body.report.rowsSkipped);
    expect(await collection.countDocuments()).toBe(reply.body.report.rowsWritten);
    const { events } = await watching;
    expect(events.at(-1)!.event).toBe('done');
    const refused = await send(`${origin}/imports`, { headers: { 'Content-Type': 'text/csv' }, body: 'a\n1\n' });
    expect(refused.status).toBe(429);
    await close();
  });

  it('cancelling an import before its upload ends its watchers with an aborted report', async () => {
    const { origin, close } = await serve({ pipeline: () => ({ sink: mongoSink(db.collection('e')) }) });
    const { links } = (await send(`${origin}/imports`, {})).body;
    const watching = followEvents(origin + links.events);
    await new Promise((r) => setTimeout(r, 50));
    expect((await send(origin + links.status, { method: 'DELETE' })).status).toBe(200);
    const { events } = await watching;
    expect(events.at(-1)!.event).toBe('done');
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ state: 'aborted', rowsRead: 0 });
    const upload = await send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: 'a\n1\n' });
    expect(upload.status).toBe(409);
    await close();
  });

  it('failure events are capped, and a reconnecting watcher gets the current state: the report at once when it has ended', async () => {
    const collection = db.collection('d');
    const { origin, close } = await serve({ pipeline: () => ({ sink: mongoSink(collection), types: { price: 'int' } }), maxFailureEvents: 5 });
    const { links } = (await send(`${origin}/imports`, {})).body;
    const body = `sku,price\n${Array.from({ length: 50 }, (_, i) => `s${i},${i % 2 ? 'x' : i}`).join('\n')}\n`;
    const csvWithTypes = await send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body });
    expect(csvWithTypes.status).toBe(200);
    expect(csvWithTypes.body).toMatchObject({ rowsWritten: 25, rowsFailed: 25 });
    const first = await followEvents(origin + links.events);
    expect(first.events.map((e) => e.event)).toEqual([...Array(5).fill('rowFailure'), 'done']);
    // A watcher that saw the end gets 204, which stops an EventSource from reconnecting.
    const again = await followEvents(origin + links.events, { headers: { 'Last-Event-ID': first.events.at(-1)!.id! } });
    expect(again.status).toBe(204);
    const fromFailure = await followEvents(origin + links.events, { headers: { 'Last-Event-ID': first.events[2]!.id! } });
    expect(fromFailure.events.map((e) => e.event)).toEqual(['rowFailure', 'rowFailure', 'done']);
    expect(JSON.parse(fromFailure.events.at(-1)!.data).failureEventsDropped).toBe(20);
    await close();
  });
});
