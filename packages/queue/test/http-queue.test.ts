import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongoCheckpoints, mongoSink } from '@anti-oom/core';
import { createIngestHandler, type IngestHandler } from '@anti-oom/http';
import { startRedis, type RedisServer } from '@anti-oom/testing';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createIngestQueue, createIngestWorker, gridfsStorage, type IngestQueue, type IngestWorker } from '../src/index.js';
import { csv, until } from './helpers.js';

// The HTTP layer in queue mode, in one process: the handler, the queue and (when a test starts
// one) a worker. The multi-process behaviour is in cluster.test.ts.
let redis: RedisServer;
let t: Awaited<ReturnType<typeof openTestDb>>;
let queue: IngestQueue;
let handler: IngestHandler;
let server: Server;
let base: string;
const jobs: unknown[] = [];

function startWorker(): IngestWorker {
  return createIngestWorker({
    connection: redis.url,
    storage: gridfsStorage(t.db),
    checkpoints: mongoCheckpoints(t.db.collection('anti_oom_checkpoints')),
    prefix: 'http',
    pipeline: (job) => {
      jobs.push(job.data);
      return { sink: mongoSink(t.db.collection((job.data as { collection: string }).collection)), batch: { size: 500 } };
    },
  });
}

beforeAll(async () => {
  redis = await startRedis();
  t = await openTestDb('queue_http');
  queue = createIngestQueue({ connection: redis.url, storage: gridfsStorage(t.db), prefix: 'http' });
  handler = createIngestHandler({
    prefix: '/imports',
    queue,
    authorize: () => true,
    owner: (req) => req.headers['x-user'] as string | undefined,
    job: (req, fields) => ({ collection: `c_${fields.tag ?? 'none'}`, user: req.headers['x-user'] }),
    limits: { maxFileBytes: 200_000, maxPendingPerOwner: 2 },
    logger: { error: () => {}, warn: () => {} },
  });
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/imports`;
});

afterAll(async () => {
  await handler?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await queue?.close();
  await t?.close();
  await redis?.stop();
});

const user = { 'x-user': 'dana' };

describe('@anti-oom/http with the queue option', () => {
  it('a gzip upload is stored decompressed, answered 202 queued, and imported by a worker with the job data the job callback made', async () => {
    const data = csv(3000, 0, 'g');
    const res = await fetch(`${base}?tag=gz`, { method: 'POST', headers: { ...user, 'content-type': 'text/csv', 'content-encoding': 'gzip' }, body: gzipSync(data.text) });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; state: string; links: { status: string } };
    expect(body.state).toBe('queued');
    expect(res.headers.get('location')).toBe(body.links.status);
    const stat = await queue.storage.stat(body.id);
    expect(stat).toMatchObject({ complete: true, offset: Buffer.byteLength(data.text) });
    expect(((await (await fetch(`${base}/${body.id}`, { headers: user })).json()) as { state: string }).state).toBe('queued');
    const worker = startWorker();
    try {
      const ended = await until(() => queue.get(body.id), (r) => r?.report !== undefined);
      expect(ended!.report).toMatchObject({ state: 'done', rowsWritten: 3000 });
      expect(jobs).toContainEqual({ collection: 'c_gz', user: 'dana' });
      expect(await t.db.collection('c_gz').countDocuments()).toBe(3000);
      expect(await queue.storage.stat(body.id)).toBeUndefined();
    } finally {
      await worker.close();
    }
  });

  it('a header the import would refuse is refused before the file is stored; the import ends failed', async () => {
    const res = await fetch(base, { method: 'POST', headers: { ...user, 'content-type': 'text/csv' }, body: 'sku,$where\n1,2\n' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).toBe('E_HEADER_INVALID');
    const id = res.headers.get('x-import-id')!;
    expect((await queue.get(id))!.state).toBe('failed');
    expect(await queue.storage.stat(id)).toBeUndefined();
  });

  it('a file over the limit gets 413, and nothing is kept of it', async () => {
    const res = await fetch(base, { method: 'POST', headers: { ...user, 'content-type': 'text/csv' }, body: csv(20_000).text });
    expect(res.status).toBe(413);
    const id = res.headers.get('x-import-id')!;
    expect((await queue.get(id))!.report!.error!.code).toBe('E_FILE_TOO_LARGE');
    expect(await queue.storage.stat(id)).toBeUndefined();
  });

  it('cancel of a queued import no worker holds ends it at once; pending quotas count across instances (in Redis)', async () => {
    const res = await fetch(`${base}?tag=never`, { method: 'POST', headers: { ...user, 'content-type': 'text/csv' }, body: csv(100).text });
    const { id } = (await res.json()) as { id: string };
    const cancel = await fetch(`${base}/${id}`, { method: 'DELETE', headers: user });
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toEqual({ id, state: 'aborted' });
    expect((await queue.get(id))!.report!.error!.code).toBe('E_ABORTED');
    expect(await queue.storage.stat(id)).toBeUndefined();
    expect(await queue.queue.getJob(id)).toBeUndefined();

    const erin = { 'x-user': 'erin' };
    expect((await fetch(base, { method: 'POST', headers: erin })).status).toBe(201);
    expect((await fetch(base, { method: 'POST', headers: erin })).status).toBe(201);
    const third = await fetch(base, { method: 'POST', headers: erin });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('5');
  });

  it('preview works as in-process (nothing stored, nothing queued)', async () => {
    const res = await fetch(`${base}/preview`, { method: 'POST', headers: { ...user, 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { header: string[] }).header).toEqual(['a', 'b']);
  });
});
