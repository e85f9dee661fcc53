import type { RowFailure } from '../types.js';
import { RowFailureCode } from '../types.js';

/** One per-document error from a bulk write, as the driver reports it. @internal */
export interface DriverWriteError {
  index: number;
  code: number | undefined;
  message: string;
  keyValue?: Record<string, unknown> | undefined;
}

/** Per-document errors and counts out of a MongoBulkWriteError, or undefined for any other error. @internal */
export function readBulkWriteError(err: unknown):
  | {
      writeErrors: DriverWriteError[];
      inserted: number;
      matched: number;
      modified: number;
      upserted: number;
    }
  | undefined {
  if (err === null || typeof err !== 'object' || (err as { name?: unknown }).name !== 'MongoBulkWriteError') return undefined;
  const e = err as {
    writeErrors?: unknown;
    result?: { insertedCount?: number; matchedCount?: number; modifiedCount?: number; upsertedCount?: number };
    insertedCount?: number;
    matchedCount?: number;
    modifiedCount?: number;
    upsertedCount?: number;
  };
  const raw = e.writeErrors === undefined ? [] : Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
  const writeErrors = raw.map((w: { index?: number; code?: number; errmsg?: string; message?: string; err?: { keyValue?: Record<string, unknown>; errInfo?: unknown } }) => ({
    index: w.index ?? -1,
    code: w.code,
    message: w.errmsg ?? w.message ?? 'unknown error',
    keyValue: (w as { keyValue?: Record<string, unknown> }).keyValue ?? w.err?.keyValue,
  }));
  const r = e.result ?? e;
  return {
    writeErrors,
    inserted: r.insertedCount ?? 0,
    matched: r.matchedCount ?? 0,
    modified: r.modifiedCount ?? 0,
    upserted: r.upsertedCount ?? 0,
  };
}

const DUPLICATE_KEY = 11000;
const DOCUMENT_VALIDATION_FAILURE = 121;

/** Whether a write error is a duplicate key. @internal */
export function isDuplicateKey(error: DriverWriteError): boolean {
  return error.code === DUPLICATE_KEY || error.code === 11001;
}

/**
 * Keeps the database's own text with a failure for the server's logs, out of every JSON form of it.
 * @internal
 */
export function withDetail<T extends RowFailure>(failure: T, detail: string): T {
  Object.defineProperty(failure, 'detail', { value: detail, enumerable: false });
  return failure;
}

/**
 * The row failure a per-document server error becomes. The message says what a client may see (the
 * code, the field, the key value); the driver's text, which names the collection, the index and
 * sometimes the server, goes only into the non-enumerable `detail`.
 * @internal
 */
export function toRowFailure(line: number, error: DriverWriteError): RowFailure {
  if (isDuplicateKey(error)) {
    const column = error.keyValue ? Object.keys(error.keyValue)[0] : undefined;
    const shown = error.keyValue ? ` ${safeJson(error.keyValue)}` : '';
    return withDetail(
      { line, code: RowFailureCode.E_DUPLICATE_KEY, message: `A document with the same unique key${shown} already exists.`, ...(column === undefined ? {} : { column }) },
      error.message,
    );
  }
  if (error.code === DOCUMENT_VALIDATION_FAILURE) {
    return withDetail({ line, code: RowFailureCode.E_WRITE, message: "The collection's validator rejected the document (code 121)." }, error.message);
  }
  return withDetail({ line, code: RowFailureCode.E_WRITE, message: `The database refused the document${error.code ? ` (code ${error.code})` : ''}.` }, error.message);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
