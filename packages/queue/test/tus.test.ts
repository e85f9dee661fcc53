import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openTestDb } from '@anti-oom/testing/test-db';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client } from '@aws-sdk/client-s3';
import { gofakes3Binary, startS3Server, type S3TestServer } from '@anti-oom/testing';
import { gridfsStorage } from '../src/storage/gridfs.js';
import { s3Storage } from '../src/storage/s3.js';
import type { UploadMeta, UploadStorage } from '../src/storage/types.js';
import { parseUploadMetadata, formatUploadMetadata } from '../src/tus/metadata.js';
import { body, digest } from './bytes.js';
import { startTusServer } from './tus-server.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('tus Upload-Metadata', () => {
  it('decodes base64 pairs, keys without values, and picks the file name', () => {
    const meta = parseUploadMetadata(`filename ${b64('orders ü.csv')},owner ${b64('u-1')},is_confidential`);
    expect(meta.filename).toBe('orders ü.csv');
    expect(meta.extra).toEqual({ filename: 'orders ü.csv', owner: 'u-1', is_confidential: '' });
    expect(parseUploadMetadata(`name ${b64('uppy.csv')}`).filename).toBe('uppy.csv');
    expect(parseUploadMetadata(undefined)).toEqual({});
    expect(formatUploadMetadata({ extra: meta.extra })).toBe(`filename ${b64('orders ü.csv')},owner ${b64('u-1')},is_confidential`);
  });

  it('keeps hostile keys as data', () => {
    const meta = parseUploadMetadata(`__proto__ ${b64('x')},$where ${b64('1')},a.b ${b64('c')}`);
    expect(Object.getPrototypeOf(meta.extra)).toBe(Object.prototype);
    expect(Object.keys(meta.extra!)).toEqual(['__proto__', '$where', 'a.b']);
  });

  it('refuses malformed headers', () => {
    for (const bad of ['filename !!!', `a ${b64('x')},a ${b64('y')}`, 'a b c', ' ,', `k ${Buffer.from([0xff, 0xfe]).toString('base64')}`, Array.from({ length: 33 }, (_, i) => `k${i}`).join(','), `k ${'A'.repeat(9000)}`]) {
      expect(() => parseUploadMetadata(bad), bad.slice(0, 40)).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST' }));
    }
  });
});

describe('tus 1.0', () => {
  let t: Awaited<ReturnType<typeof openTestDb>>;
  let gridfs: UploadStorage;
  let dir: string;
  let s3server: S3TestServer | undefined;
  let s3client: S3Client | undefined;
  const s3 = async (): Promise<UploadStorage> => {
    s3server ??= await startS3Server();
    s3client ??= new S3Client({ endpoint: s3server.endpoint, region: s3server.region, credentials: s3server.credentials, forcePathStyle: true });
    return s3Storage({ client: s3client, bucket: s3server.bucket });
  };
  beforeAll(async () => {
    gofakes3Binary();
    t = await openTestDb('tus');
    gridfs = gridfsStorage(t.db);
    dir = mkdtempSync(join(tmpdir(), 'anti-oom-tus-'));
  });
  afterAll(async () => {
    await t?.close();
    s3client?.destroy();
    await s3server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['gridfsStorage', 's3Storage'] as const) {
    it(`resumes a 50 MB upload that the server cut at ~30% and ~70%, and stores it byte for byte (${kind})`, async () => {
      const storage = kind === 'gridfsStorage' ? gridfs : await s3();
      const size = 50 * 1000 * 1000;
      const path = join(dir, 'big.csv');
      await pipeline(body(21, 0, size, 1024 * 1024), createWriteStream(path));
      const fileHash = createHash('sha256');
      for await (const c of createReadStream(path)) fileHash.update(c as Buffer);
      const expected = fileHash.digest('hex');

      const completed: { id: string; meta: UploadMeta }[] = [];
      const cuts = [Math.floor(size * 0.3), Math.floor(size * 0.7)];
      const cutAt: number[] = [];
      const seen: { method: string; offset?: string }[] = [];
      const server = await startTusServer(
        { storage, maxSize: 64 * 1000 * 1000, onComplete: (id, meta) => void completed.push({ id, meta }) },
        {
          seen,
          onBody: (req, offset) => {
            // Counts what the storage has taken (not what the socket buffered), and drops the
            // connection, server side, once that passes the next cut.
            let at = offset;
            const counted = new Transform({
              transform(chunk: Buffer, _enc, done) {
                at += chunk.length;
                const next = cuts[cutAt.length];
                if (next !== undefined && at >= next) {
                  cutAt.push(at);
                  req.socket.destroy();
                }
                done(null, chunk);
              },
            });
            pipeline(req, counted).catch(() => {});
            return counted;
          },
        },
      );
      try {
        const uploadUrl = await new Promise<string>((resolve, reject) => {
          const upload = new tus.Upload(createReadStream(path), {
            endpoint: server.url,
            retryDelays: [0, 200, 500, 1000, 2000],
            metadata: { filename: 'big.csv', filetype: 'text/csv' },
            onError: reject,
            onSuccess: () => resolve(upload.url!),
          });
          upload.start();
        });
        expect(cutAt).toHaveLength(2);
        const id = uploadUrl.split('/').pop()!;
        expect(completed).toEqual([{ id, meta: { length: size, filename: 'big.csv', extra: { filename: 'big.csv', filetype: 'text/csv' } } }]);
        // It resumed: after each cut the client asked for the offset (HEAD) and continued from
        // there, never from the start. (A PATCH may also be refused with 409 while the cut request
        // still stores its last bytes; the client asks again.)
        const patches = seen.filter((r) => r.method === 'PATCH').map((r) => Number(r.offset));
        expect(patches[0]).toBe(0);
        expect(patches.slice(1).every((o) => o > 0)).toBe(true);
        expect(patches.some((o) => o > 0 && o <= cutAt[0]!)).toBe(true);
        expect(patches.some((o) => o > cutAt[0]! && o <= cutAt[1]!)).toBe(true);
        expect(seen.filter((r) => r.method === 'HEAD').length).toBeGreaterThanOrEqual(2);
        const stat = await storage.stat(id);
        expect(stat).toMatchObject({ offset: size, complete: true });
        const stored = await digest((await storage.source(id)).open(0));
        expect(stored).toEqual({ sha256: expected, bytes: size });
        console.log(`tus over ${kind}: 50 MB upload cut at bytes ${cutAt.join(' and ')}; PATCHes from ${patches.join(', ')}`);
        await storage.delete(id);
      } finally {
        await server.close();
      }
    }, 300_000);

  }

  describe('protocol', () => {
    let server: Awaited<ReturnType<typeof startTusServer>>;
    let proto: UploadStorage;
    const completed: string[] = [];
    beforeAll(async () => {
      // A bucket of their own: FerretDB scans a whole collection for each query, the 50 MB upload's too.
      proto = gridfsStorage(t.db, { bucketName: 'tusProtocol' });
      server = await startTusServer({ storage: proto, maxSize: 1000, onComplete: (id) => void completed.push(id) });
    });
    afterAll(async () => {
      await server?.close();
    });
    const V = { 'Tus-Resumable': '1.0.0' };
    const create = async (headers: Record<string, string> = {}) => {
      const res = await fetch(server.url, { method: 'POST', headers: { ...V, 'Upload-Length': '10', ...headers } });
      expect(res.status).toBe(201);
      return new URL(res.headers.get('location')!, server.url).href;
    };
    const patch = (url: string, offset: number, bytes: Buffer, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'PATCH', headers: { ...V, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), ...headers }, body: bytes });

    it('advertises the version, extensions and size limit on OPTIONS', async () => {
      const res = await fetch(server.url, { method: 'OPTIONS' });
      expect(res.status).toBe(204);
      expect(res.headers.get('tus-version')).toBe('1.0.0');
      expect(res.headers.get('tus-extension')).toBe('creation,termination');
      expect(res.headers.get('tus-max-size')).toBe('1000');
    });

    it('answers 412 to a request without Tus-Resumable 1.0.0, touching nothing', async () => {
      for (const headers of [{}, { 'Tus-Resumable': '0.2.2' }] as Record<string, string>[]) {
        const res = await fetch(server.url, { method: 'POST', headers: { 'Upload-Length': '10', ...headers } });
        expect(res.status).toBe(412);
        expect(res.headers.get('tus-version')).toBe('1.0.0');
      }
      const url = await create();
      const res = await fetch(url, { method: 'PATCH', headers: { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: Buffer.from('abc') });
      expect(res.status).toBe(412);
      const head = await fetch(url, { method: 'HEAD', headers: V });
      expect(head.headers.get('upload-offset')).toBe('0');
    });

    it('creates an upload with its length and metadata, and HEAD gives the offset', async () => {
      const url = await create({ 'Upload-Metadata': `filename ${b64('a.csv')},note ${b64('ü')},flag` });
      const id = url.split('/').pop()!;
      expect(await proto.stat(id)).toMatchObject({ offset: 0, meta: { length: 10, filename: 'a.csv', extra: { filename: 'a.csv', note: 'ü', flag: '' } } });
      expect((await patch(url, 0, Buffer.from('abcd'))).headers.get('upload-offset')).toBe('4');
      const head = await fetch(url, { method: 'HEAD', headers: V });
      expect(head.status).toBe(200);
      expect(head.headers.get('upload-offset')).toBe('4');
      expect(head.headers.get('upload-length')).toBe('10');
      expect(head.headers.get('cache-control')).toBe('no-store');
      expect(parseUploadMetadata(head.headers.get('upload-metadata')!).extra).toEqual({ filename: 'a.csv', note: 'ü', flag: '' });
    });

    it('refuses a creation without a usable length or with bad metadata', async () => {
      const post = (headers: Record<string, string>) => fetch(server.url, { method: 'POST', headers: { ...V, ...headers } });
      expect((await post({})).status).toBe(400);
      expect((await post({ 'Upload-Length': '-1' })).status).toBe(400);
      expect((await post({ 'Upload-Length': '1e3' })).status).toBe(400);
      expect((await post({ 'Upload-Defer-Length': '1' })).status).toBe(400);
      const tooBig = await post({ 'Upload-Length': '1001' });
      expect(tooBig.status).toBe(413);
      expect(await tooBig.json()).toMatchObject({ error: { code: 'E_FILE_TOO_LARGE' } });
      expect((await post({ 'Upload-Length': '10', 'Upload-Metadata': 'filename %%%' })).status).toBe(400);
    });

    it('answers 415 to a PATCH without application/offset+octet-stream, 409 at the wrong offset', async () => {
      const url = await create();
      expect((await patch(url, 0, Buffer.from('abc'), { 'Content-Type': 'text/csv' })).status).toBe(415);
      const noType = await fetch(url, { method: 'PATCH', headers: { ...V, 'Upload-Offset': '0' }, body: Buffer.from('abc') });
      expect(noType.status).toBe(415);
      expect((await patch(url, 0, Buffer.from('abc'))).status).toBe(204);
      const conflict = await patch(url, 1, Buffer.from('abc'));
      expect(conflict.status).toBe(409);
      expect(await conflict.json()).toMatchObject({ error: { code: 'E_CONFLICT' } });
      expect((await patch(url, 3, Buffer.from('x'), { 'Upload-Offset': 'x' })).status).toBe(400);
      // Past the announced length: refused before a byte is stored.
      expect((await patch(url, 3, Buffer.from('12345678'))).status).toBe(413);
      expect((await fetch(url, { method: 'HEAD', headers: V })).headers.get('upload-offset')).toBe('3');
    });

    it('completes the upload with its last byte, calls onComplete once, then refuses more', async () => {
      const url = await create();
      const id = url.split('/').pop()!;
      expect((await patch(url, 0, Buffer.from('01234'))).status).toBe(204);
      expect(completed).not.toContain(id);
      // X-HTTP-Method-Override, for clients that cannot send PATCH.
      const last = await fetch(url, { method: 'POST', headers: { ...V, 'X-HTTP-Method-Override': 'PATCH', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '5' }, body: Buffer.from('56789') });
      expect(last.status).toBe(204);
      expect(last.headers.get('upload-offset')).toBe('10');
      expect(completed.filter((c) => c === id)).toHaveLength(1);
      expect(await digest((await proto.source(id)).open(0))).toEqual({ sha256: createHash('sha256').update('0123456789').digest('hex'), bytes: 10 });
      expect((await patch(url, 10, Buffer.from('x'))).status).toBe(409);
      // A completed upload is being imported: termination is refused (cancel the import instead).
      expect((await fetch(url, { method: 'DELETE', headers: V })).status).toBe(409);
    });

    it('completes on HEAD an upload whose bytes all arrived but whose completion was lost', async () => {
      const url = await create();
      const id = url.split('/').pop()!;
      // As if the app instance died between storing the last byte and completing the upload.
      await proto.append(id, 0, body(1, 0, 10));
      const head = await fetch(url, { method: 'HEAD', headers: V });
      expect(head.headers.get('upload-offset')).toBe('10');
      expect(completed).toContain(id);
      expect((await proto.stat(id))!.complete).toBe(true);
    });

    it('terminates an upload with DELETE', async () => {
      const url = await create();
      await patch(url, 0, Buffer.from('abc'));
      expect((await fetch(url, { method: 'DELETE', headers: V })).status).toBe(204);
      expect((await fetch(url, { method: 'HEAD', headers: V })).status).toBe(404);
      expect((await patch(url, 3, Buffer.from('d'))).status).toBe(404);
    });

    it('answers 404 for unknown and hostile ids', async () => {
      for (const id of [randomUUID(), '..%2F..%2Fetc', '%24where', 'a%00b']) {
        expect((await fetch(`${server.url}/${id}`, { method: 'HEAD', headers: V })).status, id).toBe(404);
        expect((await patch(`${server.url}/${id}`, 0, Buffer.from('a'))).status, id).toBe(404);
      }
    });
  });
});
