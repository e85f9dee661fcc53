import { randomUUID } from 'node:crypto';
import { IngestErrorCode, isIngestError, type IngestReport, type IngestSnapshot } from '@anti-oom/core';
import type { HttpLogger } from './options.js';
import type { IngestResult } from './request.js';

const JSON_HEADERS = { 'Cache-Control': 'no-store' };

/** @internal */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): IngestResult {
  return { kind: 'json', status, headers: { ...JSON_HEADERS, ...headers }, body };
}

/** Messages clients get for a server-side failure: what happened, never how (hosts, drivers, stacks). */
const GENERIC: Record<string, string> = {
  E_SINK: 'The database is unavailable or refused the import. Try again later; if it persists, give the error id to the server operator.',
  E_OPTIONS: 'The server is misconfigured. Give the error id to the server operator.',
  E_INTERNAL: 'Internal error. Give the error id to the server operator.',
};

/** @internal */
export interface ClientView {
  exposeMemory: boolean;
}

const MEMORY_FIELDS = ['heapUsedBytes', 'rssBytes', 'peakHeapUsedBytes', 'peakRssBytes'] as const;

/**
 * A snapshot or report as a client may see it: the process's memory figures only when the server
 * opted in, and a server-side error's message replaced by the generic one.
 * @internal
 */
export function forClient<T extends IngestSnapshot | IngestReport>(value: T, view: ClientView): T {
  const out: Record<string, unknown> = { ...value };
  if (!view.exposeMemory) for (const f of MEMORY_FIELDS) delete out[f];
  const error = (value as IngestReport).error;
  if (error && GENERIC[error.code]) out.error = { code: error.code, message: GENERIC[error.code] };
  return out as T;
}

/**
 * The answer for an error. A client error (4xx) says what to fix. A server error (5xx, or anything
 * that is not an IngestError) gets a generic message and an error id; the details, with the error
 * object as `err`, go to the logger under the same id.
 * @internal
 */
export function errorResult(err: unknown, ctx: { logger: HttpLogger; view: ClientView; importId?: string | undefined; headers?: Record<string, string> }): IngestResult {
  const known = isIngestError(err);
  const status = known ? err.statusCode : 500;
  const code = known ? err.code : IngestErrorCode.E_INTERNAL;
  const report = known ? err.report : undefined;
  const importId = ctx.importId ?? report?.id;
  let error: Record<string, unknown> = { code, message: known ? err.message : '' };
  if (status >= 500) {
    const errorId = randomUUID();
    ctx.logger.error({ err, importId, errorId }, `import request failed: ${code}`);
    error = { code, message: GENERIC[code] ?? GENERIC.E_INTERNAL, errorId };
  }
  const body = report ? { error, report: forClient(report, ctx.view) } : { error };
  return { ...json(status, body, ctx.headers), error: err } as IngestResult;
}
