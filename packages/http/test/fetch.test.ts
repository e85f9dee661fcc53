import { Hono } from 'hono';
import { serve, type HttpBindings } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db } from 'mongodb';
import { createIngestPipeline, mongoSink } from '@anti-oom/core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createFetchHandler, type FetchHandlerOptions } from '../src/index.js';
import { toWebStream } from '../src/fetch.js';
import { SseStream } from '../src/sse.js';
import { runAdapterSuite, type SuiteRequest } from './adapter-suite.js';
import type { IngestRouteOptions } from '../src/index.js';

/** The suite's callbacks read Node-style headers; a `Request` has a `Headers` object. */
function forRequest(options: IngestRouteOptions<SuiteRequest>): FetchHandlerOptions {
  const view = (request: Request): SuiteRequest => ({ headers: Object.fromEntries(request.headers) });
  return {
    ...options,
    authorize: options.authorize && ((request, ...rest) => options.authorize(view(request), ...rest)),
    pipeline: options.pipeline && ((request, fields) => options.pipeline!(view(request), fields)),
    job: options.job && ((request, fields) => options.job!(view(request), fields)),
    owner: options.owner && ((request) => options.owner!(view(request))),
  };
}

runAdapterSuite('fetch on hono', async (options) => {
  const imports = createFetchHandler({ ...forRequest(options), prefix: '/imports' });
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.all('/imports', (c) => imports(c.req.raw, { clientAddress: c.env.incoming.socket.remoteAddress }));
  app.all('/imports/*', (c) => imports(c.req.raw, { clientAddress: c.env.incoming.socket.remoteAddress }));
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/imports`,
    async close() {
      await imports.close();
      (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
});

describe('fetch handler: a bare Request, no server', () => {
  let t: Awaited<ReturnType<typeof openTestDb>>;
  let db: Db;
  let n = 0;
  const fresh = (): Collection => db.collection(`bare_${n++}`);
  beforeAll(async () => {
    t = await openTestDb('fetch_bare');
    db = t.db;
  });
  afterAll(async () => t.close());

  it('imports a CSV from a hand-built Request (a body and no length header) and answers with the report', async () => {
    const collection = fresh();
    const imports = createFetchHandler({ prefix: '/imports', authorize: () => true, pipeline: () => ({ sink: mongoSink(collection) }) });
    const response = await imports(new Request('http://app.test/imports', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: 'sku,name\nA,a\nB,b\n' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    const report = (await response.json()) as { id: string; rowsWritten: number };
    expect(report.rowsWritten).toBe(2);
    expect(response.headers.get('x-import-id')).toBe(report.id);
    expect(await collection.countDocuments()).toBe(2);
    await imports.close();
  });

  it('create, follow the events as a ReadableStream, upload with a streamed body, see done; the callbacks get the Request', async () => {
    const collection = fresh();
    const seen: string[] = [];
    const imports = createFetchHandler({
      prefix: '/imports',
      progressIntervalMs: 1,
      owner: (request) => request.headers.get('x-user') ?? undefined,
      authorize: (request, action) => {
        seen.push(`${action}:${request instanceof Request}`);
        return true;
      },
      pipeline: () => ({ sink: mongoSink(collection), batch: { size: 100 } }),
    });
    const as = { 'x-user': 'alice' };
    const created = await imports(new Request('http://app.test/imports', { method: 'POST', headers: as }));
    expect(created.status).toBe(201);
    const { links } = (await created.json()) as { links: { upload: string; events: string } };
    const events = await imports(new Request(`http://app.test${links.events}`, { headers: as }));
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = new Response(events.body).text();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('sku,name\n'));
        for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode(Array.from({ length: 100 }, (_, j) => `s${i}-${j},n\n`).join('')));
        controller.close();
      },
    });
    const upload = await imports(new Request(`http://app.test${links.upload}`, { method: 'PUT', headers: { ...as, 'Content-Type': 'text/csv' }, body, duplex: 'half' } as RequestInit));
    expect(upload.status).toBe(200);
    const frames = await text;
    expect(frames).toMatch(/event: progress/);
    expect(frames).toMatch(/event: done\ndata: \{[^\n]*"rowsWritten":500/);
    expect(seen).toEqual(['create:true', 'watch:true', 'upload:true']);
    const bob = await imports(new Request(`http://app.test${links.upload}`, { headers: { 'x-user': 'bob' } }));
    expect(bob.status).toBe(403);
    await imports.close();
  });

  it('an aborted Request signal aborts the upload: the import ends aborted and balanced', async () => {
    const collection = fresh();
    const imports = createFetchHandler({ authorize: () => true, pipeline: () => ({ sink: mongoSink(collection), batch: { size: 50 } }) });
    const controller = new AbortController();
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (i === 0) c.enqueue(new TextEncoder().encode('sku\n'));
        c.enqueue(new TextEncoder().encode(Array.from({ length: 50 }, (_, j) => `r${i}-${j}\n`).join('')));
        if (++i === 20) controller.abort();
        await new Promise((r) => setTimeout(r, 5));
      },
    });
    const response = await imports(new Request('http://app.test/', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body, signal: controller.signal, duplex: 'half' } as RequestInit));
    expect(response.status).toBe(499);
    const answer = (await response.json()) as { error: { code: string }; report: { state: string; rowsRead: number; rowsWritten: number; rowsFailed: number; rowsSkipped: number } };
    expect(answer.error.code).toBe('E_ABORTED');
    expect(answer.report.rowsRead).toBe(answer.report.rowsWritten + answer.report.rowsFailed + answer.report.rowsSkipped);
    expect(await collection.countDocuments()).toBe(answer.report.rowsWritten);
    await imports.close();
  });

  it('cross-site and unauthorized Requests are refused before the body is read', async () => {
    const imports = createFetchHandler({ authorize: (request) => request.headers.get('authorization') === 'Bearer ok', pipeline: () => ({ sink: mongoSink(fresh()) }) });
    let pulled = false;
    // highWaterMark 0: the stream pulls only when someone reads it.
    const body = () => new ReadableStream({ pull: () => void (pulled = true) }, { highWaterMark: 0 });
    const cross = await imports(new Request('http://app.test/', { method: 'POST', headers: { 'Content-Type': 'text/csv', Origin: 'https://evil.example', authorization: 'Bearer ok' }, body: body(), duplex: 'half' } as RequestInit));
    expect(cross.status).toBe(403);
    expect(((await cross.json()) as { error: { code: string } }).error.code).toBe('E_CROSS_SITE');
    const anonymous = await imports(new Request('http://app.test/', { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: body(), duplex: 'half' } as RequestInit));
    expect(anonymous.status).toBe(403);
    expect(pulled).toBe(false);
    expect((await imports(new Request('http://app.test/elsewhere'))).status).toBe(404);
    await imports.close();
  });
});

describe('toWebStream: the SSE response body', () => {
  it('reads from the SSE stream only when pulled, and cancelling it destroys the stream', async () => {
    let id = 0;
    const sse = new SseStream({ progressIntervalMs: 0, heartbeatMs: 60_000, nextEventId: () => ++id });
    const web = toWebStream(sse);
    const reader = web.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('retry: 2000\n\n');
    // Not pulled: progress piles up in the SSE stream (and is coalesced there), not in the web stream.
    for (let n = 0; n < 200; n++) sse.progress({ n, pad: 'x'.repeat(1000) });
    expect(sse.readableLength).toBeGreaterThan(0);
    await reader.cancel();
    expect(sse.destroyed).toBe(true);
  });
});

describe('pipeline.run() with a web ReadableStream as its source', () => {
  it('imports every row of a ReadableStream<Uint8Array>', async () => {
    const t = await openTestDb('fetch_webstream');
    try {
      const collection = t.db.collection('web');
      const encoder = new TextEncoder();
      let i = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(c) {
          if (i === 0) c.enqueue(encoder.encode('sku,price\n'));
          if (i === 10) return c.close();
          c.enqueue(encoder.encode(Array.from({ length: 100 }, (_, j) => `w${i}-${j},${j}\n`).join('')));
          i++;
        },
      });
      const report = await createIngestPipeline({ sink: mongoSink(collection), types: { price: 'int' } }).run(source);
      expect(report).toMatchObject({ state: 'done', rowsRead: 1000, rowsWritten: 1000 });
      expect(await collection.countDocuments({ price: 99 })).toBe(10);
    } finally {
      await t.close();
    }
  });
});
