import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { hasGo, startFerretdb, type MongoServer } from '@anti-oom/testing';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestPipeline, fileSource, mongoSink, type IngestPipelineOptions } from '../src/index.js';
import { crashAndResume } from './resume-helpers.js';

// The database is killed and restarted, so these run on a FerretDB of their own (built with Go).
const run = hasGo() ? describe : describe.skip;

run('resume across crashes and a database restart (a FerretDB of its own)', () => {
  let server: MongoServer;
  let client: MongoClient;
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-resume-faults-'));
  beforeAll(async () => {
    server = await startFerretdb();
    client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000, socketTimeoutMS: 10_000 });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ['insert', 'upsert', 'merge'] as const) {
    it(`${mode}, concurrency 4: two crashes, and the database killed and restarted during the second run`, async () => {
      const c = reliabilityCase({
        area: 'fault',
        name: `resumable import (${mode}, concurrency 4) crashes twice between a write and its checkpoint; during the second run the database is SIGKILLed and restarted 1.5 s later`,
        checked: 'the third run completes; the collection (unique index on sku) holds every good row once with the last value of each key; counts and failures equal an uninterrupted run',
      });
      const keyed = mode !== 'insert';
      const rows = keyed ? 400 : 4000;
      let csv = 'sku,price\n';
      for (let i = 0; i < rows; i++) csv += `${keyed && i % 41 === 40 ? `s${i - 20}` : `s${i}`},${i % 53 === 5 ? 'bad' : i}\n`;
      const path = join(dir, `${mode}.csv`);
      writeFileSync(path, csv);
      const db = client.db('resume_faults');
      const options = (name: string): Omit<IngestPipelineOptions, 'resume'> => ({
        sink: mongoSink(db.collection(name), keyed ? { mode, key: 'sku' } : {}),
        types: { price: 'int' },
        batch: { size: keyed ? 20 : 100 },
        concurrency: 4,
        retry: { retries: 30, minDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 60_000 },
      });
      await db.collection(`ref-${mode}`).createIndex({ sku: 1 }, { unique: true });
      await db.collection(`res-${mode}`).createIndex({ sku: 1 }, { unique: true });
      const expected = await createIngestPipeline(options(`ref-${mode}`)).run(fileSource(path));

      let restarted = false;
      const { report, runs } = await crashAndResume(options(`res-${mode}`), path, `faults-${mode}`, keyed ? [3, 6] : [3, 12], db.collection('checkpoints'), (runIndex, acked) => {
        if (runIndex !== 1 || acked !== 2 || restarted) return;
        restarted = true;
        void server.kill!().then(async () => {
          await sleep(1500);
          await server.restart!();
        });
      });

      expect(restarted).toBe(true);
      expect(runs).toBe(3);
      for (const k of ['rowsRead', 'rowsWritten', 'rowsFailed', 'rowsSkipped'] as const) expect(report[k]).toBe(expected[k]);
      expect(report.failures).toEqual(expected.failures);
      const project = { projection: { _id: 0 }, sort: { sku: 1 } } as const;
      const got = await db.collection(`res-${mode}`).find({}, project).toArray();
      expect(got).toEqual(await db.collection(`ref-${mode}`).find({}, project).toArray());
      c.outcome(`${runs} runs, database restarted once; ${report.rowsWritten} written, ${report.rowsFailed} failed as in the uninterrupted run; ${got.length} documents, 0 duplicates`);
    }, 120_000);
  }
});
