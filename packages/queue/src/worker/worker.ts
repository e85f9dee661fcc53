import { Worker, WaitingError, UnrecoverableError, type Job } from 'bullmq';
import {
  createIngestPipeline,
  endedReport,
  IngestError,
  IngestErrorCode,
  invalidOption,
  numberOption,
  type Checkpoint,
  type CheckpointStore,
  type IngestLogger,
  type IngestPipeline,
  type IngestPipelineOptions,
  type IngestReport,
} from '@anti-oom/core';
import { bullConnection, checkConnection, checkPrefix, openRedis, type RedisConnection } from '../connection.js';
import { ImportStore } from '../state/import-store.js';
import type { UploadStorage } from '../storage/types.js';
import { Cleanup } from './cleanup.js';
import { Publisher } from './publisher.js';
import { withCountersOf } from '../state/reports.js';

/** What the worker's `pipeline` callback returns: the pipeline options of one import. `id`, `resume` (but `intervalMs`) and `signal` are the worker's. */
export type WorkerPipelineOptions = Omit<IngestPipelineOptions, 'id' | 'signal' | 'resume'> & { resume?: { intervalMs?: number } };

/** What a finished job returns (BullMQ keeps it as the job's return value): the report, without its failures. */
export interface IngestJobResult {
  state: IngestReport['state'];
  rowsRead: number;
  rowsWritten: number;
  rowsFailed: number;
  rowsSkipped: number;
  resumed?: IngestReport['resumed'];
  error?: IngestReport['error'];
}

/** Options of {@link createIngestWorker}. */
export interface IngestWorkerOptions {
  /** Redis: ioredis options (`{ host, port }`) or a `redis://` URL. The same Redis as the queue's. */
  connection: RedisConnection;
  /** Where the uploads are: the same storage as the queue's. */
  storage: UploadStorage;
  /**
   * The pipeline options of one import, from its job: `job.data` is what the app's `job`
   * callback returned when the upload was enqueued.
   *
   * @example
   * ```ts
   * pipeline: (job) => ({ sink: mongoSink(db.collection(job.data.collection)) })
   * ```
   */
  pipeline: (job: Job) => WorkerPipelineOptions | Promise<WorkerPipelineOptions>;
  /**
   * Where checkpoints are kept, so a job taken over after a crash continues where the last
   * worker stopped: `mongoCheckpoints(db.collection('anti_oom_checkpoints'))`. Required.
   */
  checkpoints: CheckpointStore;
  /**
   * Imports this worker runs at the same time.
   * @defaultValue `1`
   */
  concurrency?: number;
  /** Key prefix in Redis; the same as the queue's. @defaultValue `'anti-oom'` */
  prefix?: string;
  /** BullMQ queue name; the same as the queue's. @defaultValue `'imports'` */
  queueName?: string;
  /**
   * How long an ended import (its status, report and events) stays in Redis, in milliseconds.
   * @defaultValue `3_600_000` (1 hour)
   */
  keepEndedMs?: number;
  /**
   * How long the uploaded file is kept after its import ended, for audit, in milliseconds; `0`
   * deletes it at once.
   * @defaultValue `0`
   */
  keepFilesMs?: number;
  /**
   * Uploads never completed (a tus upload abandoned half way) are deleted this long after they
   * were created, in milliseconds.
   * @defaultValue `86_400_000` (24 hours)
   */
  incompleteUploadTtlMs?: number;
  /**
   * How often the worker deletes files whose audit time is over and abandoned uploads, in milliseconds.
   * @defaultValue `60_000`
   */
  sweepIntervalMs?: number;
  /**
   * How long a job stays locked to a worker that stopped renewing the lock (a crashed process),
   * in milliseconds: another worker takes over at most this long plus `stalledIntervalMs` after
   * a crash. BullMQ's `lockDuration`.
   * @defaultValue `30_000`
   */
  lockDurationMs?: number;
  /** How often the worker looks for stalled jobs, in milliseconds. BullMQ's `stalledInterval`. @defaultValue `30_000` */
  stalledIntervalMs?: number;
  /**
   * How many times a job may stall (its worker crashed) before it fails. Each takeover resumes
   * from the last checkpoint, so this only guards against a file that kills every worker.
   * @defaultValue `5`
   */
  maxStalledCount?: number;
  /** A pino-compatible logger. */
  logger?: IngestLogger;
}

/** A running worker. */
export interface IngestWorker {
  /** The BullMQ worker, for its events (`completed`, `failed`, `error`, ...). */
  readonly worker: Worker;
  /**
   * Stops taking jobs, stops the running imports at a batch boundary (their checkpoint stored)
   * and hands their jobs back to the queue for another worker, then closes the connections.
   */
  close(): Promise<void>;
}

/** Errors worth another attempt: the database or the storage may come back. */
function retryable(err: IngestError): boolean {
  return err.code === IngestErrorCode.E_SINK || err.code === IngestErrorCode.E_SOURCE || err.code === IngestErrorCode.E_INTERNAL;
}

function jobResult(report: IngestReport): IngestJobResult {
  const { state, rowsRead, rowsWritten, rowsFailed, rowsSkipped, resumed, error } = report;
  return { state, rowsRead, rowsWritten, rowsFailed, rowsSkipped, ...(resumed ? { resumed } : {}), ...(error ? { error } : {}) };
}

/** The report of an import a worker finished but did not live to announce, from its completed checkpoint. */
function fromCompletedCheckpoint(id: string, checkpoint: Checkpoint | undefined): IngestReport | undefined {
  if (!checkpoint?.completed) return undefined;
  const c = checkpoint.counters;
  const report = endedReport(id, 'failed', { code: '', message: '' });
  delete report.error;
  return {
    ...report,
    state: 'done',
    rowsRead: c.rowsRead,
    rowsWritten: c.rowsWritten,
    rowsFailed: c.rowsFailed,
    rowsSkipped: c.rowsSkipped,
    batchesWritten: c.batchesWritten,
    inserted: c.inserted,
    upserted: c.upserted,
    matched: c.matched,
    modified: c.modified,
    bytesAcknowledged: checkpoint.offset,
    failures: checkpoint.failures,
    failuresTruncated: c.rowsFailed > checkpoint.failures.length,
    ...(checkpoint.resumes > 0 ? { resumed: { fromLine: checkpoint.resumedFromLine ?? 0, fromByte: checkpoint.resumedFromByte ?? 0, times: checkpoint.resumes } } : {}),
  };
}

interface Running {
  pipeline: IngestPipeline;
  /** Why it is being stopped, once it is. */
  stop: 'cancel' | 'shutdown' | undefined;
}

/**
 * A worker process's import runner: takes import jobs from the BullMQ queue, reads each upload
 * from the storage and runs `createIngestPipeline` with `resume` under the import's id, so a job
 * taken over after a crash (BullMQ's stalled-job recovery) continues from the last checkpoint
 * and writes no row twice. Progress, row failures and the report go to Redis, where every app
 * instance reads them; a cancel from any instance reaches the import within one batch. Jobs that
 * fail with the database down are retried with backoff (the queue's `attempts`), then end
 * `failed` with the report.
 *
 * @example
 * ```ts
 * const worker = createIngestWorker({
 *   connection: { host: 'redis', port: 6379 },
 *   storage: gridfsStorage(db),
 *   checkpoints: mongoCheckpoints(db.collection('anti_oom_checkpoints')),
 *   pipeline: (job) => ({ sink: mongoSink(db.collection(job.data.collection)) }),
 *   concurrency: 2,
 * });
 * process.once('SIGTERM', () => void worker.close());
 * ```
 */
export function createIngestWorker(options: IngestWorkerOptions): IngestWorker {
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
  const connection = checkConnection(options.connection);
  const storage = options.storage;
  if (storage === null || typeof storage !== 'object' || typeof storage.source !== 'function') {
    throw invalidOption('storage', 'an UploadStorage such as gridfsStorage(db) or s3Storage({ client, bucket })', storage);
  }
  if (typeof options.pipeline !== 'function') throw invalidOption('pipeline', 'a function (job) => pipeline options, such as (job) => ({ sink: mongoSink(collection) })', options.pipeline);
  const checkpoints = options.checkpoints;
  if (checkpoints === null || typeof checkpoints !== 'object' || typeof checkpoints.load !== 'function') {
    throw new IngestError(
      IngestErrorCode.E_OPTIONS,
      "createIngestWorker needs a checkpoint store, so a job taken over after a crash continues where it stopped: pass checkpoints: mongoCheckpoints(db.collection('anti_oom_checkpoints')).",
      { option: 'checkpoints' },
    );
  }
  const prefix = checkPrefix(options.prefix, 'prefix');
  const queueName = checkPrefix(options.queueName, 'queueName');
  const ms = { integer: true } as const;
  const concurrency = numberOption('concurrency', options.concurrency, 1, { min: 1, integer: true });
  const keepEndedMs = numberOption('keepEndedMs', options.keepEndedMs, 3_600_000, { min: 1, integer: true });
  const keepFilesMs = numberOption('keepFilesMs', options.keepFilesMs, 0, ms);
  const incompleteUploadTtlMs = numberOption('incompleteUploadTtlMs', options.incompleteUploadTtlMs, 86_400_000, { min: 1, integer: true });
  const sweepIntervalMs = numberOption('sweepIntervalMs', options.sweepIntervalMs, 60_000, { min: 1, integer: true });
  const lockDuration = numberOption('lockDurationMs', options.lockDurationMs, 30_000, { min: 1, integer: true });
  const stalledInterval = numberOption('stalledIntervalMs', options.stalledIntervalMs, 30_000, { min: 1, integer: true });
  const maxStalledCount = numberOption('maxStalledCount', options.maxStalledCount, 5, ms);
  const logger = options.logger;

  const onRedisError = (err: Error): void => logger?.warn({ err }, 'anti-oom worker: Redis is unreachable; reconnecting');
  const redis = openRedis(connection, 'anti-oom-worker', onRedisError);
  const subscriber = openRedis(connection, 'anti-oom-worker-cancel', onRedisError);
  // State writes wait through a Redis restart rather than failing the import.
  const store = new ImportStore(redis, { prefix, activeTtlMs: Math.max(keepEndedMs, 24 * 3_600_000) });
  const cleanup = new Cleanup(redis, storage, { prefix, keepFilesMs, incompleteUploadTtlMs, sweepIntervalMs, logger });
  const running = new Map<string, Running>();
  let closing = false;

  const stopOne = (id: string, why: 'cancel' | 'shutdown'): void => {
    const r = running.get(id);
    if (!r || r.stop) return;
    r.stop = why;
    r.pipeline.abort(why === 'cancel' ? 'The import was cancelled.' : 'The worker is shutting down; the import continues on another worker.');
  };
  void subscriber.subscribe(store.cancelChannel).catch((err: unknown) => logger?.error({ err }, 'anti-oom worker: subscribing to cancels failed'));
  subscriber.on('message', (_channel: string, id: string) => stopOne(id, 'cancel'));

  async function end(id: string, report: IngestReport): Promise<void> {
    await store.finish(id, report, keepEndedMs);
    await cleanup.ended(id);
  }

  async function processJob(job: Job, token?: string): Promise<IngestJobResult> {
    const id = job.id!;
    const state = await store.running(id);
    if (state === undefined) {
      // Its state expired (or Redis lost it): nobody can watch it; the file is of no use.
      logger?.warn({ importId: id }, 'anti-oom worker: a job for an unknown import was dropped');
      await cleanup.ended(id);
      return { state: 'aborted', rowsRead: 0, rowsWritten: 0, rowsFailed: 0, rowsSkipped: 0 };
    }
    if (state !== 'running') return { state: state as IngestReport['state'], rowsRead: 0, rowsWritten: 0, rowsFailed: 0, rowsSkipped: 0 };
    let pipeline: IngestPipeline;
    let entry: Running;
    try {
      const given = await options.pipeline(job);
      const source = await storage.source(id);
      pipeline = createIngestPipeline({
        ...given,
        ...(given.logger === undefined && logger ? { logger } : {}),
        id,
        resume: { store: checkpoints, key: id, ...(given.resume?.intervalMs !== undefined ? { intervalMs: given.resume.intervalMs } : {}) },
      });
      entry = { pipeline, stop: undefined };
      running.set(id, entry);
      const publisher = new Publisher(store, id, 1000, () => stopOne(id, 'cancel'), (err) => logger?.warn({ err, importId: id }, 'anti-oom worker: a progress update could not be stored'));
      pipeline.on('progress', (s) => publisher.snapshot(s));
      pipeline.on('checkpoint', () => publisher.snapshot(pipeline.snapshot()));
      pipeline.on('rowFailure', (f) => publisher.failure(f));
      // The cancel flag, read after this import is in `running`: a cancel published before is seen here, one after by the subscriber.
      if ((await store.get(id))?.cancelled) stopOne(id, 'cancel');
      if (closing) stopOne(id, 'shutdown');
      let report: IngestReport;
      try {
        report = await pipeline.run(source);
      } catch (err) {
        const e = err instanceof IngestError ? err : new IngestError(IngestErrorCode.E_INTERNAL, String(err));
        report = e.report ?? endedReport(id, 'failed', { code: e.code, message: e.message });
        await publisher.flush();
        if (entry.stop === 'shutdown') {
          // Checkpointed at a batch boundary: hand the job back for another worker.
          await job.moveToWait(token);
          throw new WaitingError();
        }
        if (entry.stop !== 'cancel' && e.code === IngestErrorCode.E_ALREADY_DONE) {
          // A worker finished the import and died before it said so: nothing is left to write.
          report = fromCompletedCheckpoint(id, await checkpoints.load(id)) ?? report;
        } else if (entry.stop !== 'cancel' && retryable(e) && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) {
          logger?.warn({ err: e, importId: id, attempt: job.attemptsMade + 1 }, 'anti-oom worker: the import stopped; it will be retried from its checkpoint');
          throw e;
        }
        report = withCountersOf(report, (await store.get(id))?.snapshot);
        await end(id, report);
        if (report.state === 'aborted') return jobResult(report);
        throw new UnrecoverableError(`${e.code}: ${e.message}`);
      }
      await publisher.flush();
      await end(id, report);
      return jobResult(report);
    } catch (err) {
      if (err instanceof WaitingError || err instanceof UnrecoverableError || err instanceof IngestError) throw err;
      // The storage or the pipeline callback failed before the import started: retried like a database error.
      const e = new IngestError(IngestErrorCode.E_INTERNAL, `The import could not start: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
      if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw e;
      await end(id, endedReport(id, 'failed', { code: e.code, message: e.message }));
      throw new UnrecoverableError(e.message);
    } finally {
      running.delete(id);
    }
  }

  const worker = new Worker(queueName, processJob, {
    connection: bullConnection(connection),
    prefix,
    concurrency,
    lockDuration: lockDuration,
    stalledInterval: stalledInterval,
    maxStalledCount,
    // The imports are long: BullMQ renews the lock at half its duration.
    removeOnComplete: { age: Math.ceil(keepEndedMs / 1000) },
    removeOnFail: { age: Math.ceil(keepEndedMs / 1000) },
  });
  worker.on('error', (err) => logger?.error({ err }, 'anti-oom worker: BullMQ error'));
  cleanup.start();

  let closed: Promise<void> | undefined;
  return {
    worker,
    close() {
      closed ??= (async () => {
        closing = true;
        cleanup.stop();
        const stopping = worker.close();
        for (const id of running.keys()) stopOne(id, 'shutdown');
        await stopping;
        await Promise.all([redis.quit().catch(() => undefined), subscriber.quit().catch(() => undefined)]);
      })();
      return closed;
    },
  };
}
