import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedis, type RedisServer } from '@anti-oom/testing';
import type {} from '@anti-oom/testing/vitest-setup';
import { ExampleProcesses } from './example-processes.js';

const COLLECTION = `queue_example_${process.pid}`;
const TOKEN = 'queue-example-token';
let redis: RedisServer;

const processes = new ExampleProcesses(() => ({ MONGODB_URI: inject('mongoUri'), REDIS_URL: redis.url, QUEUE_PREFIX: 'example-test', COLLECTION, IMPORT_TOKEN: TOKEN }));
const start = processes.start.bind(processes);

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await processes.stopAll();
  await redis?.stop();
});

describe('examples/queue', () => {
  it('the app stores an upload and answers 202; the worker imports it; the status is read back from the app', async () => {
    const app = await start('src/app.ts', { PORT: '0' }, /on (http:\/\/\S+)/);
    await start('src/worker.ts', { CONCURRENCY: '1' }, /worker ready/);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const rows = Array.from({ length: 500 }, (_, i) => `sku-${i},item ${i}`).join('\n');
    const res = await fetch(`${app}/imports`, { method: 'POST', headers: { ...auth, 'content-type': 'text/csv' }, body: `sku,name\n${rows}\n` });
    expect(res.status).toBe(202);
    const { id, links } = (await res.json()) as { id: string; links: { status: string } };
    let status: { state: string; report?: { rowsWritten: number } } = { state: 'queued' };
    for (let i = 0; i < 600 && !status.report; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await (await fetch(`${app}${links.status}`, { headers: auth })).json()) as typeof status;
    }
    expect(status).toMatchObject({ state: 'done', report: { rowsWritten: 500 } });
    const client = await MongoClient.connect(inject('mongoUri'));
    try {
      const collection = client.db('anti_oom_examples').collection(COLLECTION);
      expect(await collection.countDocuments()).toBe(500);
      await collection.drop();
    } finally {
      await client.close();
    }
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  }, 120_000);
});
