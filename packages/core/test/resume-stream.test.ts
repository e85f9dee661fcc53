import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db } from 'mongodb';
import { createIngestPipeline, fileSource, IngestErrorCode, isIngestError, mongoCheckpoints, mongoSink, type BatchWriter, type Checkpoint, type CheckpointStore } from '../src/index.js';
import { deterministicIdFactory } from '../src/resume/ids.js';
import { chunksOf, expectBalanced, openTestDb } from './helpers.js';
import { outcome } from './resume-helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let checkpoints: Collection;
let n = 0;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-resume-stream-'));

beforeAll(async () => {
  t = await openTestDb('resume_stream');
  db = t.db;
  checkpoints = db.collection('checkpoints');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `rows` rows, about 30 bytes each. */
function csv(rows: number): Buffer {
  let s = 'sku,name,price\n';
  for (let i = 0; i < rows; i++) s += `sku-${i},"Product ${i}",${i % 1000}\n`;
  return Buffer.from(s);
}

/** A stream of `bytes` in chunks of `size`, counting how many chunks were read. */
function counted(bytes: Buffer, size: number): Readable & { reads: number } {
  const chunks = chunksOf(bytes, size);
  const stream = new Readable({
    read() {
      stream.reads++;
      this.push(chunks.shift() ?? null);
    },
  }) as Readable & { reads: number };
  stream.reads = 0;
  return stream;
}

/** A store that keeps a copy of every checkpoint saved, and how many batches were written before it. */
function recording(inner: CheckpointStore, written: () => number): CheckpointStore & { saved: { checkpoint: Checkpoint; batchesBefore: number }[] } {
  const saved: { checkpoint: Checkpoint; batchesBefore: number }[] = [];
  return {
    saved,
    load: (key) => inner.load(key),
    clear: (key) => inner.clear(key),
    async save(c) {
      saved.push({ checkpoint: structuredClone(c), batchesBefore: written() });
      await inner.save(c);
    },
  };
}

/** A writer that counts the batches it was asked to write. */
function countingSink(collection: Collection): BatchWriter & { batches: number } {
  const inner = mongoSink(collection);
  const sink = {
    ...inner,
    batches: 0,
    write: (batch: Parameters<BatchWriter['write']>[0], attempt: Parameters<BatchWriter['write']>[1]) => {
      sink.batches++;
      return inner.write(batch, attempt);
    },
  };
  return sink;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe("resume with a stream: stream: 'checkpoint-only'", () => {
  it('checkpoints a stream on its first run: the first before any write, with the fingerprint of its first 64 KiB; then at record boundaries; the last completed at the end', async () => {
    const bytes = csv(6000);
    expect(bytes.length).toBeGreaterThan(2 * 64 * 1024);
    const target = db.collection(`s${n++}`);
    const sink = countingSink(target);
    const store = recording(mongoCheckpoints(checkpoints), () => sink.batches);
    const key = `stream-${n++}`;
    const p = createIngestPipeline({ sink, batch: { size: 200 }, resume: { store, key, stream: 'checkpoint-only', streamSize: bytes.length, intervalMs: 0 } });
    const events: { offset: number; line: number; completed: boolean }[] = [];
    p.on('checkpoint', (at) => events.push(at));
    const report = await p.run(counted(bytes, 4096));
    expectBalanced(report);
    expect(report.rowsWritten).toBe(6000);
    expect(report.resumed).toBeUndefined();

    const [first, ...later] = store.saved;
    expect(first!.batchesBefore).toBe(0);
    expect(first!.checkpoint).toMatchObject({ key, offset: 0, line: 1, completed: false, fingerprint: { size: bytes.length, head: sha256(bytes.subarray(0, 64 * 1024)) } });
    // Checkpoints past the start: several, growing, each at the start of a record on its line.
    const mid = later.filter((s) => s.checkpoint.offset > 0 && !s.checkpoint.completed);
    expect(mid.length).toBeGreaterThan(3);
    let previous = 0;
    for (const { checkpoint: c } of later) {
      expect(c.nonce).toBe(first!.checkpoint.nonce);
      expect(c.offset).toBeGreaterThanOrEqual(previous);
      previous = c.offset;
      const before = bytes.subarray(0, c.offset).toString();
      expect(before.endsWith('\n')).toBe(true);
      expect(c.line).toBe(before.split('\n').length);
      expect(c.counters.rowsWritten).toBe(c.line - 2);
    }
    const last = later.at(-1)!.checkpoint;
    expect(last).toMatchObject({ completed: true, offset: bytes.length, line: 6002 });
    expect(report.durable).toEqual({ offset: bytes.length, line: 6002 });
    expect(report.bytesAcknowledged).toBe(bytes.length);
    expect(events.at(-1)).toEqual({ offset: bytes.length, line: 6002, completed: true });
    const stored = await checkpoints.findOne({ _id: key as never });
    expect(stored).toMatchObject({ completed: true, offset: bytes.length, line: 6002 });

    // Deterministic _ids, as in any resumable import: what makes a later continuation replay safely.
    const idFor = deterministicIdFactory(first!.checkpoint.nonce);
    const row = await target.findOne({ sku: 'sku-41' });
    expect(row!._id).toEqual(idFor(43));
  });

  it('a stream shorter than 64 KiB (an iterable of strings) is fingerprinted whole and checkpointed before its one batch', async () => {
    const text = 'sku,price\na,1\nb,2\nc,3\n';
    const sink = countingSink(db.collection(`s${n++}`));
    const store = recording(mongoCheckpoints(checkpoints), () => sink.batches);
    const key = `tiny-${n++}`;
    const report = await createIngestPipeline({ sink, resume: { store, key, stream: 'checkpoint-only' } }).run(['sku,price\n', 'a,1\nb,', '2\nc,3\n']);
    expect(report.rowsWritten).toBe(3);
    const first = store.saved[0]!;
    const last = store.saved.at(-1)!;
    expect([first.checkpoint.offset, first.checkpoint.completed, first.batchesBefore]).toEqual([0, false, 0]);
    expect([last.checkpoint.offset, last.checkpoint.completed, last.batchesBefore]).toEqual([text.length, true, 1]);
    expect(store.saved[0]!.checkpoint.fingerprint).toEqual({ size: undefined, head: sha256(Buffer.from(text)) });
  });

  it('a key whose import stopped part-way refuses a stream before reading it, saying where; the file then continues it with every row once', async () => {
    const bytes = csv(4000);
    const path = join(dir, `stopped-${n++}.csv`);
    writeFileSync(path, bytes);
    const target = db.collection(`s${n++}`);
    await target.createIndex({ sku: 1 }, { unique: true });
    const store = mongoCheckpoints(checkpoints);
    const key = `stopped-${n++}`;
    const resume = { store, key, stream: 'checkpoint-only', streamSize: bytes.length, intervalMs: 0 } as const;

    const first = createIngestPipeline({ sink: mongoSink(target), batch: { size: 100 }, resume });
    let batches = 0;
    first.on('progress', () => void (++batches === 12 && first.abort('the upload was cut')));
    const cut = await outcome(first.run(counted(bytes, 8192)));
    expect(cut.code).toBe(IngestErrorCode.E_ABORTED);
    const stopped = (await store.load(key))!;
    expect(stopped.offset).toBeGreaterThan(0);
    expect(stopped.completed).toBe(false);
    expect(cut.report.durable).toEqual({ offset: stopped.offset, line: stopped.line });

    const again = counted(bytes, 8192);
    const refused = createIngestPipeline({ sink: mongoSink(target), resume });
    let error: unknown;
    await refused.run(again).catch((err: unknown) => (error = err));
    expect(isIngestError(error) && error.code).toBe(IngestErrorCode.E_NOT_SEEKABLE);
    const e = error as { message: string; context: { line?: number; offset?: number } };
    expect(e.context).toEqual({ line: stopped.line, offset: stopped.offset });
    expect(e.message).toContain(`line ${stopped.line} (byte ${stopped.offset})`);
    expect(again.reads).toBe(0);
    expect(await store.load(key)).toMatchObject({ offset: stopped.offset, updatedAt: stopped.updatedAt });

    // The same bytes from a file, with the size the stream announced: continued at the byte the
    // stream stopped at; rows written by the stream before its last checkpoint replay as written.
    const report = await createIngestPipeline({ sink: mongoSink(target), batch: { size: 100 }, resume: { store, key } }).run(fileSource(path));
    expect(report.resumed).toEqual({ fromLine: stopped.line, fromByte: stopped.offset, times: 1 });
    expect(report.rowsWritten).toBe(4000);
    expectBalanced(report);
    expect(await target.countDocuments()).toBe(4000);
  });

  it('a completed key refuses a stream with E_ALREADY_DONE, nothing read', async () => {
    const store = mongoCheckpoints(checkpoints);
    const key = `done-${n++}`;
    const resume = { store, key, stream: 'checkpoint-only' } as const;
    await createIngestPipeline({ sink: mongoSink(db.collection(`s${n++}`)), resume }).run(counted(csv(10), 64));
    const again = counted(csv(10), 64);
    const r = await outcome(createIngestPipeline({ sink: mongoSink(db.collection(`s${n++}`)), resume }).run(again));
    expect(r.code).toBe(IngestErrorCode.E_ALREADY_DONE);
    expect(again.reads).toBe(0);
  });

  it('without the opt-in (or with stream: refuse) a stream is still refused with E_NOT_SEEKABLE before reading, naming the opt-in', async () => {
    for (const stream of [undefined, 'refuse'] as const) {
      const source = counted(csv(10), 64);
      const key = `refuse-${n++}`;
      const r = await outcome(createIngestPipeline({ sink: mongoSink(db.collection(`s${n++}`)), resume: { store: mongoCheckpoints(checkpoints), key, ...(stream ? { stream } : {}) } }).run(source));
      expect(r.code).toBe(IngestErrorCode.E_NOT_SEEKABLE);
      expect(r.report.error?.message).toContain("stream: 'checkpoint-only'");
      expect(source.reads).toBe(0);
      expect(await checkpoints.findOne({ _id: key as never })).toBeNull();
    }
    expect(() => createIngestPipeline({ sink: mongoSink(db.collection('x')), resume: { store: mongoCheckpoints(checkpoints), key: 'k', stream: 'yes' as never } })).toThrow(/resume\.stream/);
  });

  it('aborted while its first 64 KiB arrive: E_ABORTED, the stream destroyed, no checkpoint and nothing written', async () => {
    const target = db.collection(`s${n++}`);
    let destroyed = false;
    let pushed = false;
    // One chunk, then nothing: the head is never complete.
    const stalled = new Readable({
      read() {
        if (!pushed) this.push(csv(100));
        pushed = true;
      },
      destroy(err, cb) {
        destroyed = true;
        cb(err);
      },
    });
    const key = `stalled-${n++}`;
    const p = createIngestPipeline({ sink: mongoSink(target), batch: { size: 10 }, resume: { store: mongoCheckpoints(checkpoints), key, stream: 'checkpoint-only' } });
    setTimeout(() => p.abort('stop'), 100);
    const r = await outcome(p.run(stalled));
    expect(r.code).toBe(IngestErrorCode.E_ABORTED);
    expect(destroyed).toBe(true);
    expect(await checkpoints.findOne({ _id: key as never })).toBeNull();
    expect(await target.countDocuments()).toBe(0);
  });

  it('a store that cannot take the first checkpoint: E_SINK, nothing written, and the stream whose head was read is destroyed', async () => {
    const target = db.collection(`s${n++}`);
    const source = counted(csv(50), 256);
    const store: CheckpointStore = { load: async () => undefined, clear: async () => {}, save: () => Promise.reject(new Error('store down')) };
    const r = await outcome(createIngestPipeline({ sink: mongoSink(target), resume: { store, key: `down-${n++}`, stream: 'checkpoint-only' } }).run(source));
    expect(r.code).toBe(IngestErrorCode.E_SINK);
    expect(source.reads).toBeGreaterThan(0);
    expect(source.destroyed).toBe(true);
    expect(await target.countDocuments()).toBe(0);
  });

  it('a stream that fails while its head is read ends with E_SOURCE, not as a checkpoint store failure', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    const r = await outcome(createIngestPipeline({ sink: mongoSink(db.collection(`s${n++}`)), resume: { store: mongoCheckpoints(checkpoints), key: `broken-${n++}`, stream: 'checkpoint-only' } }).run(broken));
    expect(r.code).toBe(IngestErrorCode.E_SOURCE);
    expect(r.report.error?.message).toMatch(/connection reset/);
  });
});
