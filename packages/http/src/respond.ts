import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { IngestRequest, IngestResult } from './request.js';

/** How much of a refused body is read and thrown away so the client gets to read the answer. */
const DISCARD_BYTES = 16 * 1024 * 1024;
const DISCARD_MS = 5000;

/**
 * Reads and drops what is left of a request body after an early answer. A client still writing
 * when the socket closes gets a broken pipe instead of the answer (Node's own client does); a
 * short drain lets it read the 413 or 499 first. Past a bound the socket is closed: reading a
 * refused gigabyte would defeat the limit.
 * @internal
 */
export function discardRest(req: IncomingMessage): void {
  if (req.complete || req.destroyed) return;
  let dropped = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.destroy();
  };
  const timer = setTimeout(stop, DISCARD_MS).unref();
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_BYTES) stop();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/**
 * A neutral request from Node's request and response. `signal` aborts when the response closes
 * before it finished: the client went away.
 * @internal
 */
export function fromNode<Req>(req: IncomingMessage, res: ServerResponse, options: { context: Req; path: string; basePath: string; body?: () => import('node:stream').Readable }): IngestRequest<Req> {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('the client disconnected'));
  });
  return {
    method: req.method ?? 'GET',
    path: options.path,
    query: new URL(req.url ?? '/', 'http://x').searchParams,
    headers: req.headers,
    body: options.body ?? (() => req),
    context: options.context,
    clientAddress: req.socket.remoteAddress,
    secure: Boolean((req.socket as { encrypted?: boolean }).encrypted),
    basePath: options.basePath,
    signal: controller.signal,
  };
}

/** Writes an answer on Node's response, unless the client is gone. @internal */
export function writeNode(req: IncomingMessage, res: ServerResponse, result: IngestResult): void {
  if (res.headersSent || res.destroyed) {
    if (result.kind === 'sse') result.stream.destroy();
    return;
  }
  if (result.kind === 'sse') {
    res.writeHead(result.status, result.headers);
    pipeline(result.stream, res, () => {});
    return;
  }
  if (result.kind === 'empty') {
    res.writeHead(result.status, result.headers);
    res.end();
    return;
  }
  const body = JSON.stringify(result.body);
  res.writeHead(result.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), ...result.headers });
  res.end(body);
  discardRest(req);
}
