// Load: concurrent imports and many SSE watchers on one Fastify server, against the real database.
// CI runs a reduced size; `corepack pnpm load-test` runs the full size (LOAD_ROWS=100000).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openTestDb } from '@anti-oom/testing/test-db';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { csvRows, followEvents, send } from '../../http/test/client.js';

const IMPORTS = 16;
const WATCHERS = 50;
const ROWS = Number(process.env.LOAD_ROWS ?? 5000);
/** The bound this test holds the server to: 16 imports in flight, each bounded by its batches. */
const RSS_BOUND = 400 * 1024 * 1024;
const MB = 1024 * 1024;

let t: Awaited<ReturnType<typeof openTestDb>>;
let server: ChildProcess;
let origin: string;

beforeAll(async () => {
  t = await openTestDb('load');
  server = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./load-server.ts', import.meta.url))], {
    env: { ...process.env, MONGODB_URI: inject('mongoUri'), LOAD_DB: t.db.databaseName, TSX_TSCONFIG_PATH: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of server.stdout!) {
    out += String(chunk);
    const match = /listening (\S+)/.exec(out);
    if (match) {
      origin = match[1]!;
      break;
    }
  }
}, 60_000);
afterAll(async () => {
  server.stdin!.end();
  await once(server, 'exit');
  await t.close();
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

describe(`load: ${IMPORTS} imports of ${ROWS.toLocaleString('en')} rows and ${WATCHERS} SSE watchers on one Fastify server`, () => {
  it('all complete exactly, each watcher sees only its import, server RSS stays bounded; the ack→SSE delay is measured', async () => {
    const c = reliabilityCase({
      area: 'load',
      name: `${IMPORTS} concurrent imports of ${ROWS.toLocaleString('en')} rows each, ${WATCHERS} SSE watchers (about 3 per import), one Fastify server in its own process, real database`,
      checked: `every import done with all its rows, each collection holding exactly them; every event a watcher gets belongs to its import, and it ends with done; server peak RSS < ${RSS_BOUND / MB} MB; delay from each batch acknowledgement to the first SSE progress event showing it, p50/p99/max`,
    });
    const imports = await Promise.all(
      Array.from({ length: IMPORTS }, async () => {
        const created = await send(`${origin}/imports`, {});
        expect(created.status).toBe(201);
        return { id: created.body.id as string, links: created.body.links as { upload: string; events: string }, tag: randomUUID().slice(0, 8) };
      }),
    );
    /** Per watcher: [rowsWritten shown, epoch ms received] of each progress event, and all events. */
    const watchers = Array.from({ length: WATCHERS }, (_, w) => {
      const target = imports[w % IMPORTS]!;
      const seen: [number, number][] = [];
      const done = followEvents(origin + target.links.events, {
        onEvent: (e) => {
          if (e.event === 'progress' || e.event === 'done') seen.push([JSON.parse(e.data).rowsWritten, performance.timeOrigin + performance.now()]);
        },
      });
      return { target, seen, done };
    });
    const started = performance.now();
    const replies = await Promise.all(
      imports.map((im) => send(`${origin}${im.links.upload}?tag=${im.tag}`, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: csvRows(ROWS, { chunkRows: 1000 }) })),
    );
    const seconds = (performance.now() - started) / 1000;
    for (const reply of replies) expect(reply.body).toMatchObject({ state: 'done', rowsWritten: ROWS, rowsFailed: 0 });
    for (const im of imports) expect(await t.db.collection(`load_${im.tag}`).countDocuments()).toBe(ROWS);

    const results = await Promise.all(watchers.map((w) => w.done));
    results.forEach(({ status, events }, i) => {
      const { id } = watchers[i]!.target;
      expect(status).toBe(200);
      expect(events.every((e) => JSON.parse(e.data).id === id || e.event === 'rowFailure')).toBe(true);
      expect(events.at(-1)!.event).toBe('done');
      expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ id, rowsWritten: ROWS });
    });

    const acks = (await fetch(`${origin}/acks`).then((r) => r.json())) as Record<string, [number, number][]>;
    const delays: number[] = [];
    for (const w of watchers) {
      for (const [written, at] of acks[w.target.tag]!) {
        const shown = w.seen.find(([rows]) => rows >= written);
        if (shown) delays.push(Math.max(0, shown[1] - at));
      }
    }
    delays.sort((a, b) => a - b);
    const { peakRssBytes } = (await fetch(`${origin}/rss`).then((r) => r.json())) as { peakRssBytes: number };
    expect(peakRssBytes).toBeLessThan(RSS_BOUND);
    expect(delays.length).toBeGreaterThan(0);
    const figures = `${(IMPORTS * ROWS).toLocaleString('en')} rows in ${seconds.toFixed(1)} s (${Math.round((IMPORTS * ROWS) / seconds).toLocaleString('en')} rows/s); server peak RSS ${Math.round(peakRssBytes / MB)} MB; ack→SSE delay over ${delays.length.toLocaleString('en')} acknowledgements seen by watchers: p50 ${Math.round(percentile(delays, 50))} ms, p99 ${Math.round(percentile(delays, 99))} ms, max ${Math.round(delays.at(-1)!)} ms (progress is coalesced to one event per 250 ms)`;
    console.log(`load: ${figures}`);
    c.outcome(`all ${IMPORTS} done and exact; ${WATCHERS} watchers saw only their import; ${figures}`);
  }, 600_000);
});
