import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient, type Collection, type Db } from 'mongodb';
import { mongoCheckpoints, mongoSink, type IngestReport } from '@anti-oom/core';
import type { IncomingHttpHeaders } from 'node:http';
import type { IngestRouteOptions } from '@anti-oom/http';
import { openTestDb } from '@anti-oom/testing/test-db';
import { leakBaseline } from '@anti-oom/testing/leaks';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { csvRows, followEvents, multipart, send } from './client.js';
import { runSecuritySuite } from './security-suite.js';

/** What the suite's callbacks read of a request: every adapter's request (Node's, Express's, Fastify's) has it. */
export interface SuiteRequest {
  headers: IncomingHttpHeaders;
}

/** Starts a real server on port 0 with the adapter under test; `base` is the URL of the import routes. */
export type StartServer = (options: IngestRouteOptions<SuiteRequest>) => Promise<{ base: string; close(): Promise<void> }>;

/** 5xx details go to the handler's logger; the tests that read them pass their own. */
const quiet = { error: () => {}, warn: () => {} };

function balanced(r: IngestReport): void {
  expect(r.rowsRead).toBe(r.rowsWritten + r.rowsFailed + r.rowsSkipped);
}

/** One suite, run against every adapter: the same routes must behave the same everywhere. */
export function runAdapterSuite(adapter: string, start: StartServer): void {
  describe(`${adapter} adapter`, () => {
    let t: Awaited<ReturnType<typeof openTestDb>>;
    let db: Db;
    let n = 0;
    const slug = adapter.replace(/[^a-z]/g, '');
    const fresh = (): Collection => db.collection(`${slug}_${n++}`);
    const servers: { close(): Promise<void> }[] = [];
    const serve = async (options: Partial<IngestRouteOptions<SuiteRequest>> & { collection?: Collection } = {}) => {
      const collection = options.collection ?? fresh();
      const server = await start({ pipeline: () => ({ sink: mongoSink(collection) }), authorize: () => true, logger: quiet, ...options });
      servers.push(server);
      return { ...server, collection };
    };

    beforeAll(async () => {
      t = await openTestDb(`adapters_${slug}`);
      db = t.db;
    });
    afterAll(async () => {
      for (const s of servers) await s.close();
      await t.close();
    });

    it('POST text/csv: imports and answers with the report', async () => {
      const { base, collection } = await serve();
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: csvRows(3000) });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ state: 'done', rowsRead: 3000, rowsWritten: 3000 });
      expect(reply.headers['x-import-id']).toBe(reply.body.id);
      expect(await collection.countDocuments()).toBe(3000);
    });

    it('multipart: text fields before the file reach the pipeline callback', async () => {
      const collection = fresh();
      let seen: Record<string, string> = {};
      const { base } = await serve({
        pipeline: (_req, fields) => {
          seen = fields;
          return { sink: mongoSink(db.collection(fields.target!)), types: { price: 'int' } };
        },
      });
      const form = multipart({ target: collection.collectionName, note: 'hello' }, { filename: 'p.csv', content: 'sku,price\nA,1\nB,2\n' });
      const reply = await send(base, { headers: { 'Content-Type': form.contentType }, body: form.body });
      expect(reply.status).toBe(200);
      expect(seen).toEqual({ target: collection.collectionName, note: 'hello' });
      expect(await collection.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray()).toEqual([
        { sku: 'A', price: 1 },
        { sku: 'B', price: 2 },
      ]);
    });

    it('gzip: Content-Encoding on a raw body, and a .gz file in a multipart body', async () => {
      const { base, collection } = await serve();
      const csv = `sku,name,price\n${Array.from({ length: 500 }, (_, i) => `g${i},n,${i}`).join('\n')}\n`;
      const raw = await send(base, { headers: { 'Content-Type': 'text/csv', 'Content-Encoding': 'gzip' }, body: gzipSync(csv) });
      expect(raw.body).toMatchObject({ state: 'done', rowsWritten: 500 });
      const form = multipart({}, { filename: 'p.csv.gz', type: 'application/gzip', content: gzipSync(csv) });
      const part = await send(base, { headers: { 'Content-Type': form.contentType }, body: form.body });
      expect(part.body).toMatchObject({ state: 'done', rowsWritten: 500 });
      expect(await collection.countDocuments()).toBe(1000);
    });

    it('415 for an unsupported content type, before reading; nothing written', async () => {
      const { base, collection } = await serve();
      const reply = await send(base, { headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
      expect(reply.status).toBe(415);
      expect(reply.body.error.code).toBe('E_UNSUPPORTED_MEDIA_TYPE');
      expect(await collection.countDocuments()).toBe(0);
    });

    it('413 over the file limit, with the partial report; the database holds exactly rowsWritten', async () => {
      const { base, collection } = await serve({ limits: { maxFileBytes: 200_000 } });
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: csvRows(50_000) });
      expect(reply.status).toBe(413);
      expect(reply.body.error.code).toBe('E_FILE_TOO_LARGE');
      balanced(reply.body.report);
      expect(await collection.countDocuments()).toBe(reply.body.report.rowsWritten);
    });

    it('413 for a gzip bomb: 64 MB of zeros is stopped by the record limit, or by the ratio guard when records may be huge', async () => {
      const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
      const strict = await serve();
      const byRecord = await send(strict.base, { headers: { 'Content-Type': 'application/gzip' }, body: bomb });
      expect(byRecord.status).toBe(413);
      expect(byRecord.body.error.code).toBe('E_ROW_TOO_LARGE');
      const lax = await serve({ limits: { maxRecordBytes: 128 * 1024 * 1024 } });
      const byRatio = await send(lax.base, { headers: { 'Content-Type': 'application/gzip' }, body: bomb });
      expect(byRatio.status).toBe(413);
      expect(byRatio.body.error).toMatchObject({ code: 'E_FILE_TOO_LARGE', message: expect.stringMatching(/gzip bomb/) });
      expect(await strict.collection.countDocuments()).toBe(0);
      expect(await lax.collection.countDocuments()).toBe(0);
    });

    it('413 past the decompressed-size limit', async () => {
      const { base, collection } = await serve({ limits: { maxDecompressedBytes: 100_000 } });
      const csv = `sku,name,price\n${Array.from({ length: 20_000 }, (_, i) => `d${i},n,${i}`).join('\n')}\n`;
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv', 'Content-Encoding': 'gzip' }, body: gzipSync(csv) });
      expect(reply.status).toBe(413);
      expect(reply.body.error.code).toBe('E_FILE_TOO_LARGE');
      balanced(reply.body.report);
      expect(await collection.countDocuments()).toBe(reply.body.report.rowsWritten);
    });

    it('400 for a bad header, with the line; nothing written', async () => {
      const { base, collection } = await serve();
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'sku,$where\nA,1\n' });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({ code: 'E_HEADER_INVALID' });
      expect(reply.body.error.message).toMatch(/\$where/);
      expect(await collection.countDocuments()).toBe(0);
    });

    it('400 for a PNG uploaded as a CSV file; nothing written', async () => {
      const c = reliabilityCase({ area: 'input', name: `a PNG uploaded as a CSV file in a multipart form (${adapter})`, checked: '400 E_CSV_MALFORMED naming the PNG signature; nothing written' });
      const { base, collection } = await serve();
      const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(5000, 7)]);
      const form = multipart({}, { filename: 'photo.csv', content: png });
      const reply = await send(base, { headers: { 'Content-Type': form.contentType }, body: form.body });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({ code: 'E_CSV_MALFORMED', message: expect.stringMatching(/PNG/) });
      c.outcome(`400 ${reply.body.error.code}: "${reply.body.error.message}"`);
      expect(await collection.countDocuments()).toBe(0);
    });

    it('503 when the database is unreachable, before the body is read', async () => {
      const dead = new MongoClient('mongodb://127.0.0.1:1/?directConnection=true', { serverSelectionTimeoutMS: 300 });
      const { base } = await serve({ pipeline: () => ({ sink: mongoSink(dead.db('x').collection('y'), { pingTimeoutMs: 300 }) }) });
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: csvRows(20_000) });
      expect(reply.status).toBe(503);
      expect(reply.body.error.code).toBe('E_SINK');
      expect(reply.body.report).toMatchObject({ bytesRead: 0, rowsRead: 0 });
      // Finding 4: the driver's text (hosts, ports) stays on the server; the client gets an error id.
      expect(JSON.stringify(reply.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:1|ping/);
      expect(reply.body.error.errorId).toMatch(/^[0-9a-f-]{36}$/);
      await dead.close();
    });

    it('429 with Retry-After past the concurrent-import limit', async () => {
      const { base } = await serve({ limits: { maxConcurrentImports: 1 } });
      const origin = new URL(base).origin;
      const { links } = (await send(base, {})).body;
      const slow = send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: csvRows(40, { chunkRows: 1, delayMs: 20 }) });
      // Wait until the first import is really running, however slow the machine is.
      while (((await fetch(origin + links.status).then((r) => r.json())) as { state: string }).state !== 'running') await new Promise((r) => setTimeout(r, 10));
      const second = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nA\n' });
      expect(second.status).toBe(429);
      expect(second.headers['retry-after']).toBe('5');
      expect((await slow).status).toBe(200);
    });

    it('401 and 403 from authorize; nothing written', async () => {
      const { base, collection } = await serve({
        authorize: (req) => (!req.headers.authorization ? { status: 401, wwwAuthenticate: 'Bearer' } : req.headers.authorization === 'Bearer admin'),
      });
      const anonymous = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nA\n' });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Bearer');
      const stranger = await send(base, { headers: { 'Content-Type': 'text/csv', Authorization: 'Bearer guest' }, body: 'sku\nA\n' });
      expect(stranger.status).toBe(403);
      expect(stranger.body.error.code).toBe('E_FORBIDDEN');
      expect(await collection.countDocuments()).toBe(0);
      const admin = await send(base, { headers: { 'Content-Type': 'text/csv', Authorization: 'Bearer admin' }, body: 'sku\nA\n' });
      expect(admin.status).toBe(200);
    });

    it('create, watch over SSE, then upload: progress and done arrive, and the stream closes', async () => {
      const { base, collection } = await serve({ progressIntervalMs: 10 });
      const created = await send(base, {});
      expect(created.status).toBe(201);
      const { id, links } = created.body;
      const origin = new URL(base).origin;
      const watching = followEvents(origin + links.events);
      const reply = await send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: csvRows(5000, { chunkRows: 500 }) });
      expect(reply.status).toBe(200);
      const { events } = await watching;
      const names = events.map((e) => e.event);
      expect(names).toContain('progress');
      expect(names.at(-1)).toBe('done');
      const done = JSON.parse(events.at(-1)!.data);
      expect(done).toMatchObject({ id, state: 'done', rowsWritten: 5000 });
      expect(events.every((e) => JSON.parse(e.data).id === id)).toBe(true);
      const status = await fetch(origin + links.status).then((r) => r.json());
      expect(status).toMatchObject({ id, state: 'done', report: { rowsWritten: 5000 } });
      expect(await collection.countDocuments()).toBe(5000);
    });

    it('checkpoints: the status and progress events show the durable offset during and after an upload, and the store holds it', async () => {
      const store = mongoCheckpoints(db.collection(`${slug}_checkpoints`));
      const collection = fresh();
      const { base } = await serve({ collection, checkpoints: store, progressIntervalMs: 10, pipeline: () => ({ sink: mongoSink(collection), batch: { size: 200 } }) });
      const origin = new URL(base).origin;
      const { id, links } = (await send(base, {})).body;
      const rows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `sku-${from + i},Product ${from + i},${i % 100}\n`).join('');
      // More than the 64 KiB a checkpointed stream is fingerprinted by, so rows are written before the pause.
      const first = `sku,name,price\n${rows(0, 4000)}`;
      const second = rows(4000, 6000);
      const body = Buffer.from(first + second);
      let resume!: () => void;
      const paused = new Promise<void>((r) => (resume = r));
      async function* upload() {
        yield first;
        await paused;
        yield second;
      }
      const watching = followEvents(origin + links.events);
      const uploading = send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: upload() });
      let mid: any;
      for (let i = 0; i < 500; i++) {
        mid = await fetch(origin + links.status).then((r) => r.json());
        if (mid.snapshot?.durable?.offset > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(mid.state).toBe('running');
      const durable = mid.snapshot.durable as { offset: number; line: number };
      expect(durable.offset).toBeGreaterThan(0);
      expect(durable.offset).toBeLessThanOrEqual(first.length);
      const before = first.slice(0, durable.offset);
      expect(before.endsWith('\n')).toBe(true);
      expect(durable.line).toBe(before.split('\n').length);
      expect(mid.snapshot.bytesAcknowledged).toBeGreaterThanOrEqual(durable.offset);
      // Paused, the import settles: the status then says exactly what the store holds.
      let stored = await store.load(id);
      let shown = mid.snapshot.durable;
      for (let i = 0; i < 100 && (shown.offset !== stored?.offset || shown.line !== stored?.line); i++) {
        await new Promise((r) => setTimeout(r, 50));
        shown = ((await fetch(origin + links.status).then((r) => r.json())) as any).snapshot.durable;
        stored = await store.load(id);
      }
      expect(stored).toMatchObject({ key: id, completed: false, offset: shown.offset, line: shown.line });
      expect(shown.offset).toBeGreaterThanOrEqual(durable.offset);
      resume();

      const reply = await uploading;
      expect(reply.status).toBe(200);
      const end = { offset: body.length, line: 6002 };
      expect(reply.body).toMatchObject({ state: 'done', rowsWritten: 6000, bytesAcknowledged: body.length, durable: end });
      const status: any = await fetch(origin + links.status).then((r) => r.json());
      expect(status.report.durable).toEqual(end);
      expect(await store.load(id)).toMatchObject({ completed: true, ...end });
      const { events } = await watching;
      const offsets = events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data).durable?.offset as number | undefined);
      expect(offsets.some((o) => o !== undefined && o > 0 && o < body.length)).toBe(true);
      expect(JSON.parse(events.at(-1)!.data).durable).toEqual(end);
      expect(await collection.countDocuments()).toBe(6000);
    });

    it("checkpoints: a raw body's Content-Length is the size in the fingerprint; a gzip upload is checkpointed in the CSV's own bytes", async () => {
      const store = mongoCheckpoints(db.collection(`${slug}_checkpoints`));
      const { base } = await serve({ checkpoints: store });
      const csv = `sku,name,price\n${Array.from({ length: 300 }, (_, i) => `z${i},n,${i}`).join('\n')}\n`;
      const plain = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: csv });
      expect(plain.body.durable).toEqual({ offset: csv.length, line: 302 });
      expect(await store.load(plain.body.id)).toMatchObject({ completed: true, offset: csv.length, fingerprint: { size: csv.length } });
      const zipped = await send(base, { headers: { 'Content-Type': 'text/csv', 'Content-Encoding': 'gzip' }, body: gzipSync(csv) });
      expect(zipped.body.durable).toEqual({ offset: csv.length, line: 302 });
      const checkpoint = await store.load(zipped.body.id);
      expect(checkpoint).toMatchObject({ completed: true, offset: csv.length });
      expect(checkpoint!.fingerprint.size ?? undefined).toBeUndefined();
    });

    it("no one sees another import's progress: owners only, and each stream carries one import", async () => {
      const { base } = await serve({
        owner: (req) => req.headers['x-user'] as string,
        authorize: (req, action, _importId, info) => action === 'create' || info?.owner === req.headers['x-user'],
      });
      const origin = new URL(base).origin;
      const alice = (await send(base, { headers: { 'x-user': 'alice' } })).body;
      const bob = (await send(base, { headers: { 'x-user': 'bob' } })).body;
      const spying = await followEvents(origin + alice.links.events, { headers: { 'x-user': 'bob' } });
      expect(spying.status).toBe(403);
      expect((await send(origin + alice.links.status, { method: 'GET', headers: { 'x-user': 'bob' } })).status).toBe(403);
      const aliceWatch = followEvents(origin + alice.links.events, { headers: { 'x-user': 'alice' } });
      const bobWatch = followEvents(origin + bob.links.events, { headers: { 'x-user': 'bob' } });
      await Promise.all([
        send(origin + alice.links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv', 'x-user': 'alice' }, body: csvRows(1000) }),
        send(origin + bob.links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv', 'x-user': 'bob' }, body: csvRows(2000) }),
      ]);
      const [a, b] = await Promise.all([aliceWatch, bobWatch]);
      expect(a.events.every((e) => JSON.parse(e.data).id === alice.id)).toBe(true);
      expect(b.events.every((e) => JSON.parse(e.data).id === bob.id)).toBe(true);
      expect(JSON.parse(a.events.at(-1)!.data).rowsWritten).toBe(1000);
      expect(JSON.parse(b.events.at(-1)!.data).rowsWritten).toBe(2000);
    });

    it('DELETE cancels a running import: it ends aborted, balanced, and the database holds rowsWritten', async () => {
      const c = reliabilityCase({ area: 'abort', name: `DELETE on a running import (${adapter})`, checked: 'the upload answers 499 E_ABORTED with the report; aborted, balanced; the database holds rowsWritten' });
      const { base, collection } = await serve();
      const origin = new URL(base).origin;
      const { links } = (await send(base, {})).body;
      const uploading = send(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: csvRows(100_000, { chunkRows: 500, delayMs: 5 }) });
      for (;;) {
        const s: any = await fetch(origin + links.status).then((r) => r.json());
        if (s.snapshot?.rowsWritten > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const cancel = await send(origin + links.status, { method: 'DELETE' });
      expect(cancel.status).toBe(202);
      const reply = await uploading;
      expect(reply.status).toBe(499);
      expect(reply.body.error.code).toBe('E_ABORTED');
      expect(reply.body.report.state).toBe('aborted');
      balanced(reply.body.report);
      expect(await collection.countDocuments()).toBe(reply.body.report.rowsWritten);
      c.outcome(`499 E_ABORTED after ${reply.body.report.rowsWritten.toLocaleString('en')} rows written; balanced; database matches`);
      expect((await send(origin + links.status, { method: 'DELETE' })).status).toBe(409);
    });

    it('a socket destroyed mid-upload aborts the import; the server goes on serving', async () => {
      const c = reliabilityCase({ area: 'abort', name: `the uploading client's socket destroyed mid-upload (${adapter})`, checked: 'the import ends aborted and balanced; the database holds rowsWritten; the server serves the next upload' });
      const { base, collection } = await serve();
      const origin = new URL(base).origin;
      const { links } = (await send(base, {})).body;
      const req = request(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv' } });
      req.on('error', () => {});
      req.write('sku,name,price\n');
      for (let i = 0; i < 30; i++) {
        req.write(Array.from({ length: 200 }, (_, j) => `k${i}-${j},n,${j}\n`).join(''));
        await new Promise((r) => setTimeout(r, 10));
      }
      req.destroy();
      let status: any;
      for (let i = 0; i < 200; i++) {
        status = await fetch(origin + links.status).then((r) => r.json());
        if (status.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(status.state).toBe('aborted');
      balanced(status.report);
      expect(await collection.countDocuments()).toBe(status.report.rowsWritten);
      const after = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nZ\n' });
      c.outcome(`aborted after ${status.report.rowsWritten.toLocaleString('en')} rows; balanced; next upload 200`);
      expect(after.status).toBe(200);
    });

    it('a client cutting the connection at 20 random byte offsets: each import ends aborted, balanced and matching the database; timers and heap come back', async () => {
      const c = reliabilityCase({ area: 'abort', name: `a client cutting the connection at 20 random byte offsets (${adapter})`, checked: 'every import ends aborted and balanced; the database holds the sum of rowsWritten; active timers back to baseline; heap within 16 MB of baseline' });
      const { base, collection } = await serve();
      const origin = new URL(base).origin;
      const body = Buffer.from(`sku,name,price\n${Array.from({ length: 20_000 }, (_, i) => `c${i},n${i},${i}`).join('\n')}\n`);
      let seed = 11;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const baseline = leakBaseline();
      let written = 0;
      for (let i = 0; i < 20; i++) {
        const { links } = (await send(base, {})).body;
        const cut = 1 + Math.floor(random() * (body.length - 1));
        const req = request(origin + links.upload, { method: 'PUT', headers: { 'Content-Type': 'text/csv', 'Content-Length': String(body.length) } });
        req.on('error', () => {});
        req.write(body.subarray(0, Math.min(cut, 1024)));
        // The import must have started before the cut, or there would be nothing to abort.
        while (((await fetch(origin + links.status).then((r) => r.json())) as { state: string }).state === 'pending') await new Promise((r) => setTimeout(r, 5));
        if (cut > 1024) req.write(body.subarray(1024, cut));
        await new Promise((r) => setTimeout(r, Math.floor(random() * 30)));
        req.destroy();
        let status: any;
        do {
          await new Promise((r) => setTimeout(r, 10));
          status = await fetch(origin + links.status).then((r) => r.json());
        } while (status.state === 'running');
        expect(status.state, `cut at byte ${cut}`).toBe('aborted');
        balanced(status.report);
        written += status.report.rowsWritten;
      }
      expect(await collection.countDocuments()).toBe(written);
      const { timers, timersBefore, heapGrowth } = await baseline.left();
      expect(timers).toBeLessThanOrEqual(timersBefore);
      expect(heapGrowth).toBeLessThan(16 * 1024 * 1024);
      c.outcome(`20 of 20 aborted and balanced; ${written.toLocaleString('en')} rows written in all = database; timers ${timers} ≤ ${timersBefore}; heap +${Math.max(0, Math.round(heapGrowth / 1048576))} MB`);
    });

    it('408 when the upload stalls past the idle timeout', async () => {
      const { base } = await serve({ limits: { idleTimeoutMs: 300 } });
      async function* stalled() {
        yield 'sku\nA\n';
        await new Promise((r) => setTimeout(r, 2000));
        yield 'B\n';
      }
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: stalled() });
      expect(reply.status).toBe(408);
      expect(reply.body.error.code).toBe('E_IDLE_TIMEOUT');
    });

    it('408 for a body that trickles one byte per second: too few bytes per idle window, and nothing written', async () => {
      const c = reliabilityCase({ area: 'input', name: `a body that trickles one byte per second (${adapter})`, checked: '408 E_IDLE_TIMEOUT once a 2.5 s idle window brings fewer than 1 KiB; nothing written' });
      const { base, collection } = await serve({ limits: { idleTimeoutMs: 2500 } });
      let sent = 0;
      async function* trickle() {
        for (const byte of 'sku\nA\nB\nC\nD\nE\nF\n') {
          yield byte;
          sent++;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: trickle() });
      expect(reply.status).toBe(408);
      expect(reply.body.error).toMatchObject({ code: 'E_IDLE_TIMEOUT', message: expect.stringMatching(/sent only \d bytes in 2500 ms \(at least 1024 are needed\)/) });
      expect(sent).toBeLessThan(6);
      c.outcome(`408 after ${sent} bytes: "${reply.body.error.message}"`);
      expect(await collection.countDocuments()).toBe(0);
    });

    it('408 when a multipart body stalls before its file part', async () => {
      const { base } = await serve({ limits: { idleTimeoutMs: 300 } });
      const form = multipart({ a: 'b' }, { filename: 'x.csv', content: 'a\n1\n' });
      const head = form.body.subarray(0, 60);
      async function* stalled() {
        yield head;
        await new Promise((r) => setTimeout(r, 2000));
      }
      const reply = await send(base, { headers: { 'Content-Type': form.contentType }, body: stalled() });
      expect(reply.status).toBe(408);
      expect(reply.body.error.code).toBe('E_IDLE_TIMEOUT');
    });

    it('400 past the multipart field limit and past the column limit; nothing written', async () => {
      const { base, collection } = await serve({ limits: { maxFields: 2, maxColumns: 3 } });
      const fields = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`f${i}`, 'v']));
      const form = multipart(fields, { filename: 'x.csv', content: 'a\n1\n' });
      const tooManyFields = await send(base, { headers: { 'Content-Type': form.contentType }, body: form.body });
      expect(tooManyFields.status).toBe(400);
      expect(tooManyFields.body.error.code).toBe('E_BAD_REQUEST');
      const wide = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'a,b,c,d\n1,2,3,4\n' });
      expect(wide.status).toBe(400);
      expect(wide.body.error.code).toBe('E_TOO_MANY_COLUMNS');
      expect(await collection.countDocuments()).toBe(0);
    });

    it('POST /preview: the first bytes of an upload give encoding, delimiter, header, rows and a type per column; nothing is written', async () => {
      const { base, collection } = await serve();
      const csv = 'sku;price;active;since\n00123;1,5;yes;2024-01-31\n00124;2;no;2024-02-01\n';
      const raw = await send(`${base}/preview`, { headers: { 'Content-Type': 'text/csv' }, body: csv });
      expect(raw.status).toBe(200);
      expect(raw.body).toMatchObject({ encoding: 'utf8', encodingSource: 'valid-utf8', delimiter: ';', header: ['sku', 'price', 'active', 'since'], complete: true, failures: [] });
      expect(raw.body.rows[0]).toEqual({ line: 2, values: { sku: '00123', price: '1,5', active: 'yes', since: '2024-01-31' } });
      expect(Object.fromEntries(raw.body.columns.map((c: { name: string; type: string }) => [c.name, c.type]))).toEqual({ sku: 'string', price: 'string', active: 'boolean', since: 'date' });
      const form = multipart({ note: 'x' }, { filename: 'p.csv.gz', type: 'application/gzip', content: gzipSync('a,b\n1,x\n2,y\n') });
      const part = await send(`${base}/preview`, { headers: { 'Content-Type': form.contentType }, body: form.body });
      expect(part.status).toBe(200);
      expect(part.body.columns.map((c: { type: string }) => c.type)).toEqual(['int', 'string']);
      const hostile = await send(`${base}/preview`, { headers: { 'Content-Type': 'text/csv' }, body: 'sku,$where\nA,1\n' });
      expect(hostile.status).toBe(200);
      expect(hostile.body.error).toMatchObject({ code: 'E_HEADER_INVALID', message: expect.stringMatching(/\$where/) });
      expect(await collection.countDocuments()).toBe(0);
    });

    it('POST /preview reads at most maxPreviewBytes of a large body and answers; the csv options of the pipeline callback apply', async () => {
      const { base } = await serve({ limits: { maxPreviewBytes: 4096, maxPreviewRows: 20 }, pipeline: () => ({ sink: mongoSink(fresh()), csv: { delimiter: '|' } }) });
      const reply = await send(`${base}/preview`, { headers: { 'Content-Type': 'text/csv' }, body: csvRows(5000, { header: 'sku|n\n', row: (i) => `s${i}|${i}\n` }) });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ delimiter: '|', header: ['sku', 'n'], complete: false });
      expect(reply.body.bytesRead).toBeLessThanOrEqual(4096);
      expect(reply.body.rows).toHaveLength(20);
      expect(reply.body.columns[1]).toMatchObject({ name: 'n', type: 'int', sampled: 20 });
      // The server goes on serving.
      expect((await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nA\n' })).status).toBe(200);
    });

    it("POST /preview is the action 'preview' for authorize, refused across sites, and 415 for a body that is no CSV", async () => {
      const asked: string[] = [];
      const { base } = await serve({
        authorize: (req, action) => {
          asked.push(action);
          return req.headers.authorization === 'Bearer ok' ? true : { status: 401 };
        },
      });
      const ok = { Authorization: 'Bearer ok', 'Content-Type': 'text/csv' };
      expect((await send(`${base}/preview`, { headers: { 'Content-Type': 'text/csv' }, body: 'a\n1\n' })).status).toBe(401);
      const cross = await send(`${base}/preview`, { headers: { ...ok, Origin: 'https://evil.example' }, body: 'a\n1\n' });
      expect(cross.status).toBe(403);
      expect(cross.body.error.code).toBe('E_CROSS_SITE');
      expect((await send(`${base}/preview`, { headers: { ...ok, 'Content-Type': 'application/json' }, body: '{}' })).status).toBe(415);
      expect((await send(`${base}/preview`, { method: 'GET', headers: ok })).status).toBe(404);
      expect(asked).toEqual(['preview', 'preview']);
    });

    it("types: 'infer' from the pipeline callback passes through: the report says which types were inferred", async () => {
      const collection = fresh();
      const { base } = await serve({ collection, pipeline: () => ({ sink: mongoSink(collection), types: 'infer' }) });
      const reply = await send(base, { headers: { 'Content-Type': 'text/csv' }, body: 'sku,qty\n00123,4\n00124,5\n' });
      expect(reply.status).toBe(200);
      expect(reply.body.inferredTypes).toEqual({ sku: 'string', qty: 'int' });
      expect(await collection.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray()).toEqual([
        { sku: '00123', qty: 4 },
        { sku: '00124', qty: 5 },
      ]);
    });

    it('404 for an unknown import, and 400 for a multipart body without the file', async () => {
      const { base } = await serve();
      expect((await send(`${base}/${randomUUID()}`, { method: 'GET' })).status).toBe(404);
      const form = multipart({ a: 'b' }, { name: 'other', filename: 'x.csv', content: 'a\n1\n' });
      const reply = await send(base, { headers: { 'Content-Type': form.contentType }, body: form.body });
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe('E_BAD_REQUEST');
    });
  });
  runSecuritySuite(adapter, start);
}
