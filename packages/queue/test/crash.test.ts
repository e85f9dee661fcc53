import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { countDistinct } from '@anti-oom/testing';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestQueue, gridfsStorage, type IngestQueue } from '../src/index.js';
import { csv, seeded, until, WORKER_SCRIPT, type Child } from './helpers.js';
import { queueTestBed } from './test-bed.js';

const ROWS = 6000;
const BAD_EVERY = 97;
const PREFIX = 'crash';

const bed = queueTestBed('queue_crash', PREFIX);
let queue: IngestQueue;
const workers: Child[] = [];

const spawnWorker = (): Child => bed.spawn(WORKER_SCRIPT, { BATCH_SIZE: '200' });

beforeAll(async () => {
  queue = createIngestQueue({ connection: bed.redis.url, storage: gridfsStorage(bed.t.db), prefix: PREFIX, backoffMs: 200 });
  bed.closeLater(() => queue.close());
  workers.push(spawnWorker(), spawnWorker());
  await Promise.all(workers.map((w) => w.waitFor('ready')));
});

describe('a worker SIGKILLed while it runs an import', () => {
  it('at 5 seeded moments: the other worker takes the job over and resumes; every good row lands exactly once, the report says resumed, failures are published once', async () => {
    const c = reliabilityCase({
      area: 'fault',
      name: `queue mode: the worker running an import of ${ROWS.toLocaleString('en')} rows is SIGKILLed at 5 seeded moments (after the first batch, then at seeded fractions); a second worker process takes the stalled job over`,
      checked: 'state done; rowsWritten = good rows, rowsFailed = bad rows, rowsRead = all rows; the collection holds each good row exactly once; report.resumed.times >= 1; each failure published once, done last; the stored file deleted',
    });
    const random = seeded(14);
    const killedAt: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const data = csv(ROWS, BAD_EVERY, `t${trial}`);
      const collection = `trial${trial}`;
      const id = await queue.add(Readable.from([data.text]), { collection }, { maxFailureEvents: 1000 });
      const runner = await Promise.race(workers.map((w) => w.waitFor(`started ${id}`).then(() => w)));
      const threshold = trial === 0 ? 1 : Math.floor((0.05 + random() * 0.85) * data.good);
      const before = await until(
        () => queue.get(id),
        (r) => (r?.snapshot?.rowsWritten ?? 0) >= threshold || r?.report !== undefined,
        60_000,
        5,
      );
      expect(before!.report, `trial ${trial} ended before the kill`).toBeUndefined();
      await runner.kill('SIGKILL');
      killedAt.push(before!.snapshot!.rowsWritten);
      workers.splice(workers.indexOf(runner), 1);
      const replacement = spawnWorker();
      workers.push(replacement);

      const ended = await until(() => queue.get(id), (r) => r?.report !== undefined, 90_000, 100);
      const report = ended!.report!;
      expect(report.state, JSON.stringify(report.error)).toBe('done');
      expect(report.rowsRead).toBe(ROWS);
      expect(report.rowsWritten).toBe(data.good);
      expect(report.rowsFailed).toBe(data.bad);
      expect(report.resumed?.times).toBeGreaterThanOrEqual(1);
      const coll = bed.t.db.collection(collection);
      expect(await coll.countDocuments()).toBe(data.good);
      expect(await countDistinct(coll, 'sku')).toBe(data.good);

      const view = await queue.view(id, 0);
      const failures = view!.events.filter((e) => e.kind === 'rowFailure');
      expect(failures).toHaveLength(data.bad);
      expect(new Set(failures.map((e) => (e.kind === 'rowFailure' ? e.failure.line : 0))).size).toBe(data.bad);
      expect(view!.events.at(-1)!.kind).toBe('done');
      const seqs = view!.events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(await queue.storage.stat(id)).toBeUndefined();
      await replacement.waitFor('ready');
    }
    c.outcome(`killed at rowsWritten ${killedAt.join(', ')} of ${csv(ROWS, BAD_EVERY).good}; each resumed by the other worker and done with exact counts`);
    process.stderr.write(`[queue crash] killed at rowsWritten ${killedAt.join(', ')}\n`);
  }, 600_000);

  it('SIGTERM: the worker stops at a batch boundary, stores its checkpoint, hands the job back and exits 0; the other worker continues it exactly', async () => {
    const data = csv(ROWS, BAD_EVERY, 'term');
    const id = await queue.add(Readable.from([data.text]), { collection: 'terminated' }, { maxFailureEvents: 1000 });
    const runner = await Promise.race(workers.map((w) => w.waitFor(`started ${id}`).then(() => w)));
    const other = workers.find((w) => w !== runner)!;
    await until(() => queue.get(id), (r) => (r?.snapshot?.rowsWritten ?? 0) >= 1000 || r?.report !== undefined, 60_000, 5);
    runner.process.kill('SIGTERM');
    const [code] = (await runner.exited) as [number | null];
    expect(code).toBe(0);
    expect(runner.lines.some((l) => l.startsWith('closed'))).toBe(true);
    expect(runner.lines.some((l) => l.startsWith(`failed ${id}`))).toBe(false);
    workers.splice(workers.indexOf(runner), 1);
    await other.waitFor(`started ${id}`);
    const ended = await until(() => queue.get(id), (r) => r?.report !== undefined, 90_000, 100);
    expect(ended!.report).toMatchObject({ state: 'done', rowsRead: ROWS, rowsWritten: data.good, rowsFailed: data.bad });
    expect(ended!.report!.resumed?.times).toBe(1);
    expect(await bed.t.db.collection('terminated').countDocuments()).toBe(data.good);
  }, 120_000);
});
