import { Redis, type RedisOptions } from 'ioredis';
import { invalidOption } from '@anti-oom/core';

/** How to reach Redis: ioredis options (`{ host, port, password, tls, ... }`) or a URL (`redis://...`). */
export type RedisConnection = RedisOptions | string;

/** The default key prefix of everything in Redis: BullMQ's queue keys and the import state. */
export const DEFAULT_PREFIX = 'anti-oom';
/** The default BullMQ queue name. */
export const DEFAULT_QUEUE_NAME = 'imports';

/** @internal */
export function checkConnection(connection: unknown): RedisConnection {
  if (typeof connection === 'string' && /^rediss?:\/\//.test(connection)) return connection;
  if (connection !== null && typeof connection === 'object' && !Array.isArray(connection)) return connection as RedisOptions;
  throw invalidOption('connection', 'ioredis options such as { host: "127.0.0.1", port: 6379 } or a redis:// URL', connection);
}

/** @internal */
export function checkPrefix(prefix: unknown, name: string): string {
  if (prefix === undefined) return name === 'prefix' ? DEFAULT_PREFIX : DEFAULT_QUEUE_NAME;
  if (typeof prefix !== 'string' || !/^[\w.{}-]{1,64}$/.test(prefix)) throw invalidOption(name, 'letters, digits, "_", "-", ".", "{", "}" (1 to 64 characters)', prefix);
  return prefix;
}

/**
 * A new ioredis connection. BullMQ's workers block on Redis, so their connections retry forever
 * (`maxRetriesPerRequest: null`); ours do too, so a Redis restart delays state updates instead of
 * failing them.
 * @internal
 */
export function openRedis(connection: RedisConnection, name: string, onError: (err: Error) => void = () => {}): Redis {
  const options: RedisOptions = { maxRetriesPerRequest: null, connectionName: name };
  const redis = typeof connection === 'string' ? new Redis(connection, options) : new Redis({ ...connection, ...options });
  // ioredis reconnects by itself; a connection error is news for the log, not a crash. Once per outage.
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) onError(err);
    down = true;
  });
  redis.on('ready', () => (down = false));
  return redis;
}

/** BullMQ's `connection` option from ours (BullMQ opens and owns its own connections). @internal */
export function bullConnection(connection: RedisConnection): RedisOptions {
  if (typeof connection !== 'string') return { ...connection, maxRetriesPerRequest: null };
  const url = new URL(connection);
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}
