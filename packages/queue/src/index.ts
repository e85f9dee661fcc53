export type { UploadMeta, UploadStat, UploadStorage } from './storage/types.js';
export { gridfsStorage } from './storage/gridfs.js';
export type { GridfsStorageOptions } from './storage/gridfs.js';
export { createTusHandler, formatUploadMetadata, parseUploadMetadata, tusAction, TUS_EXTENSIONS, TUS_VERSION } from './tus/index.js';
export type { TusAction, TusHandlerOptions, TusRequest, TusResult } from './tus/index.js';
export { s3Storage } from './storage/s3.js';
export type { S3ClientLike, S3StorageOptions } from './storage/s3.js';
