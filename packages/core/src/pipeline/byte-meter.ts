import { Transform, type TransformCallback } from 'node:stream';
import { IngestError, IngestErrorCode } from '../errors.js';

/**
 * Largest piece handed to the parser. The parser emits the records of one piece together, and
 * every stage after it buffers a piece's records as one unit, so the rows held between the parser
 * and the sink grow with the piece: a 1 MiB chunk from the source (a file read with a large
 * `highWaterMark`, a big string) would otherwise make arrays of ~10,000 rows, several per stage.
 * 16 KiB (~150 rows of 100 bytes) rather than 64: measured side by side on the 10-column clients
 * file through the driver, CPU per row 13.1 µs instead of 15.9 and peak RSS 112 MB instead of 117
 * (CLI), 11.1 µs and 109 MB instead of 13.5 and 113 (library): fewer rows wait between the stages,
 * so fewer are alive at each young-generation collection.
 */
export const MAX_PIECE_BYTES = 16 * 1024;

/**
 * Counts the bytes that pass and ends the stream with `E_FILE_TOO_LARGE` past `limit`.
 * Strings are turned into UTF-8 bytes here, so later stages see bytes only; chunks larger than
 * {@link MAX_PIECE_BYTES} go on in pieces (views of the same memory, no copy).
 * @internal
 */
export function createByteMeter(limit: number, onBytes: (total: number) => void, start = 0): Transform {
  // A resumed import counts from its offset, so the limit applies to the whole source.
  let total = start;
  return new Transform({
    writableObjectMode: true,
    // One source chunk waiting here, not object mode's default of 16: a file read in 256 KiB
    // chunks would otherwise hold 4 MiB of Buffers ahead of the parser.
    writableHighWaterMark: 1,
    // The next chunk is taken only once every piece of this one has been read.
    readableHighWaterMark: 1,
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
      // Queued together; the parser reads them one at a time.
      for (let at = 0; at < bytes.length; at += MAX_PIECE_BYTES) this.push(bytes.subarray(at, at + MAX_PIECE_BYTES));
      callback();
    },
  });
}
