import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestQueue, gridfsStorage, type IngestQueue } from '../src/index.js';
import { csv, until, WORKER_SCRIPT, type Child } from './helpers.js';
import { queueTestBed } from './test-bed.js';

const IMPORTS = 8;
const ROWS = 15_000;
/** Each worker runs 2 imports at a time, each bounded by its batches: far below this. */
const RSS_BOUND = 300 * 1024 * 1024;
const MB = 1024 * 1024;
const PREFIX = 'load';

const bed = queueTestBed('queue_load', PREFIX);
let queue: IngestQueue;
const workers: Child[] = [];

beforeAll(async () => {
  queue = createIngestQueue({ connection: bed.redis.url, storage: gridfsStorage(bed.t.db), prefix: PREFIX });
  bed.closeLater(() => queue.close());
  for (let i = 0; i < 2; i++) workers.push(bed.spawn(WORKER_SCRIPT, { BATCH_SIZE: '500', CONCURRENCY: '2' }));
  await Promise.all(workers.map((w) => w.waitFor('ready')));
});

describe(`${IMPORTS} imports across 2 workers`, () => {
  it('all complete, each exactly once, in both workers; worker RSS stays bounded', async () => {
    const c = reliabilityCase({
      area: 'load',
      name: `queue mode: ${IMPORTS} imports of ${ROWS.toLocaleString('en')} rows enqueued at once, 2 worker processes with concurrency 2`,
      checked: `every import done with all its rows, each collection holding exactly them; both workers ran imports; each worker's peak RSS < ${RSS_BOUND / MB} MB`,
    });
    const ids = await Promise.all(Array.from({ length: IMPORTS }, (_, i) => queue.add(Readable.from([csv(ROWS, 0, `l${i}`).text]), { collection: `load${i}` })));
    for (const [i, id] of ids.entries()) {
      const ended = await until(() => queue.get(id), (r) => r?.report !== undefined, 240_000, 200);
      expect(ended!.report).toMatchObject({ state: 'done', rowsRead: ROWS, rowsWritten: ROWS });
      expect(await bed.t.db.collection(`load${i}`).countDocuments()).toBe(ROWS);
    }
    for (const w of workers) expect(w.lines.some((l) => l.startsWith('started'))).toBe(true);
    const started = workers.map((w) => w.lines.filter((l) => l.startsWith('started')).length);
    expect(started.reduce((a, b) => a + b)).toBe(IMPORTS);
    const peaks: number[] = [];
    for (const w of workers) {
      w.process.kill('SIGTERM');
      const line = await w.waitFor('closed');
      peaks.push(Number(/peakRss=(\d+)/.exec(line)![1]));
    }
    for (const p of peaks) expect(p).toBeLessThan(RSS_BOUND);
    const figures = `imports per worker ${started.join(' + ')}; peak RSS ${peaks.map((p) => `${Math.round(p / MB)} MB`).join(', ')}`;
    process.stderr.write(`[queue load] ${figures}\n`);
    c.outcome(`all ${IMPORTS} done exactly once; ${figures}`);
  }, 300_000);
});
