export type { UploadMeta, UploadStat, UploadStorage } from './storage/types.js';
export { gridfsStorage } from './storage/gridfs.js';
export type { GridfsStorageOptions } from './storage/gridfs.js';
