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
  create(options: { id?: string; owner?: string | undefined; quotaKey?: string; pendingTimeoutMs?: number; maxFailureEvents?: number }): Promise<QueuedImportRecord>;
  get(id: string): Promise<QueuedImportRecord | undefined>;
  view(id: string, after: number): Promise<{ record: QueuedImportRecord; events: QueuedImportEvent[] } | undefined>;
  claim(id: string, quotaKey: string): Promise<boolean>;
  /** Gives a claimed import back to `pending` (its upload failed before any byte was stored). */
  release(id: string): Promise<void>;
  liveOf(quotaKey: string): Promise<{ pending: number; active: number }>;
  enqueue(id: string, data: unknown): Promise<void>;
  fail(id: string, err: unknown, keepEndedMs?: number): Promise<IngestReport>;
  cancel(id: string, keepEndedMs?: number): Promise<'aborted' | 'cancelling' | 'ended' | 'unknown'>;
  /** A tus 1.0 endpoint over the storage (mounted at `{prefix}/tus`); absent: no tus routes. */
  tus?<Ctx>(options: {
    maxSize?: number;
    onCreate?: (id: string, meta: TusUploadMeta, context: Ctx | undefined) => void | Promise<void>;
    onComplete: (id: string, meta: TusUploadMeta, context: Ctx | undefined) => void | Promise<void>;
  }): {
    handle(req: TusEndpointRequest<Ctx>): Promise<{ status: number; headers: Record<string, string>; error?: unknown }>;
    action(req: Pick<TusEndpointRequest<Ctx>, 'method' | 'id' | 'headers'>): 'options' | 'create' | 'status' | 'upload' | 'terminate' | undefined;
  };
}

/** What a tus upload carries besides its bytes (from `Upload-Length` and `Upload-Metadata`). */
export interface TusUploadMeta {
  length?: number | undefined;
  filename?: string | undefined;
  extra?: Record<string, string> | undefined;
}

/** A request to the tus endpoint. */
export interface TusEndpointRequest<Ctx> {
  method: string;
  id?: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: () => Readable;
  basePath: string;
  signal?: AbortSignal | undefined;
  context?: Ctx;
}
