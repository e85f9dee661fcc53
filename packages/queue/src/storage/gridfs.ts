import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { IngestError, IngestErrorCode, numberOption } from '@anti-oom/core';
import { Binary, GridFSBucket, type Db, type ObjectId } from 'mongodb';
import { cleanMeta, loadMeta, pastLength, pieces, storeMeta, type StoredMeta } from './body.js';
import { assertUploadId, isUploadId, offsetConflict, uploadNotFound } from './ids.js';
import type { UploadMeta, UploadStat, UploadStorage } from './types.js';

/** Options of {@link gridfsStorage}. */
export interface GridfsStorageOptions {
  /**
   * The GridFS bucket: uploads live in `<bucketName>.files` and `<bucketName>.chunks`, and the
   * claims of appends in progress in `<bucketName>.claims`.
   * @defaultValue `'antiOomUploads'`
   */
  bucketName?: string;
  /**
   * Bytes per GridFS chunk; also what an append holds in memory. Each upload keeps the chunk size
   * it was created with, so instances configured differently can continue each other's uploads.
   * @defaultValue `261120` (255 KiB, GridFS's own default)
   */
  chunkSize?: number;
  /**
   * How long an append's claim on an upload lasts without being renewed (an append renews it as
   * it stores chunks). Another append to the same upload is refused with `E_CONFLICT` until the claim is
   * released or has expired, so this bounds how long a crashed app instance blocks a client that
   * resumes elsewhere. Assumes the app instances' clocks agree to well within this.
   * @defaultValue `60000`
   */
  leaseMs?: number;
}

/** The `<bucket>.files` document of an upload: a GridFS file document plus our state in `metadata`. */
interface FileDoc {
  _id: string;
  /** Bytes stored so far: the upload's offset, and a GridFS file's length once complete. */
  length: number;
  chunkSize: number;
  uploadDate: Date;
  filename: string;
  metadata: {
    meta: StoredMeta;
    complete: boolean;
    createdAt: number;
  };
}

interface ChunkDoc {
  /** `<upload id>:<n>`: one document per chunk, so a duplicate insert means "already written". */
  _id: string;
  files_id: string;
  n: number;
  data: Binary;
}

/**
 * An append's claim on an upload, in `<bucket>.claims`: `_id` is `<upload id>@<offset>`, so of
 * two appends from one offset only the first insert succeeds. Uniqueness of `_id` is the one
 * guarantee every MongoDB-compatible server gives; FerretDB v1 applies conditional updates without
 * isolation (measured: three racing `updateOne({ _id, w: null })` all matched), so they cannot
 * be the guard.
 */
interface ClaimDoc {
  _id: string;
  files_id: string;
  token: string;
  /** Until when the claim holds unless renewed (ms since the epoch). */
  until: number;
}

/** By code, not `instanceof`: the application may hold another copy of the driver. */
const isDuplicateKey = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 11000;

const chunkId = (id: string, n: number): string => `${id}:${n}`;

/**
 * Uploads stored in MongoDB with GridFS's own layout, so a completed upload is an ordinary GridFS
 * file (`GridFSBucket.openDownloadStream(id)` reads it). GridFS's upload stream cannot continue a
 * file, so appends write the chunks themselves: full chunks of `chunkSize`, the partial last one
 * rewritten by the next append. Of two appends to one upload at once, the first to claim it wins
 * and the other is refused with `E_CONFLICT`.
 *
 * @example
 * ```ts
 * const storage = gridfsStorage(client.db('app'));
 * await storage.create(id, { filename: 'orders.csv' });
 * await storage.append(id, 0, req);
 * ```
 */
export function gridfsStorage(db: Db, options: GridfsStorageOptions = {}): UploadStorage {
  const bucketName = options.bucketName ?? 'antiOomUploads';
  if (typeof bucketName !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(bucketName)) {
    throw new IngestError(IngestErrorCode.E_OPTIONS, `Option "bucketName" must be 1 to 64 letters, digits, "-" or "_"; got ${JSON.stringify(bucketName)}.`, { option: 'bucketName' });
  }
  // GridFS caps a chunk below the 16 MiB document limit.
  const chunkSize = numberOption('chunkSize', options.chunkSize, 255 * 1024, { min: 1, max: 15 * 1024 * 1024, integer: true });
  const leaseMs = numberOption('leaseMs', options.leaseMs, 60_000, { min: 1, integer: true });
  const files = db.collection<FileDoc>(`${bucketName}.files`);
  const chunks = db.collection<ChunkDoc>(`${bucketName}.chunks`);
  const claims = db.collection<ClaimDoc>(`${bucketName}.claims`);
  const bucket = new GridFSBucket(db, { bucketName });

  let indexes: Promise<void> | undefined;
  const ensureIndexes = (): Promise<void> =>
    (indexes ??= (async () => {
      await chunks.createIndex({ files_id: 1, n: 1 }, { unique: true });
      await files.createIndex({ filename: 1, uploadDate: 1 });
      await files.createIndex({ 'metadata.complete': 1, 'metadata.createdAt': 1 });
      await claims.createIndex({ files_id: 1 });
    })().catch((err: unknown) => {
      indexes = undefined;
      throw err;
    }));

  /** Whether an append other than `token` holds upload `id` now. */
  async function othersWriting(id: string, token: string): Promise<boolean> {
    return (await claims.countDocuments({ files_id: id, token: { $ne: token }, until: { $gte: Date.now() } })) > 0;
  }

  /**
   * Claims upload `id` from `offset` for one append, or throws `E_CONFLICT`. A claim whose holder
   * stopped renewing it (its app instance died) is taken over once it has expired.
   */
  async function claim(id: string, offset: number, token: string): Promise<ClaimDoc> {
    const mine: ClaimDoc = { _id: `${id}@${offset}`, files_id: id, token, until: Date.now() + leaseMs };
    try {
      await claims.insertOne(mine);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const held = await claims.findOne({ _id: mine._id });
      if (held && held.until >= Date.now()) throw offsetConflict(undefined, offset);
      if (held) await claims.deleteOne({ _id: mine._id, token: held.token });
      try {
        await claims.insertOne(mine);
      } catch (again) {
        if (isDuplicateKey(again)) throw offsetConflict(undefined, offset);
        throw again;
      }
    }
    return mine;
  }

  /**
   * Stores chunk `n`. New chunks are inserted: FerretDB's SQLite backend scans the whole
   * collection for any query, so a replace costs as much as reading every chunk stored, while an
   * insert is cheap. The partial chunk an append continues, and one a crashed append left past
   * the recorded length, are replaced.
   */
  async function putChunk(id: string, n: number, bytes: Buffer, exists: boolean): Promise<void> {
    const doc = { _id: chunkId(id, n), files_id: id, n, data: new Binary(bytes) };
    if (!exists) {
      try {
        await chunks.insertOne(doc);
        return;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    }
    await chunks.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }

  async function append(id: string, offset: number, body: Readable, signal?: AbortSignal): Promise<number> {
    assertUploadId(id);
    if (!Number.isSafeInteger(offset) || offset < 0) throw offsetConflict(undefined, offset);
    await ensureIndexes();
    const before = await files.findOne({ _id: id });
    if (!before) throw uploadNotFound();
    if (before.metadata.complete) throw offsetConflict(undefined, offset);
    if (before.length !== offset) throw offsetConflict(before.length, offset);

    const token = randomUUID();
    const mine = await claim(id, offset, token);
    let stored = offset;
    try {
      // Checked again now that the claim is ours: another append may have moved the upload on
      // (and released its claim on this offset) since we read it, or still be running.
      const doc = await files.findOne({ _id: id });
      if (!doc) throw uploadNotFound();
      if (doc.metadata.complete || doc.length !== offset) throw offsetConflict(doc.metadata.complete ? undefined : doc.length, offset);
      if (await othersWriting(id, token)) throw offsetConflict(undefined, offset);

      const size = doc.chunkSize;
      const limit = loadMeta(doc.metadata.meta).length;
      let n = Math.floor(offset / size);
      let head = Buffer.alloc(0);
      // The partial last chunk, if any, is the one chunk this append overwrites.
      const rewrite = offset % size === 0 ? -1 : n;
      if (rewrite >= 0) {
        const tail = await chunks.findOne({ _id: chunkId(id, n) });
        const data = tail ? Buffer.from(tail.data.buffer) : undefined;
        if (!data || data.length < offset % size) throw new IngestError(IngestErrorCode.E_INTERNAL, `Upload ${id} has lost part of chunk ${n}; delete it and upload again.`);
        head = data.subarray(0, offset % size);
      }
      for await (const piece of pieces(body, size, head, signal)) {
        let bytes = piece.bytes;
        const start = n * size;
        let tooLong = false;
        if (limit !== undefined && start + bytes.length > limit) {
          bytes = bytes.subarray(0, Math.max(0, limit - start));
          tooLong = true;
        }
        if (start + bytes.length > stored) {
          // Write only while the claim holds by our own clock, renewing it before it runs low:
          // an append that stalled past its lease stops here, before it can overwrite the chunks
          // of one that took over.
          const now = Date.now();
          if (now > mine.until) throw offsetConflict(undefined, stored);
          if (mine.until - now < (leaseMs * 3) / 4) {
            mine.until = now + leaseMs;
            await claims.updateOne({ _id: mine._id, token }, { $set: { until: mine.until } });
          }
          await putChunk(id, n, bytes, n === rewrite);
          const moved = await files.updateOne({ _id: id }, { $set: { length: start + bytes.length } });
          if (moved.matchedCount !== 1) {
            // Deleted while we wrote: the chunk we stored after its delete is ours to remove.
            await chunks.deleteMany({ files_id: id });
            throw uploadNotFound();
          }
          stored = start + bytes.length;
        }
        if (tooLong) throw pastLength(limit!);
        if (piece.error) throw piece.error;
        if (!piece.last) n += 1;
      }
      return stored;
    } finally {
      // After the length is recorded, so an append waiting to claim this offset then finds it stale.
      await claims.deleteOne({ _id: mine._id, token }).catch(() => {});
    }
  }

  return {
    async create(id: string, meta: UploadMeta): Promise<void> {
      assertUploadId(id);
      const clean = cleanMeta(meta);
      await ensureIndexes();
      const now = Date.now();
      try {
        await files.insertOne({
          _id: id,
          length: 0,
          chunkSize,
          uploadDate: new Date(now),
          filename: clean.filename ?? id,
          metadata: { meta: storeMeta(clean), complete: false, createdAt: now },
        });
      } catch (err) {
        if (isDuplicateKey(err)) throw new IngestError(IngestErrorCode.E_CONFLICT, 'An upload with this id exists already.');
        throw err;
      }
    },

    append,

    async stat(id: string): Promise<UploadStat | undefined> {
      if (!isUploadId(id)) return undefined;
      const doc = await files.findOne({ _id: id });
      if (!doc) return undefined;
      return { offset: doc.length, meta: loadMeta(doc.metadata.meta), complete: doc.metadata.complete, createdAt: doc.metadata.createdAt };
    },

    async complete(id: string): Promise<void> {
      if (!isUploadId(id)) throw uploadNotFound();
      const doc = await files.findOne({ _id: id });
      if (!doc) throw uploadNotFound();
      if (doc.metadata.complete) return;
      const length = loadMeta(doc.metadata.meta).length;
      if (length !== undefined && doc.length !== length) {
        throw new IngestError(IngestErrorCode.E_CONFLICT, `The upload has ${doc.length} of its ${length} bytes; send the rest before completing it.`, { offset: doc.length });
      }
      if (await othersWriting(id, '')) throw new IngestError(IngestErrorCode.E_CONFLICT, 'The upload is still being written to; complete it after that request ends.', { offset: doc.length });
      // What a crashed append stored past the recorded length would make GridFS readers fail:
      // whole chunks after the last, and bytes past the length in the last one.
      await chunks.deleteMany({ files_id: id, n: { $gte: Math.ceil(doc.length / doc.chunkSize) } });
      const rest = doc.length % doc.chunkSize;
      if (rest !== 0) {
        const n = Math.floor(doc.length / doc.chunkSize);
        const last = await chunks.findOne({ _id: chunkId(id, n) });
        const data = last ? Buffer.from(last.data.buffer) : undefined;
        if (!data || data.length < rest) throw new IngestError(IngestErrorCode.E_INTERNAL, `Upload ${id} has lost part of chunk ${n}; delete it and upload again.`);
        if (data.length > rest) await putChunk(id, n, data.subarray(0, rest), true);
      }
      await claims.deleteMany({ files_id: id });
      const done = await files.updateOne({ _id: id }, { $set: { 'metadata.complete': true, uploadDate: new Date() } });
      if (done.matchedCount !== 1) throw uploadNotFound();
    },

    async source(id: string) {
      if (!isUploadId(id)) throw uploadNotFound();
      const doc = await files.findOne({ _id: id });
      if (!doc) throw uploadNotFound();
      if (!doc.metadata.complete) throw new IngestError(IngestErrorCode.E_CONFLICT, 'The upload is not complete yet; it can be read once it is.', { offset: doc.length });
      const size = doc.length;
      // GridFS file ids are ObjectIds by convention, but any value works; ours are strings.
      const fileId = id as unknown as ObjectId;
      // `end` too: the driver defaults it to 0 and then refuses any `start` past it.
      return { size, open: (start: number) => bucket.openDownloadStream(fileId, { start, end: size }) };
    },

    async delete(id: string): Promise<void> {
      if (!isUploadId(id)) return;
      // The file document first: from then on stat() says the upload is gone and appends stop.
      await files.deleteOne({ _id: id });
      await chunks.deleteMany({ files_id: id });
      await claims.deleteMany({ files_id: id });
    },

    async deleteIncomplete(createdBefore: number): Promise<number> {
      let count = 0;
      const stale = files.find({ 'metadata.complete': false, 'metadata.createdAt': { $lt: createdBefore } }, { projection: { _id: 1 } });
      for await (const { _id } of stale) {
        const gone = await files.deleteOne({ _id, 'metadata.complete': false });
        if (gone.deletedCount !== 1) continue; // completed (or deleted) since it was listed
        await chunks.deleteMany({ files_id: _id });
        await claims.deleteMany({ files_id: _id });
        count += 1;
      }
      return count;
    },
  };
}
