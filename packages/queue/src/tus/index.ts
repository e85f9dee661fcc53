export { createTusHandler, tusAction, TUS_EXTENSIONS, TUS_VERSION } from './handler.js';
export type { TusAction, TusHandlerOptions, TusRequest, TusResult } from './handler.js';
export { formatUploadMetadata, parseUploadMetadata } from './metadata.js';
