import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadStorage } from '../src/storage/types.js';
import { body, byteAt, cutBody, digest, expectedDigest } from './bytes.js';

export interface StorageUnderTest {
  storage: UploadStorage;
  /** The same backend with its default options (the memory test uses it); else `storage`. */
  defaults?: UploadStorage;
  close(): Promise<void>;
}

/**
 * The behaviour every {@link UploadStorage} promises, run against a real backend. `unit` is the
 * storage's natural piece (GridFS chunk, S3 part): the sizes below straddle it, so partial pieces
 * are rewritten and continued.
 */
export function describeStorage(name: string, setup: () => Promise<StorageUnderTest>, options: { unit: number; memory: { size: number; bound: number } }): void {
  const unit = options.unit;

  describe(`${name}: UploadStorage conformance`, () => {
    let s: StorageUnderTest;
    let storage: UploadStorage;
    beforeAll(async () => {
      s = await setup();
      storage = s.storage;
    });
    afterAll(async () => {
      await s?.close();
    });

    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (err: { code?: string }) => err.code ?? String(err),
      );

    /** Reads the completed upload from `start` and compares it with the seeded bytes. */
    async function expectContent(id: string, seed: number, size: number, starts: number[]): Promise<void> {
      const source = await storage.source(id);
      expect(source.size).toBe(size);
      for (const start of starts) {
        expect(await digest(source.open(start)), `read from ${start}`).toEqual(expectedDigest(seed, start, size));
      }
    }

    it('creates an empty upload that keeps its metadata, and refuses the same id twice', async () => {
      const id = randomUUID();
      const before = Date.now();
      const extra = { owner: 'u1', $where: 'x', 'a.b': 'c', __proto__: 'p' };
      // A literal __proto__ key sets the prototype; a client's metadata can carry one as data.
      Object.defineProperty(extra, '__proto__', { value: 'p', enumerable: true });
      await storage.create(id, { length: 10, filename: '../../etc/passwd', extra });
      const stat = await storage.stat(id);
      expect(stat).toMatchObject({ offset: 0, complete: false, meta: { length: 10, filename: '../../etc/passwd' } });
      expect(Object.entries(stat!.meta.extra!)).toEqual(Object.entries(extra));
      expect(Object.getPrototypeOf(stat!.meta.extra)).toBe(Object.prototype);
      expect(stat!.createdAt).toBeGreaterThanOrEqual(before - 1000);
      expect(stat!.createdAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await code(storage.create(id, {}))).toBe('E_CONFLICT');
      expect(await storage.stat(randomUUID())).toBeUndefined();
    });

    it('appends in order across piece boundaries and reads back every byte from any offset', async () => {
      const id = randomUUID();
      const seed = 1;
      await storage.create(id, {});
      const ends = [1, unit - 1, unit + 1, 2 * unit + 3, 3 * unit];
      let offset = 0;
      for (const end of ends) {
        const next = await storage.append(id, offset, body(seed, offset, end, 4099));
        expect(next).toBe(end);
        expect((await storage.stat(id))!.offset).toBe(end);
        offset = end;
      }
      // An empty append changes nothing.
      expect(await storage.append(id, offset, Readable.from([]))).toBe(offset);
      await storage.complete(id);
      await storage.complete(id); // idempotent
      expect((await storage.stat(id))!.complete).toBe(true);
      await expectContent(id, seed, offset, [0, 1, unit - 1, unit, unit + 7, 2 * unit, offset - 1, offset]);
    });

    it('refuses an append at the wrong offset and writes nothing', async () => {
      const id = randomUUID();
      await storage.create(id, {});
      await storage.append(id, 0, body(2, 0, 100));
      for (const wrong of [0, 99, 101, -1, 1.5]) {
        expect(await code(storage.append(id, wrong, body(2, 0, 50))), `offset ${wrong}`).toBe('E_CONFLICT');
      }
      expect((await storage.stat(id))!.offset).toBe(100);
      await storage.append(id, 100, body(2, 100, 150));
      await storage.complete(id);
      await expectContent(id, 2, 150, [0, 100]);
      expect(await code(storage.append(randomUUID(), 0, body(2, 0, 1)))).toBe('E_NOT_FOUND');
    });

    it('keeps the bytes of an append cut short, and continues from the offset it reports', async () => {
      const id = randomUUID();
      const seed = 3;
      const size = 2 * unit + 1234;
      await storage.create(id, { length: size });
      const cuts = [Math.floor(unit / 3), unit + 17];
      let offset = 0;
      for (const cut of cuts) {
        const err = await storage.append(id, offset, cutBody(seed, offset, cut, 1000)).then(
          () => undefined,
          (e: { code?: string }) => e,
        );
        expect(err?.code).toBe('E_SOURCE');
        offset = (await storage.stat(id))!.offset;
        expect(offset).toBe(cut);
      }
      expect(await storage.append(id, offset, body(seed, offset, size))).toBe(size);
      await storage.complete(id);
      await expectContent(id, seed, size, [0, cuts[0]!, cuts[1]!]);
    });

    it('keeps the bytes that arrived before an abort', async () => {
      const id = randomUUID();
      const seed = 4;
      await storage.create(id, {});
      const controller = new AbortController();
      let sent = 0;
      const slow = new Readable({
        read() {
          if (sent >= 3000) return; // stalls, as a client that stopped sending
          this.push(Buffer.from([...Array(1000).keys()].map((i) => byteAt(seed, sent + i))));
          sent += 1000;
          if (sent === 3000) setImmediate(() => controller.abort());
        },
      });
      expect(await code(storage.append(id, 0, slow, controller.signal))).toBe('E_ABORTED');
      expect((await storage.stat(id))!.offset).toBe(3000);
      await storage.append(id, 3000, body(seed, 3000, 5000));
      await storage.complete(id);
      await expectContent(id, seed, 5000, [0, 2999]);
    });

    it('lets exactly one of two appends at the same offset win', async () => {
      const id = randomUUID();
      await storage.create(id, {});
      await storage.append(id, 0, body(5, 0, 10));
      const size = 2 * unit + 5;
      const results = await Promise.allSettled([storage.append(id, 10, body(6, 10, size, 8192)), storage.append(id, 10, body(7, 10, size, 8192))]);
      const won = results.findIndex((r) => r.status === 'fulfilled');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results[1 - won] as PromiseRejectedResult;
      expect((lost.reason as { code?: string }).code).toBe('E_CONFLICT');
      expect((await storage.stat(id))!.offset).toBe(size);
      await storage.complete(id);
      const source = await storage.source(id);
      expect(await digest(source.open(10))).toEqual(expectedDigest(won === 0 ? 6 : 7, 10, size));
    });

    it('keeps no byte past the announced length, and completes only a whole upload', async () => {
      const id = randomUUID();
      await storage.create(id, { length: 1000 });
      await storage.append(id, 0, body(8, 0, 600));
      expect(await code(storage.complete(id))).toBe('E_CONFLICT');
      expect(await code(storage.append(id, 600, body(8, 600, 1500)))).toBe('E_FILE_TOO_LARGE');
      expect((await storage.stat(id))!.offset).toBe(1000);
      await storage.complete(id);
      await expectContent(id, 8, 1000, [0, 999]);
    });

    it('reads only completed uploads, and refuses appends after completion', async () => {
      const id = randomUUID();
      await storage.create(id, {});
      await storage.append(id, 0, body(9, 0, 10));
      expect(await code(storage.source(id))).toBe('E_CONFLICT');
      await storage.complete(id);
      expect(await code(storage.append(id, 10, body(9, 10, 20)))).toBe('E_CONFLICT');
      expect(await code(storage.source(randomUUID()))).toBe('E_NOT_FOUND');
      expect(await code(storage.complete(randomUUID()))).toBe('E_NOT_FOUND');
    });

    it('completes and reads an empty upload', async () => {
      const id = randomUUID();
      await storage.create(id, {});
      await storage.complete(id);
      const source = await storage.source(id);
      expect(source.size).toBe(0);
      expect(await digest(source.open(0))).toEqual(expectedDigest(0, 0, 0));
    });

    it('deletes an upload and everything stored for it, idempotently', async () => {
      const id = randomUUID();
      await storage.create(id, {});
      await storage.append(id, 0, body(10, 0, unit + 10));
      await storage.delete(id);
      expect(await storage.stat(id)).toBeUndefined();
      expect(await code(storage.append(id, unit + 10, body(10, 0, 1)))).toBe('E_NOT_FOUND');
      await storage.delete(id);
      const done = randomUUID();
      await storage.create(done, {});
      await storage.append(done, 0, body(10, 0, 10));
      await storage.complete(done);
      await storage.delete(done);
      expect(await storage.stat(done)).toBeUndefined();
      expect(await code(storage.source(done))).toBe('E_NOT_FOUND');
      // The id is free again.
      await storage.create(done, {});
      expect((await storage.stat(done))!.offset).toBe(0);
      await storage.delete(done);
    });

    it('deletes incomplete uploads created before a time, and nothing else', async () => {
      const old = randomUUID();
      const finished = randomUUID();
      await storage.create(old, {});
      await storage.append(old, 0, body(11, 0, unit + 1));
      await storage.create(finished, {});
      await storage.complete(finished);
      const cutoff = Date.now() + 1;
      await new Promise((r) => setTimeout(r, 5));
      const fresh = randomUUID();
      await storage.create(fresh, {});
      // A cutoff before both was created deletes neither.
      expect(await storage.deleteIncomplete(0)).toBe(0);
      const deleted = await storage.deleteIncomplete(cutoff);
      // Other tests' incomplete uploads may go too; ours must.
      expect(deleted).toBeGreaterThanOrEqual(1);
      expect(await storage.stat(old)).toBeUndefined();
      expect(await storage.stat(finished)).toMatchObject({ complete: true });
      expect(await storage.stat(fresh)).toMatchObject({ complete: false });
      await storage.delete(finished);
      await storage.delete(fresh);
    });

    it('holds a bounded amount of memory whatever the size of the body', async () => {
      const big = s.defaults ?? storage;
      const id = randomUUID();
      const size = options.memory.size;
      await big.create(id, { length: size });
      const used = () => {
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const settle = async (): Promise<number> => {
        // Buffers are freed after the collection that finds them dead; let that finish.
        global.gc!();
        await new Promise((r) => setImmediate(r));
        global.gc!();
        return used();
      };
      // Warm up first: drivers allocate some buffers for good on first use (the MongoDB driver's
      // BSON serializer one of 17 MiB).
      const warm = randomUUID();
      await big.create(warm, {});
      await big.append(warm, 0, body(15, 0, 1024 * 1024));
      await big.delete(warm);
      const baseline = await settle();
      let peak = baseline;
      async function* sampled(): AsyncGenerator<Buffer> {
        let produced = 0;
        for await (const chunk of body(15, 0, size, 256 * 1024) as AsyncIterable<Buffer>) {
          yield chunk;
          produced += chunk.length;
          if (produced % (4 * 1024 * 1024) === 0) peak = Math.max(peak, await settle());
        }
      }
      expect(await big.append(id, 0, Readable.from(sampled(), { objectMode: false }))).toBe(size);
      await big.complete(id);
      const growth = peak - baseline;
      console.log(`${name}: a ${size >> 20} MiB append grew heap+buffers by at most ${(growth / 1048576).toFixed(1)} MiB`);
      expect(growth).toBeLessThan(options.memory.bound);
      expect(await digest((await big.source(id)).open(size - 1000))).toEqual(expectedDigest(15, size - 1000, size));
      await big.delete(id);
    }, 300_000);

    it('treats hostile ids as invalid or unknown, never as paths, patterns or operators', async () => {
      const hostile: unknown[] = ['', '../x', 'a/b', '..', '.', 'a\\b', 'x'.repeat(129), 'a\u0000b', '{"$gt":""}', '$where', 'a b', 'ü', { $gt: '' }, ['a'], 1, null];
      for (const id of hostile) {
        const label = JSON.stringify(id);
        expect(await code(storage.create(id as string, {})), label).toBe('E_BAD_REQUEST');
        expect(await code(storage.append(id as string, 0, body(1, 0, 1))), label).toBe('E_BAD_REQUEST');
        expect(await storage.stat(id as string), label).toBeUndefined();
        expect(await code(storage.complete(id as string)), label).toBe('E_NOT_FOUND');
        expect(await code(storage.source(id as string)), label).toBe('E_NOT_FOUND');
        await storage.delete(id as string);
      }
      // An object id never matches an existing upload either.
      const real = randomUUID();
      await storage.create(real, {});
      expect(await storage.stat({ $ne: 'x' } as unknown as string)).toBeUndefined();
      await storage.delete({ $ne: 'x' } as unknown as string);
      expect(await storage.stat(real)).toBeDefined();
      await storage.delete(real);
    });
  });
}
