import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRouter } from '@anti-oom/express';
import { antiOom } from '@anti-oom/fastify';
import { startRedis, type RedisServer } from '@anti-oom/testing';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createIngestQueue, gridfsStorage, type IngestQueue } from '../src/index.js';

// The Express and Fastify adapters are thin layers over the same routes: in queue mode they reach
// the queue, tus included. (What the queue then does is tested in the other files.)
let redis: RedisServer;
let t: Awaited<ReturnType<typeof openTestDb>>;
let queue: IngestQueue;
let expressServer: Server;
let fastify: FastifyInstance;
const bases: Record<string, string> = {};

beforeAll(async () => {
  redis = await startRedis();
  t = await openTestDb('queue_adapters');
  queue = createIngestQueue({ connection: redis.url, storage: gridfsStorage(t.db), prefix: 'adapters' });
  const common = { queue, authorize: () => true, owner: (req: { headers: Record<string, unknown> }) => req.headers['x-user'] as string | undefined, logger: { error: () => {}, warn: () => {} } };
  const app = express();
  app.use('/imports', ingestRouter(common));
  expressServer = app.listen(0, '127.0.0.1');
  await new Promise((r) => expressServer.once('listening', r));
  bases.express = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}/imports`;
  fastify = Fastify();
  await fastify.register(antiOom, { prefix: '/imports', ...common });
  bases.fastify = `${await fastify.listen({ port: 0, host: '127.0.0.1' })}/imports`;
});

afterAll(async () => {
  expressServer?.closeAllConnections();
  await new Promise((r) => expressServer?.close(r));
  await fastify?.close();
  await queue?.close();
  await t?.close();
  await redis?.stop();
});

describe.each(['express', 'fastify'])('%s in queue mode', (name) => {
  it('answers an upload with 202 queued, serves its status, and takes a tus upload with the owner check', async () => {
    const base = bases[name]!;
    const user = { 'x-user': `u-${name}` };
    const res = await fetch(base, { method: 'POST', headers: { ...user, 'content-type': 'text/csv' }, body: 'a,b\n1,2\n' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect(await (await fetch(`${base}/${id}`, { headers: user })).json()).toEqual({ id, state: 'queued' });

    const body = Buffer.from('a,b\n3,4\n');
    const created = await fetch(`${base}/tus`, { method: 'POST', headers: { ...user, 'tus-resumable': '1.0.0', 'upload-length': String(body.length) } });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    expect(location).toMatch(/\/imports\/tus\/[0-9a-f-]{36}$/);
    const url = new URL(location, base).href;
    expect((await fetch(url, { method: 'HEAD', headers: { 'x-user': 'someone-else', 'tus-resumable': '1.0.0' } })).status).toBe(403);
    const patched = await fetch(url, { method: 'PATCH', headers: { ...user, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body });
    expect(patched.status).toBe(204);
    expect(patched.headers.get('upload-offset')).toBe(String(body.length));
    const tusId = location.split('/').pop()!;
    expect((await queue.get(tusId))!.state).toBe('queued');
  });
});
