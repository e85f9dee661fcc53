/**
 * Scale-out for Anti-OOM: uploads land in shared storage, each import is a BullMQ job that any
 * worker process runs (and another continues after a crash, from its last checkpoint), and the
 * progress, failures and report are in Redis, where every app instance reads them.
 *
 * @packageDocumentation
 */
export type { UploadMeta, UploadStat, UploadStorage } from './storage/types.js';
export { createIngestQueue, IngestQueue } from './queue.js';
export type { CancelOutcome, ImportView, IngestQueueOptions } from './queue.js';
export { createIngestWorker } from './worker/worker.js';
export type { IngestJobResult, IngestWorker, IngestWorkerOptions, WorkerPipelineOptions } from './worker/worker.js';
export type { ImportEvent, ImportRecord, QueuedImportState } from './state/import-store.js';
export type { RedisConnection } from './connection.js';
export { DEFAULT_PREFIX, DEFAULT_QUEUE_NAME } from './connection.js';
export { gridfsStorage } from './storage/gridfs.js';
export type { GridfsStorageOptions } from './storage/gridfs.js';
export { createTusHandler, formatUploadMetadata, parseUploadMetadata, tusAction, TUS_EXTENSIONS, TUS_VERSION } from './tus/index.js';
export type { TusAction, TusHandlerOptions, TusRequest, TusResult } from './tus/index.js';
export { s3Storage } from './storage/s3.js';
export type { S3ClientLike, S3StorageOptions } from './storage/s3.js';
