import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MongoClient, type Db } from 'mongodb';
import { mongoSink } from '@anti-oom/core';
import type {} from '@anti-oom/testing/vitest-setup';
import { createIngestHandler } from '../src/index.js';
import { csvRows, followEvents, send } from './client.js';

let client: MongoClient;
let db: Db;
beforeAll(async () => {
  client = await MongoClient.connect(inject('mongoUri'));
  db = client.db(`shutdown_${randomUUID().slice(0, 8)}`);
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

describe('graceful shutdown', () => {
  it('close() aborts running imports, answers their uploads, ends progress streams, and refuses new uploads', async () => {
    const collection = db.collection('c');
    const handler = createIngestHandler({ prefix: '/imports', pipeline: () => ({ sink: mongoSink(collection) }) });
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('cancelling an import before its upload ends its watchers with an aborted report', async () => {
    const handler = createIngestHandler({ prefix: '/imports', pipeline: () => ({ sink: mongoSink(db.collection('e')) }) });
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { links } = (await send(`${origin}/imports`, {})).body;
    const watching = followEvents(origin + links.events);
    await new Promise((r) => setTimeout(r, 50));
    expect((await send(origin + links.status, { method: 'DELETE' })).status).toBe(200);
    const { events } = await watching;
    expect(events.at(-1)!.event).toBe('done');
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ state: 'aborted', rowsRead: 0 });
    const upload = await send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: 'a\n1\n' });
    expect(upload.status).toBe(409);
    await handler.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('failure events are capped, and a reconnecting watcher gets the current state: the report at once when it has ended', async () => {
    const collection = db.collection('d');
    const handler = createIngestHandler({ prefix: '/imports', pipeline: () => ({ sink: mongoSink(collection), types: { price: 'int' } }), maxFailureEvents: 5 });
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { links } = (await send(`${origin}/imports`, {})).body;
    const body = `sku,price\n${Array.from({ length: 50 }, (_, i) => `s${i},${i % 2 ? 'x' : i}`).join('\n')}\n`;
    const csvWithTypes = await send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body });
    expect(csvWithTypes.status).toBe(200);
    expect(csvWithTypes.body).toMatchObject({ rowsWritten: 25, rowsFailed: 25 });
    const first = await followEvents(origin + links.events);
    expect(first.events.map((e) => e.event)).toEqual([...Array(5).fill('rowFailure'), 'done']);
    const again = await followEvents(origin + links.events, { headers: { 'Last-Event-ID': first.events.at(-1)!.id! } });
    expect(again.events.map((e) => e.event)).toEqual(['done']);
    await handler.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
});
