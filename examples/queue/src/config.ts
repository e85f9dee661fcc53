/** Where Redis is: `REDIS_URL`, default the local one. Every app instance and worker uses the same. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Key prefix in Redis, so several deployments can share one server. */
export const prefix = process.env.QUEUE_PREFIX ?? 'anti-oom-example';
/** Where the rows go; fixed by the server, never chosen by the client. */
export const collectionName = process.env.COLLECTION ?? 'products';
