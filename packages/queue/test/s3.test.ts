import { randomUUID } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { gofakes3Binary, startS3Server, type S3TestServer } from '@anti-oom/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Storage } from '../src/storage/s3.js';
import { body, digest, expectedDigest } from './bytes.js';
import { describeStorage } from './storage-suite.js';

const PART = 5 * 1024 * 1024;

// Built once per machine (cached); a cold `go install` can take minutes, longer than a hook's default.
beforeAll(() => void gofakes3Binary((m) => process.stderr.write(`[s3 test] ${m}\n`)), 600_000);

let server: S3TestServer | undefined;
let client: S3Client | undefined;
async function connect(): Promise<{ server: S3TestServer; client: S3Client }> {
  server ??= await startS3Server((m) => process.stderr.write(`[s3 test] ${m}\n`));
  client ??= new S3Client({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, forcePathStyle: true });
  return { server, client };
}
afterAll(async () => {
  client?.destroy();
  await server?.stop();
});

describeStorage(
  's3Storage',
  async () => {
    const { server, client } = await connect();
    const storage = s3Storage({ client, bucket: server.bucket, prefix: `suite-${randomUUID()}/`, partSize: PART });
    return { storage, defaults: s3Storage({ client, bucket: server.bucket, prefix: `defaults-${randomUUID()}/` }), close: async () => {} };
  },
  // Parts of 8 MiB (the default): measured about twice that at the peak (the part being filled,
  // and what the SDK and the socket still hold of the one before), whatever the body's size.
  { unit: PART, memory: { size: 96 * 1024 * 1024, bound: 32 * 1024 * 1024 } },
);

describe('s3Storage', () => {
  let s: { server: S3TestServer; client: S3Client };
  beforeAll(async () => {
    s = await connect();
  });

  it('stores a completed upload as one object, readable with ranged GETs', async () => {
    const storage = s3Storage({ client: s.client, bucket: s.server.bucket, prefix: 'plain/' });
    const id = randomUUID();
    const size = 2 * 8 * 1024 * 1024 + 123;
    await storage.create(id, { filename: 'big.csv' });
    await storage.append(id, 0, body(31, 0, 3 * 1024 * 1024));
    await storage.append(id, 3 * 1024 * 1024, body(31, 3 * 1024 * 1024, size));
    await storage.complete(id);
    const { GetObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const whole = await s.client.send(new GetObjectCommand({ Bucket: s.server.bucket, Key: `plain/${id}` }));
    expect(Number(whole.ContentLength)).toBe(size);
    expect(await digest(whole.Body as never)).toEqual(expectedDigest(31, 0, size));
    // Nothing left beside the file but its info.
    const keys = ((await s.client.send(new ListObjectsV2Command({ Bucket: s.server.bucket, Prefix: `plain/${id}` }))).Contents ?? []).map((o) => o.Key);
    expect(keys.sort()).toEqual([`plain/${id}`, `plain/${id}.info`]);
    expect(await digest((await storage.source(id)).open(size - 5))).toEqual(expectedDigest(31, size - 5, size));
  });

  it('continues, with a smaller partSize, a tail longer than its parts', async () => {
    const prefix = `mixed-${randomUUID()}/`;
    const big = s3Storage({ client: s.client, bucket: s.server.bucket, prefix, partSize: 6 * 1024 * 1024 });
    const small = s3Storage({ client: s.client, bucket: s.server.bucket, prefix, partSize: PART });
    const id = randomUUID();
    const tail = 5.5 * 1024 * 1024;
    const size = 12 * 1024 * 1024;
    await big.create(id, {});
    await big.append(id, 0, body(32, 0, tail));
    expect(await small.append(id, tail, body(32, tail, size))).toBe(size);
    await small.complete(id);
    expect(await digest((await small.source(id)).open(0))).toEqual(expectedDigest(32, 0, size));
  });

  it('keeps two prefixes apart', async () => {
    const a = s3Storage({ client: s.client, bucket: s.server.bucket, prefix: 'a/' });
    const b = s3Storage({ client: s.client, bucket: s.server.bucket, prefix: 'b/' });
    const id = randomUUID();
    await a.create(id, {});
    expect(await b.stat(id)).toBeUndefined();
    expect(await b.deleteIncomplete(Date.now() + 1000)).toBe(0);
    expect(await a.stat(id)).toBeDefined();
  });

  it('refuses options it cannot use, naming them', () => {
    expect(() => s3Storage({ client: s.client, bucket: '' })).toThrow(/bucket/);
    expect(() => s3Storage({ client: {} as never, bucket: 'x' })).toThrow(/client/);
    expect(() => s3Storage({ client: s.client, bucket: 'x', partSize: 1024 })).toThrow(/partSize/);
  });
});
