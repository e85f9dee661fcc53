import type { Readable } from 'node:stream';
import type { IngestReport, IngestSnapshot, RowFailure } from '@anti-oom/core';

/** Where a queued import stands: `queued` once its file is stored and its job waits for a worker. */
export type QueuedState = 'pending' | 'queued' | 'running' | 'done' | 'failed' | 'aborted';

/** An import as the queue keeps it (in Redis). */
export interface QueuedImportRecord {
  id: string;
  owner: string | undefined;
  quotaKey: string;
  state: QueuedState;
  createdAt: number;
  claimed: boolean;
  snapshot: IngestSnapshot | undefined;
  report: IngestReport | undefined;
  doneSeq: number | undefined;
  failuresDropped: number;
}

/** An event of a queued import, numbered by the queue. */
export type QueuedImportEvent = { seq: number; kind: 'rowFailure'; failure: RowFailure } | { seq: number; kind: 'done'; report: IngestReport };

/**
 * What the `queue` option must provide: `createIngestQueue(...)` from `@anti-oom/queue` is one.
 * The HTTP layer stores uploads through `storage`, and reads and changes imports only through
 * these methods, so any app instance serves any import.
 */
export interface ImportQueue {
  readonly storage: {
    create(id: string, meta: { length?: number | undefined; filename?: string | undefined }): Promise<void>;
    append(id: string, offset: number, body: Readable, signal?: AbortSignal): Promise<number>;
    complete(id: string): Promise<void>;
    delete(id: string): Promise<void>;
  };
  create(options: { owner?: string | undefined; quotaKey?: string; pendingTimeoutMs?: number; maxFailureEvents?: number }): Promise<QueuedImportRecord>;
  get(id: string): Promise<QueuedImportRecord | undefined>;
  view(id: string, after: number): Promise<{ record: QueuedImportRecord; events: QueuedImportEvent[] } | undefined>;
  claim(id: string, quotaKey: string): Promise<boolean>;
  /** Gives a claimed import back to `pending` (its upload failed before any byte was stored). */
  release(id: string): Promise<void>;
  liveOf(quotaKey: string): Promise<{ pending: number; active: number }>;
  enqueue(id: string, data: unknown): Promise<void>;
  fail(id: string, err: unknown, keepEndedMs?: number): Promise<IngestReport>;
  cancel(id: string, keepEndedMs?: number): Promise<'aborted' | 'cancelling' | 'ended' | 'unknown'>;
}
