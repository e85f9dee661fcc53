import type { IncomingMessage, ServerResponse } from 'node:http';
import { IngestErrorCode, isIngestError, type IngestReport } from '@anti-oom/core';

/** Writes a JSON response, unless the client is gone. @internal */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'no-store', ...headers });
  res.end(json);
}

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
 * Answers with `{ error: { code, message }, report? }` and the error's status, then drops what is
 * left of the body (see {@link discardRest}).
 * @internal
 */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown, extraHeaders: Record<string, string> = {}): void {
  const known = isIngestError(err);
  const code = known ? err.code : IngestErrorCode.E_INTERNAL;
  const message = known ? err.message : 'Internal error.';
  const status = known ? err.statusCode : 500;
  const report: IngestReport | undefined = known ? err.report : undefined;
  sendJson(res, status, report ? { error: { code, message }, report } : { error: { code, message } }, extraHeaders);
  discardRest(req);
}
