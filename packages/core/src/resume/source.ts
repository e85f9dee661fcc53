import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { FINGERPRINT_BYTES, type SourceFingerprint } from './store.js';

/**
 * A source that can be read from any offset: what a resumable import needs. `fileSource(path)`
 * is one; an object storage reader with ranged GETs can be another.
 */
export interface SeekableSource {
  /** A stream of the source's bytes from byte `start` (0 for the whole source) to the end. */
  open(start: number): Readable;
  /** Total size in bytes, when known: part of the fingerprint, and the denominator of progress. */
  size?: number | undefined;
}

/** Whether `value` is a {@link SeekableSource}. @internal */
export function isSeekableSource(value: unknown): value is SeekableSource {
  return value !== null && typeof value === 'object' && typeof (value as { open?: unknown }).open === 'function' && typeof (value as { pipe?: unknown }).pipe !== 'function';
}

/**
 * Bytes per read that {@link fileSource} and the `anti-oom` executable use, and that a file read
 * with `createReadStream` for an import should use too: `createReadStream(path, { highWaterMark:
 * FILE_READ_BYTES })`.
 *
 * Why 32 KiB, half of Node's default: each chunk waits in three or four stream buffers (the file
 * stream's read-ahead, the pipeline's input, the parser's) while the rows before it are written,
 * so it outlives young-generation collections in proportion to its size. A promoted chunk's memory
 * is outside the JavaScript heap and is given back only by a full collection, which that memory
 * does not hasten. Measured side by side on the 10-column clients file (1,000,000 rows) through
 * the driver into the acknowledge-only server: `anti-oom import` peaked at 116 MB reading 256 KiB
 * at a time, 105–109 MB at 64 KiB and 100 MB at 32 KiB, at less CPU per row (5.3 µs instead of
 * 6.8); 16 KiB gained nothing more (docs/memory.md).
 */
export const FILE_READ_BYTES = 32 * 1024;

/**
 * A file as a {@link SeekableSource}, read {@link FILE_READ_BYTES} at a time unless
 * `highWaterMark` says otherwise. Its size is read (`fs.stat`) when the import starts.
 *
 * @example
 * ```ts
 * await pipeline.run(fileSource('orders.csv'));
 * ```
 */
export function fileSource(path: string, options: { highWaterMark?: number } = {}): SeekableSource & { readonly path: string } {
  const highWaterMark = options.highWaterMark ?? FILE_READ_BYTES;
  return {
    path,
    open: (start) => createReadStream(path, { start, highWaterMark }),
  };
}

/** The size of a source: its own `size`, or the file's for a {@link fileSource}. @internal */
export async function sourceSize(source: SeekableSource): Promise<number | undefined> {
  if (typeof source.size === 'number') return source.size;
  const path = (source as { path?: unknown }).path;
  if (typeof path === 'string') return (await fs.stat(path)).size;
  return undefined;
}

/** Size and a hash of the first bytes: enough to refuse a different file under the same key. @internal */
export async function fingerprint(source: SeekableSource): Promise<SourceFingerprint> {
  const size = await sourceSize(source);
  const hash = createHash('sha256');
  const stream = source.open(0);
  let taken = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const take = Math.min(bytes.length, FINGERPRINT_BYTES - taken);
      hash.update(bytes.subarray(0, take));
      taken += take;
      if (taken >= FINGERPRINT_BYTES) break;
    }
  } finally {
    stream.destroy();
  }
  return { size, head: hash.digest('hex') };
}

/**
 * Reads the first {@link FINGERPRINT_BYTES} of a stream (all of a shorter one) and fingerprints
 * them like {@link fingerprint} does a seekable source's, then hands back a stream of every byte,
 * those first ones included. Holds at most 64 KiB and one chunk. An abort of `signal` while the
 * head is read destroys `stream` with the signal's reason.
 * @internal
 */
export async function fingerprintStream(stream: Readable, size: number | undefined, signal: AbortSignal): Promise<{ fingerprint: SourceFingerprint; stream: Readable }> {
  signal.throwIfAborted();
  const hash = createHash('sha256');
  const head: (Buffer | string)[] = [];
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const onAbort = (): void => void stream.destroy(signal.reason instanceof Error ? signal.reason : undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  let taken = 0;
  let ended = false;
  try {
    while (taken < FINGERPRINT_BYTES) {
      const next = await it.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      const bytes = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      const take = Math.min(bytes.length, FINGERPRINT_BYTES - taken);
      hash.update(bytes.subarray(0, take));
      taken += take;
    }
  } catch (err) {
    stream.destroy();
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  async function* all(): AsyncGenerator<Buffer | string> {
    try {
      while (head.length > 0) yield head.shift()!;
      if (ended) return;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
      ended = true;
    } finally {
      // Stopped early (the import ended or was aborted): the stream is destroyed, as it would
      // have been had it been read directly.
      if (!ended) await it.return?.();
    }
  }
  return {
    fingerprint: { size, head: hash.digest('hex') },
    stream: Readable.from(all(), { objectMode: stream.readableObjectMode, highWaterMark: stream.readableHighWaterMark }),
  };
}
