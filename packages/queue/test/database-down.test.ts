import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFerretdb, startRedis, type MongoServer, type RedisServer } from '@anti-oom/testing';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestQueue, type IngestQueue } from '../src/index.js';
import { folderStorage } from './fixtures/folder-storage.js';
import { Child, csv, until, WORKER_SCRIPT } from './helpers.js';

// This file kills its own database server, so it starts one of its own rather than sharing the run's.
const PREFIX = 'dbdown';
let redis: RedisServer;
let mongo: MongoServer;
let dir: string;
let queue: IngestQueue;
let worker: Child;

beforeAll(async () => {
  redis = await startRedis();
  mongo = await startFerretdb();
  dir = mkdtempSync(join(tmpdir(), 'anti-oom-queue-'));
  queue = createIngestQueue({ connection: redis.url, storage: folderStorage(dir), prefix: PREFIX, attempts: 4, backoffMs: 400 });
  worker = new Child(WORKER_SCRIPT, {
    REDIS_URL: redis.url,
    MONGODB_URI: mongo.uri,
    TEST_DB: 'dbdown',
    STORAGE_DIR: dir,
    PREFIX,
    // The uploads live apart from the database this test kills (as with S3).
    STORAGE: 'folder',
    BATCH_SIZE: '200',
    SERVER_SELECTION_MS: '1000',
    SINK_RETRIES: '3',
    SINK_MAX_ELAPSED_MS: '1500',
  });
  await worker.waitFor('ready');
});

afterAll(async () => {
  await worker?.kill('SIGKILL');
  await queue?.close();
  await mongo?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function count(collection: string): Promise<number> {
  const client = await MongoClient.connect(mongo.uri);
  try {
    return await client.db('dbdown').collection(collection).countDocuments();
  } finally {
    await client.close();
  }
}

describe('the database goes down under a running import', () => {
  it('back within the retry budget: the job is retried with backoff, resumes from its checkpoint and completes exactly; down for good: it ends failed with the report after the last attempt', async () => {
    const c = reliabilityCase({
      area: 'fault',
      name: 'queue mode: the database server is SIGKILLed during an import (attempts 4, backoff 400 ms exponential), once restarted a second later, once left down',
      checked: 'restarted: the job fails an attempt with E_SINK, is retried, resumes and ends done with every good row exactly once; left down: after the 4th attempt the import ends failed, report.error.code E_SINK with the counters of the furthest attempt, the worker reported 4 failed attempts, and the collection holds the rows written (plus at most the batches in flight when the server died)',
    });
    const data = csv(20_000, 0, 'r');
    const first = await queue.add(Readable.from([data.text]), { collection: 'back' });
    await until(() => queue.get(first), (r) => (r?.snapshot?.rowsWritten ?? 0) >= 2000, 60_000, 10);
    await mongo.kill!();
    await worker.waitFor(`failed ${first}`);
    await mongo.restart!();
    const ended = await until(() => queue.get(first), (r) => r?.report !== undefined, 120_000, 100);
    expect(ended!.report!.state, JSON.stringify(ended!.report!.error)).toBe('done');
    expect(ended!.report!.rowsWritten).toBe(data.good);
    expect(ended!.report!.resumed?.times).toBeGreaterThanOrEqual(1);
    expect(await count('back')).toBe(data.good);

    const second = await queue.add(Readable.from([csv(20_000, 0, 's').text]), { collection: 'gone' });
    await until(() => queue.get(second), (r) => (r?.snapshot?.rowsWritten ?? 0) >= 2000, 60_000, 10);
    await mongo.kill!();
    const failed = await until(() => queue.get(second), (r) => r?.report !== undefined, 120_000, 100);
    const report = failed!.report!;
    expect(report.state).toBe('failed');
    expect(report.error?.code).toBe('E_SINK');
    expect(report.rowsWritten).toBeGreaterThanOrEqual(2000);
    expect(report.rowsRead).toBe(report.rowsWritten + report.rowsFailed + report.rowsSkipped);
    expect(worker.lines.filter((l) => l.startsWith(`failed ${second}`))).toHaveLength(4);
    await mongo.restart!();
    // Batches in flight when the server died may have been stored without their acknowledgement
    // arriving: at most concurrency (2) x batch size (200) rows more than the report counts, which
    // a later resume of the same import would find as its own (deterministic _ids), never twice.
    const stored = await count('gone');
    expect(stored).toBeGreaterThanOrEqual(report.rowsWritten);
    expect(stored).toBeLessThanOrEqual(report.rowsWritten + 400);
    c.outcome(`restarted: done with ${data.good} rows after ${worker.lines.filter((l) => l.startsWith(`failed ${first}`)).length} failed attempt(s); left down: failed E_SINK after 4 attempts, report ${report.rowsWritten} rows written, collection ${stored}`);
  }, 300_000);
});
