import { startFerretdb, hasGo } from './ferretdb.js';
import { hasMongod, startMongod } from './mongod.js';
import type { MongoServer } from './types.js';

export type { FerretdbBackend, MongoKind, MongoServer } from './types.js';
export { chooseFerretdbBackend, ferretdbBinary, hasGo, startFerretdb } from './ferretdb.js';
export { countDistinct } from './distinct.js';
export { postgresReachable } from './postgres.js';
export { startRedis } from './redis.js';
export type { RedisServer } from './redis.js';

/**
 * Finds a MongoDB-compatible server for tests, benchmarks and the demo, in this order:
 * `MONGODB_URI`; a `mongod` on PATH (temporary dbpath); FerretDB built with Go (SQLite in a
 * temporary directory, or PostgreSQL in a fresh database with `ANTI_OOM_FERRETDB_BACKEND=postgresql`;
 * see {@link chooseFerretdbBackend}); mongodb-memory-server, if installed (it downloads a real mongod, which
 * needs internet access).
 */
export async function startMongo(options: { log?: (message: string) => void } = {}): Promise<MongoServer> {
  const log = options.log ?? ((m: string) => process.stderr.write(`[anti-oom/testing] ${m}\n`));
  const external = process.env.MONGODB_URI;
  if (external) {
    log('using MONGODB_URI');
    return { uri: external, kind: 'external', stop: async () => {} };
  }
  if (hasMongod()) {
    log('starting mongod from PATH');
    return startMongod();
  }
  if (hasGo()) return startFerretdb(log);
  try {
    const name = 'mongodb-memory-server';
    const { MongoMemoryServer } = (await import(name)) as {
      MongoMemoryServer: { create(): Promise<{ getUri(): string; stop(): Promise<boolean> }> };
    };
    const server = await MongoMemoryServer.create();
    return { uri: server.getUri(), kind: 'mongodb-memory-server', stop: async () => void (await server.stop()) };
  } catch (err) {
    throw new Error(
      'No MongoDB-compatible server found. Set MONGODB_URI, put mongod on PATH, install Go (to build FerretDB), ' +
        `or install mongodb-memory-server. (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}
export { gofakes3Binary, startS3Server } from './s3.js';
export type { S3TestServer } from './s3.js';
