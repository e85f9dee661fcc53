import type { ColumnTypes } from '../rows/convert.js';
import type { RowFailure } from '../types.js';
import type { CheckpointCounters } from './ledger.js';

/** What identifies a source, so a different file under the same key is refused. */
export interface SourceFingerprint {
  /** Size in bytes, when the source knows it. */
  size: number | undefined;
  /** SHA-256 (hex) of the first 64 KiB (all of a smaller source). */
  head: string;
}

/**
 * The state of one resumable import, as a {@link CheckpointStore} keeps it: one small document.
 * Written after acknowledged batches (at most once per `resume.intervalMs`), and when the import
 * ends for any reason.
 */
export interface Checkpoint {
  /** The resume key. */
  key: string;
  /** Random, fixed for the life of the import: with the line, it makes the deterministic `_id`s. */
  nonce: string;
  /** True once the import reached the end of the source. */
  completed: boolean;
  /** Source offset just past the last settled record: where reading resumes. */
  offset: number;
  /** Physical line on which the record at `offset` starts. */
  line: number;
  /** The header (column names) in use, once read. */
  header: string[] | null;
  /** The charset decoded, once known (`encoding: 'auto'` resolved). */
  charset: string | null;
  /** The delimiter in use, once known (`delimiter: 'auto'` resolved). */
  delimiter: string | null;
  /**
   * With `types: 'infer'`: the types inferred from the first rows, so a resumed run converts the
   * rest of the file exactly as the first run did instead of inferring again from the middle.
   */
  inferredTypes?: ColumnTypes | null;
  /** Counters of every row before `offset`, over every run. */
  counters: CheckpointCounters;
  /** The first failures before `offset` (up to `maxFailuresKept`). */
  failures: RowFailure[];
  fingerprint: SourceFingerprint;
  /** How many times the import was resumed, and where the last resume started. */
  resumes: number;
  resumedFromLine: number | null;
  resumedFromByte: number | null;
  /** When this state was written. */
  updatedAt: Date;
}

/**
 * Where checkpoints live. `mongoCheckpoints(collection)` is the default; implement this to keep
 * them elsewhere (Redis, a file, a SQL table). Every method is called at most once at a time for
 * a key, in order.
 */
export interface CheckpointStore {
  /** The checkpoint stored under `key`, or `undefined`. */
  load(key: string): Promise<Checkpoint | undefined>;
  /** Replaces the checkpoint under `key`. Must be durable when it resolves. */
  save(checkpoint: Checkpoint): Promise<void>;
  /** Removes the checkpoint under `key` (used to start over). */
  clear(key: string): Promise<void>;
}

/** Bytes of the source hashed into its fingerprint. @internal */
export const FINGERPRINT_BYTES = 64 * 1024;
