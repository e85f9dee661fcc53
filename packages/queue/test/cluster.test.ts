import * as tus from 'tus-js-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { APP_SCRIPT, csv, followSse, until, WORKER_SCRIPT, type SseEvent } from './helpers.js';
import { queueTestBed } from './test-bed.js';

const PREFIX = 'cluster';
const bed = queueTestBed('queue_cluster', PREFIX);
let A: string;
let B: string;

beforeAll(async () => {
  const env = { BATCH_SIZE: '200', MAX_FAILURE_EVENTS: '1000' };
  const apps = [bed.spawn(APP_SCRIPT, env), bed.spawn(APP_SCRIPT, env)];
  const workers = [bed.spawn(WORKER_SCRIPT, env), bed.spawn(WORKER_SCRIPT, env)];
  [A, B] = (await Promise.all(apps.map(async (a) => (await a.waitFor('listening')).split(' ')[1]!))) as [string, string];
  await Promise.all(workers.map((w) => w.waitFor('ready')));
});

const alice = { 'x-user': 'alice' };

describe('two app instances and two workers, one Redis', () => {
  it('upload through A, status and SSE through B (a reconnect through A gets exactly the failures it missed), cancel through B; exact counts', async () => {
    const c = reliabilityCase({
      area: 'load',
      name: 'queue mode: two app-server processes and two worker processes; an import created and uploaded through A, watched and read through B, then a second one cancelled through B',
      checked: 'A answers 202 queued; B streams every failure once with strictly increasing ids, then done with exact counts; a reconnect through A after a failure id gets exactly the later failures and done; another owner gets 403; the cancelled import ends aborted within one batch of the cancel (at most the batches in flight past the status at the cancel) with the collection holding exactly report.rowsWritten rows',
    });
    const data = csv(4000, 50, 'a');
    const created = await fetch(`${A}/imports`, { method: 'POST', headers: alice });
    expect(created.status).toBe(201);
    const { id, links } = (await created.json()) as { id: string; links: { events: string; upload: string } };
    expect((await fetch(`${B}/imports/${id}`, { headers: { 'x-user': 'bob' } })).status).toBe(403);

    const watching = followSse(`${B}/imports/${id}/events`, alice);
    const uploaded = await fetch(`${A}/imports/${id}?collection=first`, { method: 'PUT', headers: { ...alice, 'content-type': 'text/csv' }, body: data.text });
    expect(uploaded.status).toBe(202);
    expect(await uploaded.json()).toMatchObject({ id, state: 'queued', links: { events: links.events } });

    const { status, events } = await watching;
    expect(status).toBe(200);
    const ids = events.map((e) => e.id!);
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    const failures = events.filter((e) => e.event === 'rowFailure');
    expect(failures).toHaveLength(data.bad);
    expect(events.at(-1)!.event).toBe('done');
    const done = events.at(-1)!.data;
    expect(done).toMatchObject({ state: 'done', rowsRead: 4000, rowsWritten: data.good, rowsFailed: data.bad });
    expect(events.some((e) => e.event === 'progress')).toBe(true);

    const status2 = (await (await fetch(`${B}/imports/${id}`, { headers: alice })).json()) as { state: string; report: { rowsWritten: number } };
    expect(status2.state).toBe('done');
    expect(status2.report.rowsWritten).toBe(data.good);
    expect(await bed.t.db.collection('first').countDocuments()).toBe(data.good);

    // A watcher that saw up to the 30th failure comes back through the other instance.
    const seen = failures[29]!.id!;
    const again = await followSse(`${A}/imports/${id}/events`, { ...alice, 'last-event-id': String(seen) });
    const againFailures = again.events.filter((e) => e.event === 'rowFailure');
    expect(againFailures.map((e) => e.data.line)).toEqual(failures.slice(30).map((e) => e.data.line));
    expect(again.events.at(-1)!.event).toBe('done');
    expect((await fetch(`${A}/imports/${id}/events`, { headers: { ...alice, 'last-event-id': String(events.at(-1)!.id) } })).status).toBe(204);

    // The second import: a POST with the body through A, cancelled through B while it runs.
    const big = csv(60_000, 0, 'b');
    const posted = await fetch(`${A}/imports?collection=second`, { method: 'POST', headers: { ...alice, 'content-type': 'text/csv' }, body: big.text });
    expect(posted.status).toBe(202);
    const second = ((await posted.json()) as { id: string }).id;
    const seenEvents: SseEvent[] = [];
    const watchingSecond = followSse(`${B}/imports/${second}/events`, alice, (e) => seenEvents.push(e));
    await until(
      async () => (await (await fetch(`${B}/imports/${second}`, { headers: alice })).json()) as { state: string; snapshot?: { rowsWritten: number } },
      (s) => s.state === 'running' && (s.snapshot?.rowsWritten ?? 0) > 0,
      60_000,
      20,
    );
    const cancel = await fetch(`${B}/imports/${second}`, { method: 'DELETE', headers: alice });
    expect(cancel.status).toBe(202);
    const atCancel = ((await (await fetch(`${B}/imports/${second}`, { headers: alice })).json()) as { snapshot: { rowsWritten: number } }).snapshot.rowsWritten;
    const secondEvents = await watchingSecond;
    const end = secondEvents.events.at(-1)!;
    expect(end.event).toBe('done');
    expect(end.data.state).toBe('aborted');
    expect(end.data.error.code).toBe('E_ABORTED');
    expect(end.data.rowsWritten).toBeLessThan(big.good);
    // Within one batch: past what the status showed at the cancel, only the batches in flight
    // (pipeline concurrency 2) and the one the status had not caught up with yet, of 200 rows each.
    expect(end.data.rowsWritten - atCancel).toBeLessThanOrEqual(4 * 200);
    expect(await bed.t.db.collection('second').countDocuments()).toBe(end.data.rowsWritten);
    expect((await fetch(`${B}/imports/${second}`, { method: 'DELETE', headers: alice })).status).toBe(409);
    c.outcome(`first import: ${data.good} written, ${data.bad} failures streamed once through B; second cancelled through B when the status showed ${atCancel} rows, ended at ${end.data.rowsWritten} of ${big.good}, collection holds exactly that`);
  }, 180_000);

  it('tus-js-client uploads through A, stops half way, resumes the same upload through B; the worker imports it with exact counts', async () => {
    const c = reliabilityCase({
      area: 'load',
      name: 'queue mode: a tus upload (tus-js-client in Node, 64 KiB PATCHes) started through app instance A, stopped at ~50%, resumed through instance B from the offset B reports',
      checked: 'the resumed upload continues from a non-zero offset; the import ends done with exact counts; another owner gets 403 on the upload; the collection holds every good row',
    });
    const data = csv(20_000, 40, 'tus');
    const file = Buffer.from(data.text);
    const first = await new Promise<string>((resolve, reject) => {
      const upload = new tus.Upload(file, {
        endpoint: `${A}/imports/tus`,
        chunkSize: 64 * 1024,
        headers: alice,
        metadata: { filename: 'tus.csv', collection: 'viatus' },
        onError: reject,
        onChunkComplete: (_chunk, sent) => {
          if (sent >= file.length / 2) {
            void upload.abort().then(() => resolve(upload.url!));
          }
        },
      });
      upload.start();
    });
    expect(first.startsWith(`${A}/imports/tus/`)).toBe(true);
    const id = first.split('/').pop()!;
    expect((await queueState(id)).state).toBe('pending');
    const onB = first.replace(A, B);
    const head = await fetch(onB, { method: 'HEAD', headers: { ...alice, 'tus-resumable': '1.0.0' } });
    expect(head.status).toBe(200);
    const offset = Number(head.headers.get('upload-offset'));
    expect(offset).toBeGreaterThan(0);
    expect((await fetch(onB, { method: 'HEAD', headers: { 'x-user': 'bob', 'tus-resumable': '1.0.0' } })).status).toBe(403);
    const patchOffsets: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(file, {
        uploadUrl: onB,
        chunkSize: 64 * 1024,
        headers: alice,
        onBeforeRequest: (req) => {
          if (req.getMethod() === 'PATCH') patchOffsets.push(Number(req.getHeader('Upload-Offset')));
        },
        onError: reject,
        onSuccess: () => resolve(),
      });
      upload.start();
    });
    expect(patchOffsets[0]).toBe(offset);
    const ended = await until(() => queueState(id), (s) => s.report !== undefined, 60_000, 100);
    expect(ended.report).toMatchObject({ state: 'done', rowsRead: 20_000, rowsWritten: data.good, rowsFailed: data.bad });
    expect(await bed.t.db.collection('viatus').countDocuments()).toBe(data.good);
    c.outcome(`stopped at ${offset} of ${file.length} bytes through A, resumed through B from ${patchOffsets[0]}; done with ${data.good} rows`);
  }, 120_000);
});

async function queueState(id: string): Promise<{ state: string; report?: { state: string; rowsWritten: number } }> {
  return (await (await fetch(`${B}/imports/${id}`, { headers: alice })).json()) as { state: string; report?: { state: string; rowsWritten: number } };
}
