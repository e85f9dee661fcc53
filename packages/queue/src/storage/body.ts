import type { Readable } from 'node:stream';
import { IngestError, IngestErrorCode, isIngestError } from '@anti-oom/core';
import type { UploadMeta } from './types.js';

/**
 * Reads `body` as pieces of exactly `size` bytes (the last one shorter), starting with `head`
 * (bytes already stored that the first piece must begin with, such as a partial last chunk).
 * Holds one piece of `size` bytes plus one incoming chunk. Pure pacing: the caller awaits each piece
 * before the next is read, so a slow store slows the socket, not the heap.
 *
 * When `body` fails or `signal` aborts, the bytes received so far come out as a final piece with
 * `error` set, so the caller can keep them before rejecting.
 * @internal
 */
export async function* pieces(
  body: Readable,
  size: number,
  head: Buffer,
  signal?: AbortSignal,
): AsyncGenerator<{ bytes: Buffer; last: boolean; error?: unknown }> {
  // One buffer per piece, filled by copying: holding the incoming chunks and then concatenating
  // them would hold every piece twice.
  let piece = Buffer.allocUnsafe(size);
  head.copy(piece);
  let held = head.length;
  const onAbort = (): void => void body.destroy(abortError(signal!));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      let bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      while (bytes.length > 0) {
        const take = Math.min(size - held, bytes.length);
        bytes.copy(piece, held, 0, take);
        held += take;
        bytes = bytes.subarray(take);
        if (held === size) {
          yield { bytes: piece, last: false };
          // Only once the consumer has stored it: two pieces are never held at once.
          piece = Buffer.allocUnsafe(size);
          held = 0;
        }
      }
    }
  } catch (err) {
    yield { bytes: piece.subarray(0, held), last: true, error: signal?.aborted ? abortError(signal) : bodyError(err) };
    return;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  yield { bytes: piece.subarray(0, held), last: true };
}

function abortError(signal: AbortSignal): IngestError {
  const reason: unknown = signal.reason;
  if (isIngestError(reason)) return reason;
  return new IngestError(IngestErrorCode.E_ABORTED, 'The upload was aborted; the bytes that arrived are kept, ask for the offset and continue.', {}, { cause: reason });
}

function bodyError(err: unknown): IngestError {
  if (isIngestError(err)) return err;
  return new IngestError(IngestErrorCode.E_SOURCE, 'The upload broke off; the bytes that arrived are kept, ask for the offset and continue.', {}, { cause: err });
}

/**
 * The error for bytes past the length the client announced: the bytes up to that length are kept
 * and the upload can be completed.
 * @internal
 */
export function pastLength(length: number): IngestError {
  return new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `The upload is longer than the ${length} bytes announced.`, { limit: length });
}

/** Upload metadata checked and copied: no prototype tricks, strings only, nothing unexpected. @internal */
export function cleanMeta(meta: UploadMeta): UploadMeta {
  const out: UploadMeta = {};
  if (meta.length !== undefined) {
    if (!Number.isSafeInteger(meta.length) || meta.length < 0) throw new IngestError(IngestErrorCode.E_BAD_REQUEST, 'The upload length must be a whole number of bytes.');
    out.length = meta.length;
  }
  if (meta.filename !== undefined) out.filename = String(meta.filename);
  if (meta.extra !== undefined) {
    const extra: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(meta.extra)) extra[k] = String(v);
    out.extra = extra;
  }
  return out;
}

/**
 * Metadata as stored: `extra` as a list of `{ k, v }`, since its keys come from clients and may be
 * `$x` or `a.b` (and FerretDB stores no nested arrays). @internal
 */
export interface StoredMeta {
  length?: number;
  filename?: string;
  extra?: { k: string; v: string }[];
}

/** @internal */
export function storeMeta(meta: UploadMeta): StoredMeta {
  const out: StoredMeta = {};
  if (meta.length !== undefined) out.length = meta.length;
  if (meta.filename !== undefined) out.filename = meta.filename;
  if (meta.extra !== undefined) out.extra = Object.entries(meta.extra).map(([k, v]) => ({ k, v }));
  return out;
}

/** @internal */
export function loadMeta(stored: StoredMeta | undefined): UploadMeta {
  const out: UploadMeta = {};
  if (!stored) return out;
  if (typeof stored.length === 'number') out.length = stored.length;
  if (typeof stored.filename === 'string') out.filename = stored.filename;
  if (Array.isArray(stored.extra)) {
    const extra: Record<string, string> = {};
    for (const { k, v } of stored.extra) Object.defineProperty(extra, k, { value: v, enumerable: true, writable: true, configurable: true });
    out.extra = extra;
  }
  return out;
}
