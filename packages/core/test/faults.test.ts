import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { countDistinct, hasGo, startFerretdb, type MongoServer } from '@anti-oom/testing';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestPipeline, IngestErrorCode, isIngestError, mongoSink, type BatchWriter, type IngestReport } from '../src/index.js';
import { expectBalanced, productCsv } from './helpers.js';

// These tests stop, freeze and restart the database, so they run on a server of their own,
// which only this process can do: FerretDB built with Go.
const run = hasGo() ? describe : describe.skip;

run('database faults (a FerretDB of its own)', () => {
  let server: MongoServer;
  let n = 0;
  beforeAll(async () => {
    server = await startFerretdb();
  });
  afterAll(() => server?.stop());

  /** A client that gives up on a dead server quickly, so the sink's retries do the waiting. */
  const connect = () => new MongoClient(server.uri, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000, socketTimeoutMS: 10_000 });

  async function importWith(fault: (progress: { rowsWritten: number }) => void, retry = { retries: 30, minDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 60_000 }) {
    const client = connect();
    const collection = client.db('faults').collection(`c${n++}`);
    const pipeline = createIngestPipeline({ sink: mongoSink(collection), retry, batch: { size: 500 } });
    pipeline.on('progress', fault);
    let report: IngestReport;
    try {
      report = await pipeline.run(productCsv(60_000));
    } catch (err) {
      if (!isIngestError(err)) throw err;
      report = err.report!;
    }
    return { report, collection, client };
  }

  /** What the database holds, read with a client of its own (no short timeouts). */
  async function holds(name: string): Promise<{ count: number; distinct: number }> {
    const client = await MongoClient.connect(server.uri);
    try {
      const collection = client.db('faults').collection(name);
      return { count: await collection.countDocuments(), distinct: await countDistinct(collection, 'sku') };
    } finally {
      await client.close();
    }
  }

  it('SIGKILL mid-import, restart 2 s later: the import completes and every row is there exactly once', async () => {
    const c = reliabilityCase({ area: 'fault', name: 'the database process is killed (SIGKILL) after 10,000 rows and restarted 2 s later', checked: 'the import retries and completes; the database holds all 60,000 rows once each (count and distinct sku); the report balances' });
    let fired = false;
    const { report, collection, client } = await importWith((p) => {
      if (fired || p.rowsWritten < 10_000) return;
      fired = true;
      void server.kill!().then(async () => {
        await sleep(2000);
        await server.restart!();
      });
    });
    expect(fired).toBe(true);
    expect(report).toMatchObject({ state: 'done', rowsWritten: 60_000, rowsFailed: 0 });
    expectBalanced(report);
    expect(await holds(collection.collectionName)).toEqual({ count: 60_000, distinct: 60_000 });
    c.outcome(`done: 60,000 written, 60,000 held, 60,000 distinct; ${(report.elapsedMs / 1000).toFixed(0)} s`);
    await client.close();
  }, 180_000);

  it('SIGSTOP for 5 s, then SIGCONT: the import completes with exact counts', async () => {
    const c = reliabilityCase({ area: 'fault', name: 'the database is frozen (SIGSTOP) for 5 s, then SIGCONT', checked: 'the import completes; 60,000 rows held once each' });
    let fired = false;
    const { report, collection, client } = await importWith((p) => {
      if (fired || p.rowsWritten < 10_000) return;
      fired = true;
      server.freeze!();
      setTimeout(() => server.thaw!(), 5000);
    });
    expect(fired).toBe(true);
    expect(report).toMatchObject({ state: 'done', rowsWritten: 60_000 });
    expect(await holds(collection.collectionName)).toEqual({ count: 60_000, distinct: 60_000 });
    c.outcome(`done: 60,000 written, 60,000 held, 60,000 distinct; ${(report.elapsedMs / 1000).toFixed(0)} s`);
    await client.close();
  }, 180_000);

  it('an outage longer than the retry budget ends with E_SINK: every written row is there, the cut-off batch is reported unconfirmed', async () => {
    const c = reliabilityCase({ area: 'fault', name: 'the database is killed and stays down past the retry budget (3 retries, 3 s)', checked: 'the import ends with E_SINK; every acknowledged row is held; the cut-off batch is reported E_UNCONFIRMED, never as written; the report balances' });
    let fired = false;
    let down: Promise<void> | undefined;
    const { report, collection, client } = await importWith(
      (p) => {
        if (fired || p.rowsWritten < 10_000) return;
        fired = true;
        down = server.kill!();
      },
      { retries: 3, minDelayMs: 50, maxDelayMs: 200, maxElapsedMs: 3000 },
    );
    await down;
    expect(report.state).toBe('failed');
    expect(report.error?.code).toBe(IngestErrorCode.E_SINK);
    expectBalanced(report);
    await server.restart!();
    // Acknowledged rows are all there; rows of the batch cut off by the outage are reported as
    // unconfirmed (some may have landed before the server died), never as written or silently lost.
    const unconfirmed = report.rowsFailed;
    expect(report.failures.every((f) => f.code === 'E_UNCONFIRMED')).toBe(true);
    expect(unconfirmed).toBeGreaterThan(0);
    const held = (await holds(collection.collectionName)).count;
    expect(held).toBeGreaterThanOrEqual(report.rowsWritten);
    expect(held).toBeLessThanOrEqual(report.rowsWritten + unconfirmed);
    c.outcome(`E_SINK: written ${report.rowsWritten.toLocaleString('en')}, unconfirmed ${unconfirmed}, held ${held.toLocaleString('en')}`);
    await client.close();
  }, 180_000);

  it('lost acknowledgements: a batch written but reported as a network error is retried, and nothing is duplicated', async () => {
    const c = reliabilityCase({ area: 'fault', name: 'every third batch lands, then its acknowledgement is lost (a transient error injected by a writer wrapped around the real sink)', checked: 'the import completes; each retried batch recognises its own documents; the database holds every row exactly once' });
    const client = await MongoClient.connect(server.uri);
    const collection = client.db('faults').collection(`c${n++}`);
    const real = mongoSink(collection);
    let lost = 0;
    const flaky: BatchWriter = {
      ...real,
      async write(batch, attempt) {
        const result = await real.write(batch, attempt);
        if (batch.seq % 3 === 0 && attempt.attempt === 0) {
          lost++;
          throw Object.assign(new Error('connection reset after the write'), { name: 'MongoNetworkError' });
        }
        return result;
      },
    };
    const report = await createIngestPipeline({ sink: flaky, batch: { size: 500 }, retry: { minDelayMs: 10 } }).run(productCsv(20_000));
    expect(report).toMatchObject({ state: 'done', rowsWritten: 20_000, rowsFailed: 0 });
    expect(lost).toBe(14);
    expect(await holds(collection.collectionName)).toEqual({ count: 20_000, distinct: 20_000 });
    c.outcome(`done: ${lost} acknowledgements lost and retried; 20,000 written, 20,000 held, 20,000 distinct`);
    await client.close();
  }, 120_000);
});
