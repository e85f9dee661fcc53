import { beforeAll, describe, expect, it } from 'vitest';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { APP_SCRIPT, csv, followSse, until, WORKER_SCRIPT } from './helpers.js';
import { queueTestBed } from './test-bed.js';

const PREFIX = 'restart';
// As in production: Redis with its append-only file, so a restart keeps the jobs and the state.
const bed = queueTestBed('queue_restart', PREFIX, { persistentRedis: true });
let app: string;

beforeAll(async () => {
  const env = { BATCH_SIZE: '200', MAX_FAILURE_EVENTS: '1000' };
  const a = bed.spawn(APP_SCRIPT, env);
  const workers = [bed.spawn(WORKER_SCRIPT, env), bed.spawn(WORKER_SCRIPT, env)];
  app = (await a.waitFor('listening')).split(' ')[1]!;
  await Promise.all(workers.map((w) => w.waitFor('ready')));
});

describe('Redis restarted under a running import', () => {
  it('the app and the workers reconnect and the import completes exactly; an SSE watcher that reconnects gets every failure once and done', async () => {
    const c = reliabilityCase({
      area: 'fault',
      name: 'queue mode: the Redis server (append-only file on) is SIGKILLed and restarted while a worker runs an import, an app instance serves its SSE stream',
      checked: 'the import ends done with exact counts and every good row once in the collection; the failures seen over the SSE stream and its reconnections are exactly the bad rows, each once, done last',
    });
    const data = csv(30_000, 100, 'r');
    const user = { 'x-user': 'carol' };
    const posted = await fetch(`${app}/imports?collection=restarted`, { method: 'POST', headers: { ...user, 'content-type': 'text/csv' }, body: data.text });
    expect(posted.status).toBe(202);
    const { id } = (await posted.json()) as { id: string };
    const status = async () => (await (await fetch(`${app}/imports/${id}`, { headers: user })).json()) as { state: string; snapshot?: { rowsWritten: number }; report?: any };
    await until(status, (s) => (s.snapshot?.rowsWritten ?? 0) >= 3000, 60_000, 10);
    await bed.redis.restart();

    // An EventSource reconnects with the last id it saw; do the same until `done`.
    const lines = new Set<number>();
    let failures = 0;
    let last = 0;
    let done: any;
    for (let attempt = 0; attempt < 50 && !done; attempt++) {
      const { status: code, events } = await followSse(`${app}/imports/${id}/events`, { ...user, ...(last ? { 'last-event-id': String(last) } : {}) }).catch(() => ({ status: 0, events: [] }));
      for (const e of events) {
        if (e.id !== undefined) last = e.id;
        if (e.event === 'rowFailure') {
          failures++;
          lines.add(e.data.line);
        }
        if (e.event === 'done') done = e.data;
      }
      if (code === 204) break;
      if (!done) await new Promise((r) => setTimeout(r, 200));
    }
    expect(done).toMatchObject({ state: 'done', rowsRead: 30_000, rowsWritten: data.good, rowsFailed: data.bad });
    expect(failures).toBe(data.bad);
    expect(lines.size).toBe(data.bad);
    expect(await bed.t.db.collection('restarted').countDocuments()).toBe(data.good);
    c.outcome(`restarted at >= 3000 rows; done with ${data.good} rows written, ${data.bad} failures streamed once each`);
  }, 180_000);
});
