import { request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/** Sends a request with a body from a string, a Buffer or an (async) iterable; parses JSON replies. */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer | Iterable<string | Buffer> | AsyncIterable<string | Buffer> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(url, { method: options.method ?? 'POST', headers: options.headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', reject);
    });
    // A server may answer (413, 415, 499, ...) and close while the body is still being sent; the
    // answer is what counts, not the broken pipe that follows it.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      const source = Readable.from(body as AsyncIterable<string | Buffer>);
      // The server may answer (413, 415, ...) and close before the whole body is sent.
      source.on('error', (err) => {
        if (!answered) reject(err);
      });
      req.on('close', () => source.destroy());
      source.pipe(req);
    }
  });
}

/** A multipart/form-data body: text fields first, then one file. */
export function multipart(fields: Record<string, string>, file: { name?: string; filename: string; type?: string; content: Buffer | string }): { body: Buffer; contentType: string } {
  const boundary = `----anti-oom-${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.name ?? 'file'}"; filename="${file.filename}"\r\nContent-Type: ${file.type ?? 'text/csv'}\r\n\r\n`,
    ),
    Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Follows an SSE stream until it ends (or `signal` aborts), returning every event parsed with eventsource-parser. */
export async function followEvents(url: string, options: { headers?: Record<string, string>; signal?: AbortSignal; onEvent?: (e: EventSourceMessage) => void } = {}): Promise<{ status: number; events: EventSourceMessage[] }> {
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...options.headers }, signal: options.signal });
  const events: EventSourceMessage[] = [];
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    return { status: res.status, events };
  }
  const parser = createParser({
    onEvent: (e) => {
      events.push(e);
      options.onEvent?.(e);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch (err) {
    if (!options.signal?.aborted) throw err;
  }
  return { status: res.status, events };
}

/** CSV text of `rows` rows, in chunks, optionally slowed down. */
export async function* csvRows(rows: number, options: { header?: string; row?: (i: number) => string; chunkRows?: number; delayMs?: number } = {}): AsyncGenerator<string> {
  yield options.header ?? 'sku,name,price\n';
  const chunkRows = options.chunkRows ?? 1000;
  for (let i = 0; i < rows; ) {
    let chunk = '';
    for (const end = Math.min(rows, i + chunkRows); i < end; i++) chunk += options.row ? options.row(i) : `sku-${i},Product ${i},${i % 100}\n`;
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    yield chunk;
  }
}

/** Listens on a free loopback port; `close()` drops open connections and stops the server. */
export async function listen(server: Server): Promise<{ origin: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
