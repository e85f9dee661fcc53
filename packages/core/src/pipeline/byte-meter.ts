import { Transform, type TransformCallback } from 'node:stream';
import { IngestError, IngestErrorCode } from '../errors.js';

/**
 * Counts the bytes that pass and ends the stream with `E_FILE_TOO_LARGE` past `limit`.
 * Strings are turned into UTF-8 bytes here, so later stages see bytes only.
 * @internal
 */
export function createByteMeter(limit: number, onBytes: (total: number) => void, start = 0): Transform {
  // A resumed import counts from its offset, so the limit applies to the whole source.
  let total = start;
  return new Transform({
    writableObjectMode: true,
    transform(chunk: Buffer | Uint8Array | string, _enc, callback: TransformCallback) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      total += bytes.length;
      onBytes(total);
      if (total > limit) {
        callback(
          new IngestError(IngestErrorCode.E_FILE_TOO_LARGE, `The input is larger than the limit of ${limit} bytes. Split the file, or raise maxInputBytes.`, { limit }),
        );
        return;
      }
      callback(null, bytes);
    },
  });
}
