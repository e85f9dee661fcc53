import { randomUUID } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { inject } from 'vitest';
import type {} from './vitest-setup.js';

/** A client to the run's database server and a database of its own, dropped by `close()`. */
export async function openTestDb(prefix = 't'): Promise<{ client: MongoClient; db: Db; kind: string; close(): Promise<void> }> {
  const client = await MongoClient.connect(inject('mongoUri'));
  const db = client.db(`${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`);
  return {
    client,
    db,
    kind: inject('mongoKind'),
    async close() {
      await db.dropDatabase().catch(() => {});
      await client.close();
    },
  };
}
