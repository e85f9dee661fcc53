import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import { mongoSink, type IngestLogger } from '@anti-oom/core';
import type { IngestHandlerOptions } from '@anti-oom/http';
import { startMongo } from '@anti-oom/testing';

/** The dashboard's static files. */
export const dashboardDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard');

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** Serves the dashboard for `/`, `/app.js` and `/style.css`; returns false for any other path. */
export async function serveDashboard(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const file = path === '/' ? 'index.html' : path.slice(1);
  const ext = file.slice(file.lastIndexOf('.'));
  if (req.method !== 'GET' || !['index.html', 'app.js', 'style.css'].includes(file)) return false;
  const body = await readFile(join(dashboardDir, file));
  res.writeHead(200, { 'Content-Type': TYPES[ext] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
  res.end(body);
  return true;
}

/** A MongoDB database: `MONGODB_URI` if set, otherwise whatever `@anti-oom/testing` finds or starts. */
export async function connectDatabase(name = 'anti_oom_examples'): Promise<{ db: Db; close(): Promise<void>; kind: string }> {
  const server = process.env.MONGODB_URI ? undefined : await startMongo();
  const uri = process.env.MONGODB_URI ?? server!.uri;
  const client = await MongoClient.connect(uri);
  return {
    db: client.db(name),
    kind: server?.kind ?? 'external',
    async close() {
      await client.close();
      await server?.stop();
    },
  };
}

/** Prints the pipeline's heartbeats on one line each. */
export const consoleLogger: IngestLogger = {
  debug() {},
  info: (obj, msg) => console.log(`${msg ?? ''} ${JSON.stringify(obj)}`),
  warn: (obj, msg) => console.warn(`${msg ?? ''} ${JSON.stringify(obj)}`),
  error: (obj, msg) => console.error(`${msg ?? ''} ${JSON.stringify(obj)}`),
};

/**
 * The options every example uses: the collection comes from a form field or query parameter
 * (`collection`, letters and digits only), rows are upserted by `sku` when there is one.
 */
export function importOptions(db: Db): Pick<IngestHandlerOptions, 'pipeline' | 'limits'> {
  return {
    limits: { maxConcurrentImports: 4 },
    pipeline: (_req, fields) => {
      const name = /^[A-Za-z0-9_]{1,64}$/.test(fields.collection ?? '') ? fields.collection! : 'products';
      const mode = fields.mode === 'upsert' || fields.mode === 'merge' ? fields.mode : 'insert';
      return {
        sink: mongoSink(db.collection(name), mode === 'insert' ? { mode } : { mode, key: fields.key || 'sku' }),
        // The fast engine: same rows, lines and failures as csv-parse, about 4x the speed.
        csv: { engine: 'fast', delimiter: 'auto', encoding: 'auto' },
        logger: consoleLogger,
        heartbeatMs: 5000,
      };
    },
  };
}
