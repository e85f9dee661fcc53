import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { IngestReport, IngestSnapshot, RowFailure } from '@anti-oom/core';

/** Where an import stands. `queued`: its file is stored and its job waits for a worker. */
export type QueuedImportState = 'pending' | 'queued' | 'running' | 'done' | 'failed' | 'aborted';

/** One import as Redis holds it. */
export interface ImportRecord {
  id: string;
  owner: string | undefined;
  quotaKey: string;
  state: QueuedImportState;
  createdAt: number;
  endedAt: number | undefined;
  /** An upload into it has started. */
  claimed: boolean;
  snapshot: IngestSnapshot | undefined;
  report: IngestReport | undefined;
  /** Sequence number of the `done` event, once ended. */
  doneSeq: number | undefined;
  /** Failures counted but not kept (past `maxFailureEvents`). */
  failuresDropped: number;
  /** A cancel was asked for. */
  cancelled: boolean;
}

/** An event of one import, in the order of its sequence numbers. */
export type ImportEvent = { seq: number; kind: 'rowFailure'; failure: RowFailure } | { seq: number; kind: 'done'; report: IngestReport };

/** @internal */
export interface ImportStoreOptions {
  prefix: string;
  /** How long an import that has not ended is kept without news (a crashed cluster must not leave keys forever). */
  activeTtlMs: number;
}

// Every script touches only the keys of one import, so they also work under Redis Cluster when
// the prefix has a hash tag.
const SCRIPTS = {
  /** KEYS: hash. ARGV: ttl. Claims a pending import for an upload: 1, or 0 when it is not pending or claimed. */
  aoomClaim: {
    numberOfKeys: 1,
    lua: `if redis.call('HGET', KEYS[1], 'state') ~= 'pending' or redis.call('HGET', KEYS[1], 'claimed') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'claimed', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`,
  },
  /** KEYS: hash. ARGV: now. Gives a claimed pending import back, with what is left of its pending time. */
  aoomRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'claimed', '0')
local ttl = tonumber(redis.call('HGET', KEYS[1], 'createdAt')) + tonumber(redis.call('HGET', KEYS[1], 'pto') or '1') - tonumber(ARGV[1])
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1`,
  },
  /** KEYS: hash. ARGV: from-state, to-state, ttl. Moves state when it is from-state; returns the state after. */
  aoomMove: {
    numberOfKeys: 1,
    lua: `local s = redis.call('HGET', KEYS[1], 'state')
if not s then return false end
if s == ARGV[1] or (ARGV[1] == '*live' and (s == 'queued' or s == 'running' or s == 'pending')) then
  redis.call('HSET', KEYS[1], 'state', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return ARGV[2]
end
return s`,
  },
  /**
   * KEYS: hash, events, lines. ARGV: snapshot JSON, ttl, rows read. Stores the latest counters of
   * an import that has not ended, unless they are behind those stored (an attempt that resumed
   * from its checkpoint replays rows already counted, or failed before it loaded it); returns
   * the cancel flag.
   */
  aoomSnapshot: {
    numberOfKeys: 3,
    lua: `local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s == 'done' or s == 'failed' or s == 'aborted' then return -1 end
if tonumber(ARGV[3]) >= tonumber(redis.call('HGET', KEYS[1], 'snapRead') or '-1') then
  redis.call('HSET', KEYS[1], 'snapshot', ARGV[1], 'snapRead', ARGV[3])
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
if redis.call('HGET', KEYS[1], 'cancel') == '1' then return 1 end
return 0`,
  },
  /**
   * KEYS: hash, events, lines. ARGV: line, failure JSON, ttl. Appends a row failure once per line
   * (a resumed import replays rows, and their failures again), up to the import's cap.
   */
  aoomFailure: {
    numberOfKeys: 3,
    lua: `local s = redis.call('HGET', KEYS[1], 'state')
if not s or s == 'done' or s == 'failed' or s == 'aborted' then return 0 end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 0 end
local cap = tonumber(redis.call('HGET', KEYS[1], 'cap') or '0')
if redis.call('SCARD', KEYS[3]) >= cap then return 0 end
redis.call('SADD', KEYS[3], ARGV[1])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('XADD', KEYS[2], seq .. '-0', 'f', ARGV[2])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return seq`,
  },
  /**
   * KEYS: hash, events, lines, owner's live set. ARGV: id, state, report JSON, ttl, now, rows failed.
   * Ends an import once: the report, the state and the last event. Returns the done sequence number.
   */
  aoomFinish: {
    numberOfKeys: 4,
    lua: `local s = redis.call('HGET', KEYS[1], 'state')
if not s then return -1 end
if s == 'done' or s == 'failed' or s == 'aborted' then return tonumber(redis.call('HGET', KEYS[1], 'doneSeq')) end
local kept = redis.call('SCARD', KEYS[3])
local dropped = tonumber(ARGV[6]) - kept
if dropped < 0 then dropped = 0 end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('XADD', KEYS[2], seq .. '-0', 'd', ARGV[3])
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'report', ARGV[3], 'snapshot', ARGV[3], 'endedAt', ARGV[5], 'doneSeq', seq, 'dropped', dropped)
redis.call('HDEL', KEYS[1], 'cancel')
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
redis.call('ZREM', KEYS[4], ARGV[1])
return seq`,
  },
  /** KEYS: hash. Sets the cancel flag of an import that has not ended: 1, else 0. */
  aoomCancel: {
    numberOfKeys: 1,
    lua: `local s = redis.call('HGET', KEYS[1], 'state')
if not s or s == 'done' or s == 'failed' or s == 'aborted' then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
return 1`,
  },
} as const;

type ScriptRedis = Redis & {
  aoomClaim(hash: string, ttl: number): Promise<number>;
  aoomRelease(hash: string, now: number): Promise<number>;
  aoomMove(hash: string, from: string, to: string, ttl: number): Promise<string | null>;
  aoomSnapshot(hash: string, events: string, lines: string, snapshot: string, ttl: number, rowsRead: number): Promise<number>;
  aoomFailure(hash: string, events: string, lines: string, line: number, failure: string, ttl: number): Promise<number>;
  aoomFinish(hash: string, events: string, lines: string, live: string, id: string, state: string, report: string, ttl: number, now: number, rowsFailed: number): Promise<number>;
  aoomCancel(hash: string): Promise<number>;
};

/** Defines the scripts on a connection (idempotent). @internal */
export function withScripts(redis: Redis): ScriptRedis {
  const r = redis as ScriptRedis;
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (typeof (r as unknown as Record<string, unknown>)[name] !== 'function') r.defineCommand(name, { numberOfKeys: def.numberOfKeys, lua: def.lua });
  }
  return r;
}

/** Parses a hash into a record. @internal */
export function parseRecord(id: string, h: Record<string, string>): ImportRecord | undefined {
  if (h.state === undefined || h.createdAt === undefined) return undefined;
  return {
    id,
    owner: h.owner,
    quotaKey: h.quotaKey ?? '',
    state: h.state as QueuedImportState,
    createdAt: Number(h.createdAt),
    endedAt: h.endedAt === undefined ? undefined : Number(h.endedAt),
    claimed: h.claimed === '1',
    snapshot: h.snapshot === undefined ? undefined : (JSON.parse(h.snapshot) as IngestSnapshot),
    report: h.report === undefined ? undefined : (JSON.parse(h.report) as IngestReport),
    doneSeq: h.doneSeq === undefined ? undefined : Number(h.doneSeq),
    failuresDropped: Number(h.dropped ?? 0),
    cancelled: h.cancel === '1',
  };
}

/**
 * The state of imports in Redis, shared by every app instance and worker. Per import:
 * - `{prefix}:import:{id}`, a hash: owner, quota key, state, times, the latest snapshot, the
 *   report, the event counter, the failure cap and the cancel flag;
 * - `{prefix}:import:{id}:events`, a stream of the failures kept and the `done` event, with
 *   entry ids `<seq>-0` from the hash's counter, so they are the event ids watchers see;
 * - `{prefix}:import:{id}:lines`, the lines whose failure was kept (replayed rows are not
 *   published twice);
 * and per owner `{prefix}:owner:{key}:live`, a sorted set of its imports that have not ended
 * (quotas). Every key has a TTL: `activeTtlMs` while the import lives (renewed by each snapshot),
 * `keepEndedMs` once it ended, `pendingTimeoutMs` while it waits for its upload.
 * @internal
 */
export class ImportStore {
  readonly redis: ScriptRedis;
  readonly #prefix: string;
  readonly #activeTtlMs: number;

  constructor(redis: Redis, options: ImportStoreOptions) {
    this.redis = withScripts(redis);
    this.#prefix = options.prefix;
    this.#activeTtlMs = options.activeTtlMs;
  }

  keys(id: string): { hash: string; events: string; lines: string } {
    const hash = `${this.#prefix}:import:${id}`;
    return { hash, events: `${hash}:events`, lines: `${hash}:lines` };
  }

  liveKey(quotaKey: string): string {
    return `${this.#prefix}:owner:${quotaKey}:live`;
  }

  get cancelChannel(): string {
    return `${this.#prefix}:cancel`;
  }

  /** A new pending import. */
  async create(owner: string | undefined, quotaKey: string, options: { id?: string; pendingTimeoutMs: number; maxFailureEvents: number; now?: number }): Promise<ImportRecord> {
    const id = options.id ?? randomUUID();
    const now = options.now ?? Date.now();
    const k = this.keys(id);
    const fields: Record<string, string | number> = { state: 'pending', quotaKey, createdAt: now, cap: options.maxFailureEvents, pto: options.pendingTimeoutMs, seq: 0 };
    if (owner !== undefined) fields.owner = owner;
    const live = this.liveKey(quotaKey);
    await this.redis
      .multi()
      .hset(k.hash, fields)
      .pexpire(k.hash, options.pendingTimeoutMs)
      .zadd(live, now + options.pendingTimeoutMs, id)
      .pexpire(live, Math.max(options.pendingTimeoutMs, this.#activeTtlMs))
      .exec();
    return { id, owner, quotaKey, state: 'pending', createdAt: now, endedAt: undefined, claimed: false, snapshot: undefined, report: undefined, doneSeq: undefined, failuresDropped: 0, cancelled: false };
  }

  async get(id: string): Promise<ImportRecord | undefined> {
    return parseRecord(id, await this.redis.hgetall(this.keys(id).hash));
  }

  /**
   * Imports of `quotaKey` waiting for their upload, and those uploading, queued or running. The
   * set's scores are the times its entries expire, so a crashed node's entries age out.
   */
  async liveOf(quotaKey: string, now = Date.now()): Promise<{ pending: number; active: number }> {
    const live = this.liveKey(quotaKey);
    await this.redis.zremrangebyscore(live, '-inf', now);
    const ids = await this.redis.zrange(live, 0, -1);
    if (ids.length === 0) return { pending: 0, active: 0 };
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hmget(this.keys(id).hash, 'state', 'claimed');
    const rows = (await pipe.exec()) ?? [];
    let pending = 0;
    let active = 0;
    const gone: string[] = [];
    rows.forEach(([, value], i) => {
      const [state, claimed] = (value ?? []) as (string | null)[];
      if (state === null || state === undefined || state === 'done' || state === 'failed' || state === 'aborted') gone.push(ids[i]!);
      else if (state === 'pending' && claimed !== '1') pending++;
      else active++;
    });
    if (gone.length > 0) await this.redis.zrem(live, ...gone);
    return { pending, active };
  }

  /** Claims a pending import for an upload; false when it is not pending or already claimed. */
  async claim(id: string, quotaKey: string): Promise<boolean> {
    const ok = (await this.redis.aoomClaim(this.keys(id).hash, this.#activeTtlMs)) === 1;
    if (ok) await this.redis.zadd(this.liveKey(quotaKey), Date.now() + this.#activeTtlMs, id);
    return ok;
  }

  /** Gives a claimed import back to `pending`. */
  async release(id: string): Promise<void> {
    await this.redis.aoomRelease(this.keys(id).hash, Date.now());
  }

  /** The upload is stored and its job enqueued. */
  async queued(id: string): Promise<void> {
    await this.redis.aoomMove(this.keys(id).hash, 'pending', 'queued', this.#activeTtlMs);
  }

  /** A worker took the job. Resolves with the state after (`running`, or the end it had reached), or undefined when the import is unknown. */
  async running(id: string): Promise<QueuedImportState | undefined> {
    return ((await this.redis.aoomMove(this.keys(id).hash, '*live', 'running', this.#activeTtlMs)) ?? undefined) as QueuedImportState | undefined;
  }

  /** Stores the latest counters. Resolves with whether a cancel was asked for; undefined when the import ended or is unknown. */
  async snapshot(id: string, snapshot: IngestSnapshot): Promise<boolean | undefined> {
    const k = this.keys(id);
    // Until the import ends it is running, whatever one attempt of it says.
    const r = await this.redis.aoomSnapshot(k.hash, k.events, k.lines, JSON.stringify({ ...snapshot, state: 'running' }), this.#activeTtlMs, snapshot.rowsRead);
    return r === -1 ? undefined : r === 1;
  }

  /** Publishes a row failure (once per line, up to the cap). Resolves with its sequence number, or 0 when not kept. */
  async failure(id: string, failure: RowFailure): Promise<number> {
    const k = this.keys(id);
    return this.redis.aoomFailure(k.hash, k.events, k.lines, failure.line, JSON.stringify(failure), this.#activeTtlMs);
  }

  /** Ends an import with its report, once. Resolves with the `done` sequence number, or -1 when the import is unknown. */
  async finish(id: string, report: IngestReport, keepEndedMs: number, now = Date.now()): Promise<number> {
    const k = this.keys(id);
    const quotaKey = (await this.redis.hget(k.hash, 'quotaKey')) ?? '';
    return this.redis.aoomFinish(k.hash, k.events, k.lines, this.liveKey(quotaKey), id, report.state, JSON.stringify(report), keepEndedMs, now, report.rowsFailed);
  }

  /** Sets the cancel flag and tells the workers. Resolves false when the import has ended or is unknown. */
  async cancel(id: string): Promise<boolean> {
    if ((await this.redis.aoomCancel(this.keys(id).hash)) !== 1) return false;
    await this.redis.publish(this.cancelChannel, id);
    return true;
  }

  /** Events after sequence number `after`, in order. */
  async events(id: string, after: number): Promise<ImportEvent[]> {
    const entries = await this.redis.xrange(this.keys(id).events, `(${after}-0`, '+');
    const out: ImportEvent[] = [];
    for (const [entryId, fields] of entries) {
      const seq = Number(entryId.split('-')[0]);
      if (fields[0] === 'f') out.push({ seq, kind: 'rowFailure', failure: JSON.parse(fields[1]!) as RowFailure });
      else out.push({ seq, kind: 'done', report: JSON.parse(fields[1]!) as IngestReport });
    }
    return out;
  }
}
