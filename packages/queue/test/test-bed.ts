import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { startRedis, type RedisServer } from '@anti-oom/testing';
import { openTestDb } from '@anti-oom/testing/test-db';
import { Child } from './helpers.js';

/**
 * What a multi-process queue test needs, set up before its tests and torn down after them: a Redis
 * of its own, a database on the run's test server, an upload folder, and the app and worker
 * processes it starts (killed first, so nothing writes while the rest closes).
 */
export interface QueueTestBed {
  readonly redis: RedisServer;
  readonly t: Awaited<ReturnType<typeof openTestDb>>;
  readonly dir: string;
  /** What every child needs to find Redis, the database, the upload folder and the queue's prefix, plus `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Starts `script` (a fixture app or worker) with {@link env}; it is killed after the file's tests. */
  spawn(script: string, extra?: Record<string, string>): Child;
  /** Closed after the children are killed and before the database and Redis stop (an app-side queue). */
  closeLater(close: () => Promise<unknown>): void;
}

/** Registers the file's `beforeAll`/`afterAll` for a {@link QueueTestBed}; its fields are set once `beforeAll` has run. */
export function queueTestBed(database: string, prefix: string, options: { persistentRedis?: boolean } = {}): QueueTestBed {
  const bed = new TestBed(prefix);
  beforeAll(() => bed.start(database, options.persistentRedis === true));
  afterAll(() => bed.stop());
  return bed;
}

class TestBed implements QueueTestBed {
  redis!: RedisServer;
  t!: QueueTestBed['t'];
  dir = '';
  readonly #prefix: string;
  readonly #children: Child[] = [];
  readonly #closers: (() => Promise<unknown>)[] = [];

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  async start(database: string, persistentRedis: boolean): Promise<void> {
    this.redis = await startRedis({ persistent: persistentRedis });
    this.t = await openTestDb(database);
    this.dir = mkdtempSync(join(tmpdir(), 'anti-oom-queue-'));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#children.map((c) => c.kill('SIGKILL')));
    for (const close of this.#closers) await close();
    await this.t?.close();
    await this.redis?.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return { REDIS_URL: this.redis.url, MONGODB_URI: inject('mongoUri'), TEST_DB: this.t.db.databaseName, STORAGE_DIR: this.dir, PREFIX: this.#prefix, ...extra };
  }

  spawn(script: string, extra?: Record<string, string>): Child {
    const child = new Child(script, this.env(extra));
    this.#children.push(child);
    return child;
  }

  closeLater(close: () => Promise<unknown>): void {
    this.#closers.push(close);
  }
}
