import { createReadStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { FILE_READ_BYTES } from '@anti-oom/core';

/** The bytes to import, and how far through the input the import is. */
export interface ImportInput {
  /** CSV bytes, gunzipped when the input was gzip. */
  source: AsyncIterable<Buffer> | Readable;
  /** Size of the input in bytes, when known (a file); compressed size for gzip. */
  size: number | undefined;
  /** Bytes taken from the input so far, compressed bytes for gzip, comparable to `size`. */
  bytesRead(): number;
  gzip: boolean;
  /** Releases the file or stdin when the import never read it to the end (a no-op after). */
  close(): Promise<void>;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * Opens a file, or standard input for `-`. Gzip is recognised by its magic bytes rather than by
 * the name, so `data.csv` that is really gzip, and gzip piped on stdin, both work.
 */
export async function openInput(path: string, stdin: Readable): Promise<ImportInput> {
  let size: number | undefined;
  let raw: Readable;
  if (path === '-') {
    raw = stdin;
  } else {
    const stat = await fs.stat(path); // ENOENT and EISDIR surface here, before anything starts
    if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a file.`), { code: 'EISDIR' });
    size = stat.size;
    // Smaller reads than Node's 64 KiB default keep peak RSS down (FILE_READ_BYTES says why).
    raw = createReadStream(path, { highWaterMark: FILE_READ_BYTES });
  }
  let taken = 0;
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const next = async (): Promise<Buffer | undefined> => {
    const r = await iterator.next();
    if (r.done) return undefined;
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    taken += chunk.length;
    return chunk;
  };
  // Enough of the head to tell gzip from text; a chunk may be a single byte on a pipe.
  let head = Buffer.alloc(0);
  while (head.length < GZIP_MAGIC.length) {
    const chunk = await next();
    if (chunk === undefined) break;
    head = Buffer.concat([head, chunk]);
  }
  async function* bytes(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      for (let chunk = await next(); chunk !== undefined; chunk = await next()) yield chunk;
    } finally {
      // Stopping early (an abort, a fatal error) must release the file or stdin.
      await iterator.return?.();
    }
  }
  const gzip = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  let source: AsyncIterable<Buffer> | Readable = bytes();
  if (gzip) {
    const gunzip = createGunzip();
    // A failure on either side destroys gunzip, and the import sees it as a source error.
    pipeline(bytes(), gunzip).catch(() => {});
    source = gunzip;
  }
  return { source, size, bytesRead: () => taken, gzip, close: async () => void (await iterator.return?.()) };
}
