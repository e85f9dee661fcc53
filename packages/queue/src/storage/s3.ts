import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { IngestError, IngestErrorCode, numberOption } from '@anti-oom/core';
import { cleanMeta, loadMeta, pastLength, pieces, storeMeta, type StoredMeta } from './body.js';
import { assertUploadId, isUploadId, offsetConflict, uploadNotFound } from './ids.js';
import type { UploadMeta, UploadStat, UploadStorage } from './types.js';

/**
 * What {@link s3Storage} needs of an `S3Client` from `@aws-sdk/client-s3`: its `send`. Typed
 * structurally so that applications on GridFS need not install the AWS SDK for our types.
 */
export interface S3ClientLike {
  send(command: never, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** Options of {@link s3Storage}. */
export interface S3StorageOptions {
  /** An `S3Client` (from `@aws-sdk/client-s3`, a peer dependency installed by the application). */
  client: S3ClientLike;
  /** The bucket; it must exist. */
  bucket: string;
  /**
   * Prefix of every key: an upload `id` is stored as `<prefix><id>` (the file, once complete),
   * `<prefix><id>.info` (metadata), `<prefix><id>.part@<n>` (bytes not yet in a part) and
   * `<prefix><id>.claim@<n>` (an append in progress).
   * @defaultValue `''`
   */
  prefix?: string;
  /**
   * Bytes per multipart part, and so the most an append holds in memory. S3 wants parts of at
   * least 5 MiB (but the last) and at most 10,000 of them: the largest upload is 10,000 parts.
   * @defaultValue `8388608` (8 MiB: uploads up to 80 GiB)
   */
  partSize?: number;
  /**
   * How long an append's claim on an upload lasts without being renewed (each part renews it);
   * see `gridfsStorage`'s option of the same name.
   * @defaultValue `60000`
   */
  leaseMs?: number;
}

/** The `.info` object: what is known of an upload besides its bytes. */
interface Info {
  meta: StoredMeta;
  createdAt: number;
  /** The multipart upload that holds the parts while the upload is incomplete. */
  uploadId: string;
  complete: boolean;
  /** Size of the completed object. */
  size?: number;
}

type Sdk = typeof import('@aws-sdk/client-s3');
let sdkModule: Promise<Sdk> | undefined;
/** The AWS SDK, loaded on first use: only applications that use S3 install it. */
const sdk = (): Promise<Sdk> => (sdkModule ??= import('@aws-sdk/client-s3'));

/** HTTP status of an AWS SDK error, or undefined for anything else. */
function statusOf(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return meta?.httpStatusCode;
}
const isMissing = (err: unknown): boolean => {
  const name = (err as { name?: string } | null)?.name;
  return statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload';
};
const isTaken = (err: unknown): boolean => statusOf(err) === 412 || (err as { name?: string } | null)?.name === 'PreconditionFailed';

/**
 * Uploads stored in S3-compatible object storage, over `@aws-sdk/client-s3`: appends become parts
 * of one multipart upload (a tail shorter than `partSize` is kept as an object of its own and
 * prepended to the next append, as tusd's s3store does), `complete` completes the multipart upload,
 * and `source(id).open(start)` is a ranged `GetObject`. Of two appends to one upload at once, the
 * first to create its claim object (`If-None-Match: *`) wins and the other is refused with
 * `E_CONFLICT`; the server must honour conditional writes (AWS S3 does since 2024).
 *
 * @example
 * ```ts
 * import { S3Client } from '@aws-sdk/client-s3';
 * const storage = s3Storage({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'uploads', prefix: 'csv/' });
 * ```
 */
export function s3Storage(options: S3StorageOptions): UploadStorage {
  const client = options.client as unknown as { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<any> };
  if (!client || typeof client.send !== 'function') {
    throw new IngestError(IngestErrorCode.E_OPTIONS, 'Option "client" must be an S3Client from @aws-sdk/client-s3.', { option: 'client' });
  }
  const bucket = options.bucket;
  if (typeof bucket !== 'string' || bucket === '') throw new IngestError(IngestErrorCode.E_OPTIONS, 'Option "bucket" must be the name of an existing bucket.', { option: 'bucket' });
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') throw new IngestError(IngestErrorCode.E_OPTIONS, 'Option "prefix" must be a string.', { option: 'prefix' });
  const partSize = numberOption('partSize', options.partSize, 8 * 1024 * 1024, { min: 5 * 1024 * 1024, max: 5 * 1024 ** 3, integer: true });
  const leaseMs = numberOption('leaseMs', options.leaseMs, 60_000, { min: 1, integer: true });

  const key = {
    file: (id: string) => `${prefix}${id}`,
    info: (id: string) => `${prefix}${id}.info`,
    tail: (id: string, at: number) => `${prefix}${id}.part@${at}`,
    claim: (id: string, at: number) => `${prefix}${id}.claim@${at}`,
    /** Everything of upload `id` but its file: ids have no dot, so no other id shares this. */
    aux: (id: string) => `${prefix}${id}.`,
  };

  async function readInfo(id: string): Promise<Info | undefined> {
    const { GetObjectCommand } = await sdk();
    try {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key.info(id) }));
      return JSON.parse(await res.Body.transformToString()) as Info;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async function writeInfo(id: string, info: Info, onlyNew: boolean): Promise<void> {
    const { PutObjectCommand } = await sdk();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key.info(id), Body: JSON.stringify(info), ContentType: 'application/json', ...(onlyNew ? { IfNoneMatch: '*' } : {}) }));
  }

  /** Sizes of the parts stored so far, in order. */
  async function listParts(id: string, uploadId: string): Promise<number[]> {
    const { ListPartsCommand } = await sdk();
    const sizes: number[] = [];
    let marker: string | undefined;
    for (;;) {
      const res = await client.send(new ListPartsCommand({ Bucket: bucket, Key: key.file(id), UploadId: uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }));
      for (const p of (res.Parts ?? []) as { PartNumber: number; Size: number }[]) sizes[p.PartNumber - 1] = p.Size;
      if (!res.IsTruncated) break;
      marker = res.NextPartNumberMarker;
    }
    return sizes;
  }

  /** Size of the tail object kept at `at`, or 0. */
  async function tailSize(id: string, at: number): Promise<number> {
    const { HeadObjectCommand } = await sdk();
    try {
      const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key.tail(id, at) }));
      return Number(res.ContentLength ?? 0);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
  }

  /**
   * Where an incomplete upload stands: its parts, and the tail after them. The tail's key names
   * the offset it starts at, so a tail already uploaded as a part (an append died between the two
   * steps) is simply not counted.
   */
  async function position(id: string, info: Info): Promise<{ parts: number; partBytes: number; offset: number }> {
    const sizes = await listParts(id, info.uploadId);
    const partBytes = sizes.reduce((a, b) => a + (b ?? 0), 0);
    return { parts: sizes.length, partBytes, offset: partBytes + (await tailSize(id, partBytes)) };
  }

  /** Keys (with their last-modified times) under a prefix. */
  async function* list(keyPrefix: string): AsyncGenerator<{ Key: string; LastModified?: Date }> {
    const { ListObjectsV2Command } = await sdk();
    let token: string | undefined;
    for (;;) {
      const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, ...(token ? { ContinuationToken: token } : {}) }));
      for (const o of (res.Contents ?? []) as { Key: string; LastModified?: Date }[]) yield o;
      if (!res.IsTruncated) return;
      token = res.NextContinuationToken;
    }
  }

  async function remove(k: string): Promise<void> {
    const { DeleteObjectCommand } = await sdk();
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
  }

  const live = (modified: Date | undefined): boolean => modified !== undefined && modified.getTime() + leaseMs >= Date.now();

  /** Claims upload `id` from `offset` with an object only one writer can create, or throws `E_CONFLICT`. */
  async function claim(id: string, offset: number, token: string): Promise<void> {
    const { PutObjectCommand, HeadObjectCommand } = await sdk();
    const put = () => client.send(new PutObjectCommand({ Bucket: bucket, Key: key.claim(id, offset), Body: token, IfNoneMatch: '*' }));
    try {
      await put();
      return;
    } catch (err) {
      if (!isTaken(err)) throw err;
    }
    // Held: refuse, unless its holder stopped renewing it (its app instance died).
    let modified: Date | undefined;
    try {
      modified = (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key.claim(id, offset) }))).LastModified as Date | undefined;
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    if (live(modified)) throw offsetConflict(undefined, offset);
    await remove(key.claim(id, offset));
    try {
      await put();
    } catch (err) {
      if (isTaken(err)) throw offsetConflict(undefined, offset);
      throw err;
    }
  }

  async function othersWriting(id: string, except: string | undefined): Promise<boolean> {
    for await (const o of list(`${key.aux(id)}claim@`)) if (o.Key !== except && live(o.LastModified)) return true;
    return false;
  }

  async function append(id: string, offset: number, body: Readable, signal?: AbortSignal): Promise<number> {
    assertUploadId(id);
    if (!Number.isSafeInteger(offset) || offset < 0) throw offsetConflict(undefined, offset);
    const { GetObjectCommand, PutObjectCommand, UploadPartCommand } = await sdk();
    const before = await readInfo(id);
    if (!before) throw uploadNotFound();
    if (before.complete) throw offsetConflict(undefined, offset);
    const at = await position(id, before);
    if (at.offset !== offset) throw offsetConflict(at.offset, offset);

    const token = randomUUID();
    await claim(id, offset, token);
    let renewedAt = Date.now();
    let stored = offset;
    try {
      // Checked again now that the claim is ours: another append may have moved the upload on
      // (and released its claim on this offset) since, or still be running from an earlier one.
      const info = await readInfo(id);
      if (!info) throw uploadNotFound();
      if (info.complete) throw offsetConflict(undefined, offset);
      let { parts, partBytes } = await position(id, info);
      const now = await tailSize(id, partBytes);
      if (partBytes + now !== offset) throw offsetConflict(partBytes + now, offset);
      if (await othersWriting(id, key.claim(id, offset))) throw offsetConflict(undefined, offset);

      const limit = loadMeta(info.meta).length;
      let head = Buffer.alloc(0);
      if (now > 0) {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key.tail(id, partBytes) }));
        head = Buffer.from(await res.Body.transformToByteArray());
      }
      const tailAt = partBytes;
      // An instance configured with a smaller partSize may continue a tail longer than its parts:
      // its parts are then as long as that tail (any size from 5 MiB up is a valid part).
      const size = Math.max(partSize, head.length + 1);
      for await (const piece of pieces(body, size, head, signal)) {
        let bytes = piece.bytes;
        let tooLong = false;
        if (limit !== undefined && partBytes + bytes.length > limit) {
          bytes = bytes.subarray(0, Math.max(0, limit - partBytes));
          tooLong = true;
        }
        if (partBytes + bytes.length > stored) {
          // Write only while the claim holds by our own clock, renewing it before it runs low.
          const t = Date.now();
          if (t - renewedAt > leaseMs) throw offsetConflict(undefined, stored);
          if (t - renewedAt > leaseMs / 4) {
            await client.send(new PutObjectCommand({ Bucket: bucket, Key: key.claim(id, offset), Body: token }));
            renewedAt = t;
          }
          if (bytes.length === size) {
            parts += 1;
            await client.send(new UploadPartCommand({ Bucket: bucket, Key: key.file(id), UploadId: info.uploadId, PartNumber: parts, Body: bytes, ContentLength: bytes.length }));
            partBytes += bytes.length;
          } else {
            await client.send(new PutObjectCommand({ Bucket: bucket, Key: key.tail(id, partBytes), Body: bytes, ContentLength: bytes.length }));
          }
          stored = partBytes + (bytes.length === size ? 0 : bytes.length);
        }
        if (tooLong) throw pastLength(limit!);
        if (piece.error) throw piece.error;
      }
      // The tail we started from is inside a part now (or rewritten under the same key).
      if (partBytes !== tailAt && now > 0) await remove(key.tail(id, tailAt)).catch(() => {});
      return stored;
    } finally {
      await remove(key.claim(id, offset)).catch(() => {});
    }
  }

  async function deleteAll(id: string, info: Info | undefined): Promise<void> {
    const { AbortMultipartUploadCommand } = await sdk();
    // The info first: from then on stat() says the upload is gone.
    await remove(key.info(id));
    if (info && !info.complete) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key.file(id), UploadId: info.uploadId })).catch((err: unknown) => {
        if (!isMissing(err)) throw err;
      });
    }
    await remove(key.file(id));
    for await (const o of list(key.aux(id))) await remove(o.Key);
  }

  return {
    async create(id: string, meta: UploadMeta): Promise<void> {
      assertUploadId(id);
      const clean = cleanMeta(meta);
      const { CreateMultipartUploadCommand, AbortMultipartUploadCommand } = await sdk();
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key.file(id) }));
      try {
        await writeInfo(id, { meta: storeMeta(clean), createdAt: Date.now(), uploadId: UploadId, complete: false }, true);
      } catch (err) {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key.file(id), UploadId })).catch(() => {});
        if (isTaken(err)) throw new IngestError(IngestErrorCode.E_CONFLICT, 'An upload with this id exists already.');
        throw err;
      }
    },

    append,

    async stat(id: string): Promise<UploadStat | undefined> {
      if (!isUploadId(id)) return undefined;
      const info = await readInfo(id);
      if (!info) return undefined;
      const offset = info.complete ? info.size ?? 0 : (await position(id, info)).offset;
      return { offset, meta: loadMeta(info.meta), complete: info.complete, createdAt: info.createdAt };
    },

    async complete(id: string): Promise<void> {
      if (!isUploadId(id)) throw uploadNotFound();
      const info = await readInfo(id);
      if (!info) throw uploadNotFound();
      if (info.complete) return;
      const at = await position(id, info);
      const length = loadMeta(info.meta).length;
      if (length !== undefined && at.offset !== length) {
        throw new IngestError(IngestErrorCode.E_CONFLICT, `The upload has ${at.offset} of its ${length} bytes; send the rest before completing it.`, { offset: at.offset });
      }
      if (await othersWriting(id, undefined)) throw new IngestError(IngestErrorCode.E_CONFLICT, 'The upload is still being written to; complete it after that request ends.', { offset: at.offset });
      const s3 = await sdk();
      if (at.offset === 0) {
        // S3 completes no multipart upload without parts: an empty file is a plain object.
        await client.send(new s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: key.file(id), UploadId: info.uploadId })).catch((err: unknown) => {
          if (!isMissing(err)) throw err;
        });
        await client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: key.file(id), Body: Buffer.alloc(0), ContentLength: 0 }));
      } else {
        let parts = at.parts;
        if (at.offset > at.partBytes) {
          // The tail becomes the last part, which may be shorter than partSize.
          const res = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key.tail(id, at.partBytes) }));
          const tail = Buffer.from(await res.Body.transformToByteArray());
          parts += 1;
          await client.send(new s3.UploadPartCommand({ Bucket: bucket, Key: key.file(id), UploadId: info.uploadId, PartNumber: parts, Body: tail, ContentLength: tail.length }));
        }
        const listed: { PartNumber: number; ETag: string }[] = [];
        let marker: string | undefined;
        for (;;) {
          const res = await client.send(new s3.ListPartsCommand({ Bucket: bucket, Key: key.file(id), UploadId: info.uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }));
          for (const p of (res.Parts ?? []) as { PartNumber: number; ETag: string }[]) if (p.PartNumber <= parts) listed.push({ PartNumber: p.PartNumber, ETag: p.ETag });
          if (!res.IsTruncated) break;
          marker = res.NextPartNumberMarker;
        }
        listed.sort((a, b) => a.PartNumber - b.PartNumber);
        await client.send(new s3.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key.file(id), UploadId: info.uploadId, MultipartUpload: { Parts: listed } }));
      }
      await writeInfo(id, { ...info, complete: true, size: at.offset }, false);
      for await (const o of list(key.aux(id))) if (o.Key !== key.info(id)) await remove(o.Key);
    },

    async source(id: string) {
      if (!isUploadId(id)) throw uploadNotFound();
      const info = await readInfo(id);
      if (!info) throw uploadNotFound();
      if (!info.complete) throw new IngestError(IngestErrorCode.E_CONFLICT, 'The upload is not complete yet; it can be read once it is.');
      const size = info.size ?? 0;
      const open = (start: number): Readable => {
        const controller = new AbortController();
        async function* bytes(): AsyncGenerator<Buffer> {
          if (start >= size) return; // a Range past the end is an error in S3; there is nothing to read
          const { GetObjectCommand } = await sdk();
          const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key.file(id), Range: `bytes=${start}-` }), { abortSignal: controller.signal });
          const stream = res.Body as Readable;
          try {
            for await (const chunk of stream) yield chunk as Buffer;
          } finally {
            stream.destroy();
          }
        }
        const out = Readable.from(bytes(), { objectMode: false });
        out.once('close', () => controller.abort());
        return out;
      };
      return { size, open };
    },

    async delete(id: string): Promise<void> {
      if (!isUploadId(id)) return;
      await deleteAll(id, await readInfo(id));
    },

    async deleteIncomplete(createdBefore: number): Promise<number> {
      let count = 0;
      const stale: string[] = [];
      for await (const o of list(prefix)) {
        if (!o.Key.endsWith('.info')) continue;
        const id = o.Key.slice(prefix.length, -'.info'.length);
        if (!isUploadId(id)) continue;
        const info = await readInfo(id);
        if (info && !info.complete && info.createdAt < createdBefore) stale.push(id);
      }
      for (const id of stale) {
        const info = await readInfo(id);
        if (!info || info.complete) continue; // completed (or deleted) since it was listed
        await deleteAll(id, info);
        count += 1;
      }
      return count;
    },
  };
}
