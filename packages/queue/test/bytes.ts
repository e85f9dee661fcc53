import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Deterministic pseudo-random bytes: byte `i` of a stream depends only on `seed` and `i`, so any
 * slice of a "file" can be regenerated to compare against without keeping the file in memory.
 */
export function byteAt(seed: number, i: number): number {
  let x = (Math.imul(i ^ seed, 0x9e3779b1) ^ (i >>> 7)) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  return x & 0xff;
}

/** Bytes `[start, end)` of the seeded file. */
export function slice(seed: number, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  for (let i = start; i < end; i++) out[i - start] = byteAt(seed, i);
  return out;
}

/** A stream of bytes `[start, end)` of the seeded file in chunks of `chunk` bytes. */
export function body(seed: number, start: number, end: number, chunk = 64 * 1024): Readable {
  let at = start;
  return new Readable({
    read() {
      if (at >= end) return void this.push(null);
      const next = Math.min(end, at + chunk);
      this.push(slice(seed, at, next));
      at = next;
    },
  });
}

/** Like {@link body}, but the stream fails with ECONNRESET after `cutAt` bytes (absolute offset). */
export function cutBody(seed: number, start: number, cutAt: number, chunk = 64 * 1024): Readable {
  let at = start;
  return new Readable({
    read() {
      if (at >= cutAt) {
        const err = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        return void this.destroy(err);
      }
      const next = Math.min(cutAt, at + chunk);
      this.push(slice(seed, at, next));
      at = next;
    },
  });
}

/** sha256 of a stream's bytes, and how many there were. */
export async function digest(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** sha256 of bytes `[start, end)` of the seeded file, computed in pieces. */
export function expectedDigest(seed: number, start: number, end: number): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  for (let at = start; at < end; at += 1 << 20) hash.update(slice(seed, at, Math.min(end, at + (1 << 20))));
  return { sha256: hash.digest('hex'), bytes: end - start };
}
