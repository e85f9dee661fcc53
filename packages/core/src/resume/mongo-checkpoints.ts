import type { Collection } from 'mongodb';
import { numberOption } from '../options/number-option.js';
import type { Checkpoint, CheckpointStore } from './store.js';

/** Options of {@link mongoCheckpoints}. */
export interface MongoCheckpointsOptions {
  /**
   * How long a completed import's checkpoint is kept (a TTL index removes it after), in seconds.
   * Until then the same key is refused with `E_ALREADY_DONE`.
   * @defaultValue `604800` (7 days)
   */
  completedTtlSeconds?: number;
}

/**
 * A {@link CheckpointStore} in a MongoDB collection: one small document per import (`_id` = the
 * resume key), written with `replaceOne` upserts (the collection's write concern), and a TTL
 * index on `expiresAt` that removes completed imports after `completedTtlSeconds` (on a server
 * without TTL indexes, an expired checkpoint is ignored and removed when next loaded). The CLI uses the
 * collection `anti_oom_checkpoints` of the target database.
 *
 * @example
 * ```ts
 * resume: { store: mongoCheckpoints(db.collection('anti_oom_checkpoints')), key: 'orders-2026-11-30' }
 * ```
 */
export function mongoCheckpoints(collection: Collection<any>, options: MongoCheckpointsOptions = {}): CheckpointStore {
  const ttl = numberOption('completedTtlSeconds', options.completedTtlSeconds, 7 * 24 * 3600, { integer: true });
  let indexed: Promise<unknown> | undefined;
  // A server without TTL indexes (FerretDB 1.x) still works: load() treats an expired
  // checkpoint as absent, so the index only saves the space.
  const ensureIndex = (): Promise<unknown> => (indexed ??= collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'anti_oom_expires' }).catch(() => undefined));
  return {
    async load(key) {
      const doc = await collection.findOne({ _id: key });
      if (doc === null) return undefined;
      const { _id, expiresAt, ...rest } = doc as Record<string, unknown>;
      if (expiresAt instanceof Date && expiresAt.getTime() <= Date.now()) {
        await collection.deleteOne({ _id: key });
        return undefined;
      }
      return { ...(rest as Omit<Checkpoint, 'key'>), key: String(_id) };
    },
    async save(checkpoint) {
      await ensureIndex();
      const { key, ...rest } = checkpoint;
      const expiresAt = checkpoint.completed ? new Date(Date.now() + ttl * 1000) : null;
      await collection.replaceOne({ _id: key }, { ...rest, expiresAt }, { upsert: true });
    },
    async clear(key) {
      await collection.deleteOne({ _id: key });
    },
  };
}
