import type { Readable } from 'node:stream';
import { Queue } from 'bullmq';
import { endedReport, IngestError, IngestErrorCode, invalidOption, numberOption, type IngestReport } from '@anti-oom/core';
import { bullConnection, checkConnection, checkPrefix, openRedis, type RedisConnection } from './connection.js';
import { ImportStore, type ImportEvent, type ImportRecord } from './state/import-store.js';
import { withCountersOf } from './state/reports.js';
import type { UploadMeta, UploadStorage } from './storage/types.js';
import { createTusHandler, tusAction, type TusAction, type TusHandlerOptions, type TusRequest, type TusResult } from './tus/index.js';

/** Options of {@link createIngestQueue}. */
export interface IngestQueueOptions {
  /** Redis: ioredis options (`{ host, port }`) or a `redis://` URL. */
  connection: RedisConnection;
  /** Where uploads are stored until a worker has imported them: `gridfsStorage(db)` or `s3Storage({ client, bucket })`. */
  storage: UploadStorage;
  /** Key prefix in Redis (BullMQ's keys and the import state); the workers must use the same. @defaultValue `'anti-oom'` */
  prefix?: string;
  /** BullMQ queue name; the workers must use the same. @defaultValue `'imports'` */
  queueName?: string;
  /**
   * Attempts of an import whose database (or storage) is down: each retry continues from the
   * last checkpoint; after the last one the import ends `failed` with its report.
   * @defaultValue `5`
   */
  attempts?: number;
  /**
   * First wait before a retry, in milliseconds; doubled at each further attempt (exponential backoff).
   * @defaultValue `5_000`
   */
  backoffMs?: number;
  /**
   * How long an import that has not ended may go without news before Redis forgets it, in
   * milliseconds (each progress update renews it; a cluster stopped for good must not leave keys behind).
   * @defaultValue `86_400_000` (24 hours)
   */
  activeTtlMs?: number;
}

/** An import's state and its events, as any app instance reads them. */
export interface ImportView {
  record: ImportRecord;
  /** Events after the sequence number asked for, in order. */
  events: ImportEvent[];
}

/** What `cancel` did. */
export type CancelOutcome = 'aborted' | 'cancelling' | 'ended' | 'unknown';

/**
 * The app side of queue mode: imports are created and watched in Redis, uploads are stored in
 * `storage`, and each import becomes one BullMQ job (job id = import id) that a worker started
 * with `createIngestWorker` runs. Give it to `@anti-oom/http` (and so `@anti-oom/express`,
 * `@anti-oom/fastify`) as the `queue` option, or use it directly.
 *
 * @example
 * ```ts
 * const queue = createIngestQueue({ connection: { host: 'redis', port: 6379 }, storage: gridfsStorage(db) });
 * app.use('/imports', ingestRouter({ queue, authorize, owner, job: (ctx, fields) => ({ collection: fields.collection }) }));
 * ```
 */
export class IngestQueue {
  /** The uploads' storage. */
  readonly storage: UploadStorage;
  /** The BullMQ queue (for its metrics, or to pause it). */
  readonly queue: Queue;
  /** @internal */
  readonly store: ImportStore;
  readonly #attempts: number;
  readonly #backoffMs: number;

  /** @internal Use {@link createIngestQueue}. */
  constructor(options: IngestQueueOptions) {
    if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
    const connection = checkConnection(options.connection);
    const storage = options.storage;
    if (storage === null || typeof storage !== 'object' || typeof storage.append !== 'function') {
      throw invalidOption('storage', 'an UploadStorage such as gridfsStorage(db) or s3Storage({ client, bucket })', storage);
    }
    this.storage = storage;
    const prefix = checkPrefix(options.prefix, 'prefix');
    this.#attempts = numberOption('attempts', options.attempts, 5, { min: 1, integer: true });
    this.#backoffMs = numberOption('backoffMs', options.backoffMs, 5_000, { integer: true });
    const activeTtlMs = numberOption('activeTtlMs', options.activeTtlMs, 86_400_000, { min: 1, integer: true });
    this.store = new ImportStore(openRedis(connection, 'anti-oom-app'), { prefix, activeTtlMs });
    this.queue = new Queue(checkPrefix(options.queueName, 'queueName'), { connection: bullConnection(connection), prefix });
  }

  /** A new import, waiting for its file (`pendingTimeoutMs`, then forgotten). */
  create(options: { id?: string; owner?: string | undefined; quotaKey?: string; pendingTimeoutMs?: number; maxFailureEvents?: number } = {}): Promise<ImportRecord> {
    return this.store.create(options.owner, options.quotaKey ?? (options.owner !== undefined ? `owner:${options.owner}` : ''), {
      ...(options.id !== undefined ? { id: options.id } : {}),
      pendingTimeoutMs: options.pendingTimeoutMs ?? 600_000,
      maxFailureEvents: options.maxFailureEvents ?? 100,
    });
  }

  /** The import, or undefined when unknown or expired. */
  get(id: string): Promise<ImportRecord | undefined> {
    return this.store.get(id);
  }

  /** The import and its events after sequence number `after`; undefined when unknown or expired. */
  async view(id: string, after: number): Promise<ImportView | undefined> {
    const record = await this.store.get(id);
    if (!record) return undefined;
    // Read after the record, so a `done` seen in the record is also among the events.
    return { record, events: await this.store.events(id, after) };
  }

  /** Claims a pending import for an upload: false when it is not pending or an upload into it has started. */
  claim(id: string, quotaKey: string): Promise<boolean> {
    return this.store.claim(id, quotaKey);
  }

  /** Gives a claimed import back to `pending` (its upload failed before any byte was stored). */
  release(id: string): Promise<void> {
    return this.store.release(id);
  }

  /** Imports of `quotaKey` waiting for a file, and those being uploaded, queued or running. */
  liveOf(quotaKey: string): Promise<{ pending: number; active: number }> {
    return this.store.liveOf(quotaKey);
  }

  /**
   * Enqueues the import of a stored, completed upload: one BullMQ job, id = the import id.
   * `data` must be JSON; the worker's `pipeline(job)` sees it as `job.data`.
   */
  async enqueue(id: string, data: unknown = {}): Promise<void> {
    await this.queue.add('import', data ?? {}, {
      jobId: id,
      attempts: this.#attempts,
      backoff: { type: 'exponential', delay: this.#backoffMs },
      // The import's own state lives in its keys (with their TTLs); the job is only the work.
      removeOnComplete: true,
      removeOnFail: { count: 1000 },
    });
    await this.store.queued(id);
  }

  /**
   * Stores `body` (a CSV, already decompressed) as a new import's file and enqueues it. Resolves
   * with the import's id.
   */
  async add(body: Readable, data: unknown = {}, options: { owner?: string; meta?: UploadMeta; maxFailureEvents?: number } = {}): Promise<string> {
    const record = await this.create({ owner: options.owner, ...(options.maxFailureEvents !== undefined ? { maxFailureEvents: options.maxFailureEvents } : {}) });
    if (!(await this.claim(record.id, record.quotaKey))) throw new IngestError(IngestErrorCode.E_CONFLICT, 'The new import could not be claimed.');
    try {
      await this.storage.create(record.id, options.meta ?? {});
      await this.storage.append(record.id, 0, body);
      await this.storage.complete(record.id);
    } catch (err) {
      await this.fail(record.id, err);
      throw err;
    }
    await this.enqueue(record.id, data);
    return record.id;
  }

  /** Ends an import that never reached a worker (its upload failed) with an empty report, and deletes its file. */
  async fail(id: string, err: unknown, keepEndedMs = 3_600_000): Promise<IngestReport> {
    const e = err instanceof IngestError ? err : new IngestError(IngestErrorCode.E_SOURCE, `The upload failed: ${err instanceof Error ? err.message : String(err)}`);
    const report = e.report ?? endedReport(id, e.code === IngestErrorCode.E_ABORTED ? 'aborted' : 'failed', { code: e.code, message: e.message });
    await this.store.finish(id, report, keepEndedMs);
    await this.storage.delete(id).catch(() => undefined);
    return report;
  }

  /**
   * Cancels an import from any instance: one waiting for its file or its worker ends at once
   * (`'aborted'`); a running one is stopped by its worker within one batch (`'cancelling'`).
   */
  async cancel(id: string, keepEndedMs = 3_600_000): Promise<CancelOutcome> {
    const record = await this.store.get(id);
    if (!record) return 'unknown';
    if (record.state === 'done' || record.state === 'failed' || record.state === 'aborted') return 'ended';
    if (record.state === 'pending' && !record.claimed) {
      await this.store.finish(id, endedReport(id, 'aborted', { code: IngestErrorCode.E_ABORTED, message: 'The import was cancelled before its upload started.' }), keepEndedMs);
      return 'aborted';
    }
    if (record.state === 'queued' || record.state === 'running') {
      // A job no worker holds (waiting, or delayed between two attempts) is removed; BullMQ
      // refuses to remove a locked one, which its worker stops instead.
      const removed = await this.queue.remove(id).catch(() => 0);
      if (removed === 1) {
        // Between two attempts, rows of the earlier ones are written: the report counts them.
        const report = withCountersOf(endedReport(id, 'aborted', { code: IngestErrorCode.E_ABORTED, message: 'The import was cancelled while it waited for a worker.' }), record.snapshot);
        await this.store.finish(id, report, keepEndedMs);
        await this.storage.delete(id).catch(() => undefined);
        return 'aborted';
      }
    }
    return (await this.store.cancel(id)) ? 'cancelling' : 'ended';
  }

  /**
   * A tus 1.0 endpoint (core, creation, termination) over this queue's storage, for the HTTP
   * layer to mount behind its guard: `@anti-oom/http` does, at `{prefix}/tus`.
   * @internal
   */
  tus<Ctx>(options: Omit<TusHandlerOptions<Ctx>, 'storage'>): { handle(req: TusRequest<Ctx>): Promise<TusResult>; action(req: Pick<TusRequest, 'method' | 'id' | 'headers'>): TusAction | undefined } {
    return { handle: createTusHandler({ ...options, storage: this.storage }), action: tusAction };
  }

  /** Closes the connections (the imports go on in the workers). */
  async close(): Promise<void> {
    await this.queue.close();
    await this.store.redis.quit().catch(() => undefined);
  }
}

/** Creates the app side of queue mode. See {@link IngestQueue}. */
export function createIngestQueue(options: IngestQueueOptions): IngestQueue {
  return new IngestQueue(options);
}
