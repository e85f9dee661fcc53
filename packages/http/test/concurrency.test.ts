import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { mongoSink } from '@anti-oom/core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createIngestHandler } from '../src/index.js';
import { csvRows, listen, send } from './client.js';

const UPLOADS = 8;
const BYTES_PER_UPLOAD = 50 * 1024 * 1024;
// Wide catalogue rows (a long description), so 50 MB is ~25k rows and the run fits in CI time.
const DESCRIPTION = 'x'.repeat(2000);
const ROW = (u: number, i: number) => `u${u}-${i},Product ${i},${i % 1000},"${DESCRIPTION}"\n`;
const ROWS = Math.ceil(BYTES_PER_UPLOAD / ROW(0, 0).length);
// The server holds batches in flight for 8 imports at once (8 x 2 x 1000 rows x ~2 KB) plus Node's
// own baseline; the files themselves (400 MB) must never be in memory.
const RSS_GROWTH_LIMIT = 400 * 1024 * 1024;

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
beforeAll(async () => {
  t = await openTestDb('concurrency');
  db = t.db;
});
afterAll(() => t.close());

describe('one server, eight concurrent uploads', () => {
  it(`${UPLOADS} x ~50 MB uploads all land exactly, with bounded server memory`, async () => {
    const handler = createIngestHandler({
      prefix: '/imports',
      authorize: () => true,
      limits: { maxConcurrentImports: UPLOADS, maxRunningPerOwner: UPLOADS },
      pipeline: (_req, fields) => ({ sink: mongoSink(db.collection(fields.c!)) }),
    });
    const server = await listen(createServer(handler));
    const base = `${server.origin}/imports`;

    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
    const started = performance.now();
    const replies = await Promise.all(
      Array.from({ length: UPLOADS }, (_, u) =>
        send(`${base}?c=u${u}`, {
          headers: { 'Content-Type': 'text/csv' },
          body: csvRows(ROWS, { header: 'sku,name,price,description\n', row: (i) => ROW(u, i), chunkRows: 30 }),
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);

    for (const [u, reply] of replies.entries()) {
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ state: 'done', rowsRead: ROWS, rowsWritten: ROWS, rowsFailed: 0 });
      expect(await db.collection(`u${u}`).countDocuments()).toBe(ROWS);
    }
    const growth = peak - baseline;
    const mb = (b: number) => `${Math.round(b / 1048576)} MB`;
    console.log(
      `concurrency: ${UPLOADS} uploads x ${ROWS} rows (${mb(BYTES_PER_UPLOAD)}) in ${seconds.toFixed(1)} s, ` +
        `${Math.round((UPLOADS * ROWS) / seconds)} rows/s, ${mb((UPLOADS * BYTES_PER_UPLOAD) / seconds)}/s; ` +
        `RSS baseline ${mb(baseline)}, peak ${mb(peak)}, growth ${mb(growth)} (limit ${mb(RSS_GROWTH_LIMIT)})`,
    );
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
    await handler.close();
    await server.close();
  }, 600_000);
});
