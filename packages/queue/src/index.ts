export type { UploadMeta, UploadStat, UploadStorage } from './storage/types.js';
