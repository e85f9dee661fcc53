import type { Readable } from 'node:stream';
import type { SeekableSource } from '@anti-oom/core';

/** What is kept with an upload: who sent it and what it is. Small, JSON-serializable. */
export interface UploadMeta {
  /** The total size in bytes when the client announced it (tus `Upload-Length`, `Content-Length`). */
  length?: number | undefined;
  /** The client's file name, for display only; never used as a path. */
  filename?: string | undefined;
  /** Anything else the application wants to keep with the upload (strings only). */
  extra?: Record<string, string> | undefined;
}

/** Where an upload stands in storage. */
export interface UploadStat {
  /** Bytes stored so far: where the next append must start (tus `Upload-Offset`). */
  offset: number;
  meta: UploadMeta;
  /** `complete()` has been called: the upload is read-only and can be read as a source. */
  complete: boolean;
  /** When the upload was created (ms since the epoch). */
  createdAt: number;
}

/**
 * Shared storage for uploaded files: every app instance writes into it, every worker reads from
 * it. An upload is created empty, appended to in order (an append may be cut short: the bytes
 * that arrived are kept, so a client can continue from {@link UploadStat.offset}), completed,
 * then read from any offset by the worker that imports it, and deleted when the import ends.
 *
 * Implementations: `gridfsStorage(db)` and `s3Storage({ client, bucket })`.
 */
export interface UploadStorage {
  /** Creates an empty upload named `id` (a UUID chosen by the caller). Rejects if it exists. */
  create(id: string, meta: UploadMeta): Promise<void>;
  /**
   * Streams `body` onto the end of upload `id`. `offset` must equal the bytes stored so far (else
   * rejects with `E_CONFLICT` and writes nothing). Holds a bounded amount of memory whatever the
   * body's size. When the body errors or `signal` aborts, the bytes already received are kept as
   * far as the storage can (at least up to its last durable part) and the promise rejects;
   * {@link stat} then tells where to continue. Resolves with the new offset.
   */
  append(id: string, offset: number, body: Readable, signal?: AbortSignal): Promise<number>;
  /** Where upload `id` stands, or `undefined` when there is no such upload. */
  stat(id: string): Promise<UploadStat | undefined>;
  /** Marks upload `id` complete: no more appends; {@link source} may read it. Idempotent. */
  complete(id: string): Promise<void>;
  /** The completed upload as a source readable from any byte offset (what `resume` needs). */
  source(id: string): Promise<SeekableSource & { size: number }>;
  /** Deletes upload `id` and everything stored for it. Idempotent. */
  delete(id: string): Promise<void>;
  /** Deletes uploads never completed and created before `createdBefore` (ms since the epoch); resolves with how many. */
  deleteIncomplete(createdBefore: number): Promise<number>;
}
