import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient, type Db } from 'mongodb';
import { mongoSink, type IngestLogger } from '@anti-oom/core';
import type { IngestRouteOptions } from '@anti-oom/http';
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

/** Every framework's request has these; the examples' callbacks read nothing else. */
export interface ExampleRequest {
  headers: IncomingHttpHeaders;
}

/**
 * The token the examples accept, standing in for your app's real authentication: `IMPORT_TOKEN`
 * if set, otherwise a random one printed at start. Never ship an import route without auth.
 */
export function exampleToken(): string {
  const token = process.env.IMPORT_TOKEN ?? randomBytes(18).toString('base64url');
  if (!process.env.IMPORT_TOKEN) console.log(`IMPORT_TOKEN not set; this run's token is: ${token}`);
  return token;
}

/** Where the examples listen: loopback unless `HOST` says otherwise (such as 0.0.0.0 in a container). */
export const exampleHost = process.env.HOST ?? '127.0.0.1';

/** The token of a request: `Authorization: Bearer <token>`, or the dashboard's `anti_oom_token` cookie. */
function tokenOf(headers: IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '');
  if (bearer) return bearer[1];
  for (const part of (headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === 'anti_oom_token') return decodeURIComponent(value.join('='));
  }
  return undefined;
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The options every example uses. The server decides where rows go (the client's form fields and
 * query string are ignored): rows are inserted into the collection `products` (or the one the app
 * passes). A token (see {@link exampleToken}) stands in for your app's authentication.
 */
export function importOptions(db: Db, options: { token: string; collection?: string }): IngestRouteOptions<ExampleRequest> {
  const collection = db.collection(options.collection ?? 'products');
  return {
    // Replace with your app's check (session, JWT...). The cookie is safe here because the
    // handler refuses cross-site creates, uploads and cancels.
    authorize: (req) => (sameToken(tokenOf(req.headers), options.token) ? true : { status: 401, wwwAuthenticate: 'Bearer' }),
    limits: { maxConcurrentImports: 4 },
    // The dashboard draws the server's heap and RSS; only clients with the token see them.
    exposeMemory: true,
    pipeline: () => ({
      // Fixed here, never taken from the request: with a client-chosen collection, mode and key,
      // anyone could $set fields of any document that matches. For upserts, pass
      // { mode: 'upsert', key: ['sku'] } and give the collection a unique index on sku.
      sink: mongoSink(collection, { mode: 'insert' }),
      // The fast engine: same rows, lines and failures as csv-parse, about 4x the speed.
      csv: { engine: 'fast', delimiter: 'auto', encoding: 'auto' },
      logger: consoleLogger,
      heartbeatMs: 5000,
    }),
  };
}
