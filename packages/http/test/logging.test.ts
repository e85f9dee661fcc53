import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from 'mongodb';
import { mongoSink } from '@anti-oom/core';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createIngestHandler } from '../src/index.js';
import { listen, send } from './client.js';

/** A real pino logger writing JSON lines into an array. */
function capture(): { logger: pino.Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const out = new Writable({
    write(chunk, _enc, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, out), lines };
}

describe('the handler logs through its pino logger, a child per import', () => {
  let t: Awaited<ReturnType<typeof openTestDb>>;
  let db: Db;
  beforeAll(async () => {
    t = await openTestDb('http_logging');
    db = t.db;
  });
  afterAll(async () => t.close());

  it("each import's lines carry its importId; a failed import logs its error as an object", async () => {
    const { logger, lines } = capture();
    let fail = false;
    const handler = createIngestHandler({
      prefix: '/imports',
      authorize: () => true,
      logger,
      pipeline: () => ({
        sink: fail
          ? {
              write: async () => {
                throw Object.assign(new Error('disk full on db-7.internal'), { code: 'EDISK' });
              },
            }
          : mongoSink(db.collection('logged')),
        retry: { retries: 0 },
      }),
    });
    const server = await listen(createServer(handler));
    try {
      const a = await send(`${server.origin}/imports`, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nA\nB\n' });
      const b = await send(`${server.origin}/imports`, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nC\n' });
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      const ofA = lines.filter((l) => l.importId === a.body.id);
      const ofB = lines.filter((l) => l.importId === b.body.id);
      expect(ofA.map((l) => l.msg)).toEqual(expect.arrayContaining(['ingest started', 'ingest finished']));
      expect(ofB.map((l) => l.msg)).toEqual(expect.arrayContaining(['ingest started', 'ingest finished']));
      expect(ofA.find((l) => l.msg === 'ingest finished')).toMatchObject({ rowsWritten: 2 });

      fail = true;
      const c = await send(`${server.origin}/imports`, { headers: { 'Content-Type': 'text/csv' }, body: 'sku\nD\n' });
      expect(c.status).toBeGreaterThanOrEqual(500);
      expect(JSON.stringify(c.body)).not.toMatch(/db-7/);
      const id = c.headers['x-import-id'];
      const failed = lines.filter((l) => l.importId === id && l.level >= 50);
      expect(failed.length).toBeGreaterThan(0);
      // The error as an object (pino's serializer: type, message, stack), with the errorId the client got.
      expect(failed[0]).toMatchObject({ errorId: c.body.error.errorId, err: { type: expect.any(String), message: expect.stringMatching(/db-7|database/), stack: expect.any(String) } });
    } finally {
      await handler.close();
      await server.close();
    }
  });
});
