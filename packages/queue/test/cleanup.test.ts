import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongoCheckpoints, mongoSink } from '@anti-oom/core';
import { startRedis, type RedisServer } from '@anti-oom/testing';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createIngestQueue, createIngestWorker, gridfsStorage, type IngestQueue } from '../src/index.js';
import { Cleanup } from '../src/worker/cleanup.js';
import { csv, until } from './helpers.js';

// Nothing grows without bound: every key of an import has a TTL, files go when imports end (or
// after keepFilesMs), abandoned uploads are swept.
let redis: RedisServer;
let client: Redis;
let t: Awaited<ReturnType<typeof openTestDb>>;
let queue: IngestQueue;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  t = await openTestDb('queue_cleanup');
  queue = createIngestQueue({ connection: redis.url, storage: gridfsStorage(t.db), prefix: 'cleanup' });
});
afterAll(async () => {
  client?.disconnect();
  await queue?.close();
  await t?.close();
  await redis?.stop();
});

describe('cleanup', () => {
  it('every Redis key an import leaves has a TTL no longer than keepEndedMs, and its file is kept keepFilesMs for audit, then swept', async () => {
    const worker = createIngestWorker({
      connection: redis.url,
      storage: gridfsStorage(t.db),
      checkpoints: mongoCheckpoints(t.db.collection('anti_oom_checkpoints')),
      prefix: 'cleanup',
      keepEndedMs: 60_000,
      keepFilesMs: 3_600_000,
      pipeline: () => ({ sink: mongoSink(t.db.collection('rows')), types: { qty: 'number' } }),
    });
    try {
      const id = await queue.add(Readable.from([csv(500, 50).text]), {}, { maxFailureEvents: 5 });
      const ended = await until(() => queue.get(id), (r) => r?.report !== undefined);
      expect(ended!.report).toMatchObject({ state: 'done', rowsWritten: 490, rowsFailed: 10 });
      expect(ended!.failuresDropped).toBe(5);
      const keys = (await client.keys('cleanup:*')).filter((k) => !k.startsWith('cleanup:imports:'));
      expect(keys.sort()).toEqual([`cleanup:files`, `cleanup:import:${id}`, `cleanup:import:${id}:events`, `cleanup:import:${id}:lines`].sort());
      for (const key of keys.filter((k) => k !== 'cleanup:files')) {
        const ttl = await client.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(60_000);
      }
      expect(await client.xlen(`cleanup:import:${id}:events`)).toBe(6); // 5 failures kept, then done
      // The file is kept for audit, and listed for the sweep.
      expect(await queue.storage.stat(id)).toMatchObject({ complete: true });
      expect(await client.zscore('cleanup:files', id)).not.toBeNull();
      const cleanup = new Cleanup(client, queue.storage, { prefix: 'cleanup', keepFilesMs: 3_600_000, incompleteUploadTtlMs: 86_400_000, sweepIntervalMs: 60_000, logger: undefined });
      await cleanup.sweep(Date.now());
      expect(await queue.storage.stat(id)).toBeDefined();
      await cleanup.sweep(Date.now() + 3_600_001);
      expect(await queue.storage.stat(id)).toBeUndefined();
      expect(await client.zcard('cleanup:files')).toBe(0);
    } finally {
      await worker.close();
    }
  });

  it('the sweep deletes uploads never completed once they are older than incompleteUploadTtlMs, and keeps younger ones', async () => {
    const storage = gridfsStorage(t.db);
    await storage.create('abandoned', {});
    await storage.append('abandoned', 0, Readable.from([Buffer.from('sku,qty\n1,')]));
    const cleanup = new Cleanup(client, storage, { prefix: 'cleanup', keepFilesMs: 0, incompleteUploadTtlMs: 86_400_000, sweepIntervalMs: 60_000, logger: undefined });
    await cleanup.sweep(Date.now());
    expect(await storage.stat('abandoned')).toBeDefined();
    await cleanup.sweep(Date.now() + 86_400_001);
    expect(await storage.stat('abandoned')).toBeUndefined();
  });
});
