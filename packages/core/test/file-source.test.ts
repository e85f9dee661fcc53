import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FILE_READ_BYTES, fileSource } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'anti-oom-file-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function chunkLengths(stream: AsyncIterable<Buffer>): Promise<number[]> {
  const lengths: number[] = [];
  for await (const chunk of stream) lengths.push(chunk.length);
  return lengths;
}

describe('fileSource', () => {
  const path = join(dir, 'rows.csv');
  writeFileSync(path, 'x'.repeat(3 * FILE_READ_BYTES + 100));

  it('reads 32 KiB at a time (smaller chunks leave the import less memory to hold; docs/memory.md)', async () => {
    expect(FILE_READ_BYTES).toBe(32 * 1024);
    expect(await chunkLengths(fileSource(path).open(0) as AsyncIterable<Buffer>)).toEqual([FILE_READ_BYTES, FILE_READ_BYTES, FILE_READ_BYTES, 100]);
  });

  it('starts where it is asked to, and takes a read size of the caller’s', async () => {
    expect(await chunkLengths(fileSource(path).open(FILE_READ_BYTES * 3) as AsyncIterable<Buffer>)).toEqual([100]);
    expect(await chunkLengths(fileSource(path, { highWaterMark: 64 * 1024 }).open(0) as AsyncIterable<Buffer>)).toEqual([64 * 1024, 32 * 1024 + 100]);
  });
});
