// Hostile uploads the adapter suite does not cover at full size: a gzip bomb of 1 GB of zeros, and
// a row whose failure message tries to forge Server-Sent Events.
import { createServer } from 'node:http';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db } from 'mongodb';
import { mongoSink } from '@anti-oom/core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestHandler, type IngestHandlerOptions } from '../src/index.js';
import { followEvents, listen, send } from './client.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let n = 0;
const closers: (() => Promise<void>)[] = [];
const MB = 1024 * 1024;

beforeAll(async () => {
  t = await openTestDb('hostile_http');
  db = t.db;
});
afterAll(async () => {
  for (const close of closers) await close();
  await t.close();
});

async function serve(options: Partial<IngestHandlerOptions> = {}): Promise<{ base: string; collection: Collection }> {
  const collection = db.collection(`u${n++}`);
  const handler = createIngestHandler({ prefix: '/imports', pipeline: () => ({ sink: mongoSink(collection) }), authorize: () => true, ...options });
  const server = await listen(createServer(handler));
  closers.push(async () => {
    await handler.close();
    await server.close();
  });
  return { base: `${server.origin}/imports`, collection };
}

/** 1 GiB of zeros, gzip-compressed a megabyte at a time: about 1 MB, never 1 GB in memory. */
async function gzipBomb(): Promise<Buffer> {
  const gzip = createGzip({ level: 6 });
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(MB);
  for (let i = 0; i < 1024; i++) if (!gzip.write(zeros)) await new Promise<void>((r) => gzip.once('drain', () => r()));
  await new Promise<void>((r) => gzip.end(() => r()));
  return Buffer.concat(out);
}

describe('hostile uploads through the node:http handler', () => {
  it('a gzip bomb (1 GB of zeros compressed): 413 from the record limit, or from the ratio guard; nothing written; memory bounded', async () => {
    const c = reliabilityCase({ area: 'input', name: 'a gzip bomb: 1 GB of zeros, gzip-compressed, uploaded as application/gzip', checked: '413 E_ROW_TOO_LARGE with default limits; 413 E_FILE_TOO_LARGE ("gzip bomb") from the ratio guard when records may be 128 MB; nothing written; server heap growth < 64 MB' });
    const bomb = await gzipBomb();
    const strict = await serve();
    const lax = await serve({ limits: { maxRecordBytes: 128 * MB } });
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 10);
    const byRecord = await send(strict.base, { headers: { 'Content-Type': 'application/gzip' }, body: bomb });
    const byRatio = await send(lax.base, { headers: { 'Content-Type': 'application/gzip' }, body: bomb });
    clearInterval(sampler);
    expect(byRecord.status).toBe(413);
    expect(byRecord.body.error.code).toBe('E_ROW_TOO_LARGE');
    expect(byRatio.status).toBe(413);
    expect(byRatio.body.error).toMatchObject({ code: 'E_FILE_TOO_LARGE', message: expect.stringMatching(/gzip bomb/) });
    expect(await strict.collection.countDocuments()).toBe(0);
    expect(await lax.collection.countDocuments()).toBe(0);
    expect(peak - before).toBeLessThan(64 * MB);
    c.outcome(`${(bomb.length / MB).toFixed(1)} MB compressed; 413 ${byRecord.body.error.code}, and 413 ${byRatio.body.error.code} with the lax record limit; 0 written; heap +${Math.max(0, Math.round((peak - before) / MB))} MB`);
  }, 120_000);

  it('a row failure message carrying "\\n\\ndata: " and a forged done event stays inside its own SSE event', async () => {
    const c = reliabilityCase({ area: 'input', name: 'a value crafted to break SSE framing ("\\n\\nevent: done\\ndata: …") that ends up in a row failure message', checked: 'the watcher sees one rowFailure event whose message holds the crafted lines, one genuine done event last, and no forged event or id' });
    const collection = db.collection(`u${n++}`);
    const { base } = await serve({ progressIntervalMs: 10, pipeline: () => ({ sink: mongoSink(collection), types: { price: 'number' } }) });
    const evil = '1\n\nevent: done\ndata: {"forged":true}\n\nid: 999\nretry: 1\r\n\r\ndata: x';
    const csv = `sku,price\nA,1\nB,"${evil.replaceAll('"', '""')}"\nC,3\n`;
    const created = await send(base, {});
    const origin = new URL(base).origin;
    const watching = followEvents(origin + created.body.links.events);
    const reply = await send(origin + created.body.links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: csv });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ rowsWritten: 2, rowsFailed: 1 });
    const { events } = await watching;
    const failures = events.filter((e) => e.event === 'rowFailure').map((e) => JSON.parse(e.data));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ line: 3, code: 'E_TYPE' });
    // Values are quoted up to 40 characters in messages; those hold the forged event lines.
    expect(failures[0].message).toContain(evil.slice(0, 40));
    expect(events.filter((e) => e.event === 'done')).toHaveLength(1);
    expect(events.at(-1)!.event).toBe('done');
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ state: 'done', rowsWritten: 2 });
    expect(events.some((e) => e.data.includes('"forged"') && e.event !== 'rowFailure')).toBe(false);
    expect(events.map((e) => e.id).filter((id) => id === '999')).toEqual([]);
    expect(await collection.countDocuments()).toBe(2);
    c.outcome(`${events.length} events: ${[...new Set(events.map((e) => e.event))].join(', ')}; the forged lines arrived inside the one rowFailure message; one done event, the genuine one`);
  });
});
