import { randomUUID } from 'node:crypto';
import { IngestError, IngestErrorCode, invalidOption } from '../errors.js';
import type { CsvStart } from '../csv/reader.js';
import type { CsvTracking } from '../csv/parser-stream.js';
import type { ColumnTypes } from '../rows/convert.js';
import type { BatchWriter, IngestLogger, IngestReport } from '../types.js';
import { numberOption } from '../options/number-option.js';
import { deterministicIdFactory } from './ids.js';
import { Ledger, zeroCounters } from './ledger.js';
import { fingerprint, type SeekableSource } from './source.js';
import type { Checkpoint, CheckpointStore, SourceFingerprint } from './store.js';

/** The `resume` option of `createIngestPipeline`. */
export interface ResumeOptions {
  /** Where checkpoints are kept: `mongoCheckpoints(collection)`, or your own {@link CheckpointStore}. */
  store: CheckpointStore;
  /** Names the import: the same key continues it. The CLI uses the file's absolute path and the target namespace. */
  key: string;
  /**
   * Start over: forget the checkpoint under `key` (completed or not) and import from the first row.
   * Rows written by the earlier runs stay where they are.
   * @defaultValue `false`
   */
  restart?: boolean;
  /**
   * Least time between two checkpoint writes, in milliseconds. A checkpoint is written after an
   * acknowledged batch once this long has passed since the last one, so its cost is bounded
   * however small the batches; a crash replays at most this long of work.
   * @defaultValue `1000`
   */
  intervalMs?: number;
  /**
   * What to do when `run()` is given a stream (stdin, an HTTP body, any `Readable` or iterable)
   * rather than a {@link SeekableSource}. A stream cannot be read from an offset, so it can never
   * continue an import.
   * - `'refuse'`: fail with `E_NOT_SEEKABLE` before anything is read.
   * - `'checkpoint-only'`: import it as a first run that keeps checkpoints, so its durable offset
   *   is known (in `snapshot().durable`, the `checkpoint` event and the store) and the import can
   *   later be continued from a source that can be read from that offset. Its fingerprint is
   *   taken from its first 64 KiB, read (and held) before the first row is processed, so the first
   *   checkpoint is stored before anything is written; `_id`s are deterministic as in any
   *   resumable import. A key that already has a checkpoint that did not complete is refused with
   *   `E_NOT_SEEKABLE` before anything is read, naming the line and byte it stopped at
   *   (`context.line`, `context.offset`); a completed key with `E_ALREADY_DONE`.
   * @defaultValue `'refuse'`
   */
  stream?: 'refuse' | 'checkpoint-only';
  /**
   * With `stream: 'checkpoint-only'`: the stream's size in bytes when it is known (an upload's
   * `Content-Length`), kept in the fingerprint. A run that continues the import from a
   * {@link SeekableSource} must then have the same size (for a `fileSource`, the file's). Ignored
   * for a seekable source, which has its own `size`.
   * @defaultValue `undefined` (unknown)
   */
  streamSize?: number;
}

/** @internal */
export interface NormalizedResumeOptions {
  store: CheckpointStore;
  key: string;
  restart: boolean;
  intervalMs: number;
  stream: 'refuse' | 'checkpoint-only';
  streamSize: number | undefined;
}

/** @internal */
export function normalizeResumeOptions(value: ResumeOptions | undefined): NormalizedResumeOptions | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw invalidOption('resume', '{ store, key }', value);
  const store = value.store;
  if (store === null || typeof store !== 'object' || typeof store.load !== 'function' || typeof store.save !== 'function' || typeof store.clear !== 'function') {
    throw invalidOption('resume.store', 'a CheckpointStore such as mongoCheckpoints(collection)', store);
  }
  if (typeof value.key !== 'string' || value.key.length === 0) throw invalidOption('resume.key', 'a non-empty string', value.key);
  const intervalMs = numberOption('resume.intervalMs', value.intervalMs, 1000);
  const stream = value.stream ?? 'refuse';
  if (stream !== 'refuse' && stream !== 'checkpoint-only') throw invalidOption('resume.stream', "'refuse' or 'checkpoint-only'", value.stream);
  const streamSize = value.streamSize === undefined ? undefined : numberOption('resume.streamSize', value.streamSize, 0, { integer: true });
  return { store, key: value.key, restart: value.restart === true, intervalMs, stream, streamSize };
}

/**
 * One run of a resumable import: loads and checks the checkpoint, gives the pipeline where to
 * start, makes inserts replayable, and writes checkpoints as the frontier moves.
 * @internal
 */
export class ResumeSession {
  readonly ledger: Ledger;
  /** Where the CSV reader starts, when not at the beginning. */
  readonly start: CsvStart | undefined;
  /** Whether an earlier run may have written rows this run reads again. */
  readonly replay: boolean;
  readonly #options: NormalizedResumeOptions;
  readonly #checkpoint: Checkpoint;
  readonly #idFor: (line: number) => unknown;
  readonly #logger: IngestLogger | undefined;
  readonly #keep: number;
  #tracking: CsvTracking | undefined;
  #onSaved: ((at: { offset: number; line: number; completed: boolean }) => void) | undefined;
  #saving: Promise<void> | undefined;
  #lastSave = 0;
  #dirty = false;
  #closing = false;

  private constructor(options: NormalizedResumeOptions, checkpoint: Checkpoint, replay: boolean, keep: number, logger: IngestLogger | undefined) {
    this.#options = options;
    this.#checkpoint = checkpoint;
    this.replay = replay;
    this.#keep = keep;
    this.#logger = logger;
    this.#idFor = deterministicIdFactory(checkpoint.nonce);
    this.ledger = new Ledger({ offset: checkpoint.offset, line: checkpoint.line }, checkpoint.counters, checkpoint.failures, keep);
    if (checkpoint.offset > 0) {
      const { header, charset, delimiter } = checkpoint;
      if (header === null || charset === null || delimiter === null) {
        throw new IngestError(IngestErrorCode.E_RESUME_MISMATCH, `The checkpoint "${options.key}" is incomplete (no header or parser settings). Start over with restart.`, {});
      }
      this.start = { offset: checkpoint.offset, line: checkpoint.line, header, charset, delimiter };
    }
  }

  /**
   * Loads the checkpoint under the key and checks it against the source, before anything is read
   * or written; a fresh import stores its first checkpoint here, so even a crash before the first
   * acknowledged batch leaves a trace that makes the next run check for its own rows.
   *
   * `source` is a seekable source, or for a stream (`stream: 'checkpoint-only'`) the function that
   * reads its head and fingerprints it: called only once the checkpoint allows a first run, so a
   * refused stream is never read.
   */
  static async open(
    options: NormalizedResumeOptions,
    source: SeekableSource | (() => Promise<SourceFingerprint>),
    keep: number,
    logger: IngestLogger | undefined,
  ): Promise<ResumeSession> {
    const { store, key } = options;
    if (options.restart) await store.clear(key);
    const streamHead = typeof source === 'function' ? source : undefined;
    const [stored, seekablePrint] = await Promise.all([store.load(key), streamHead ? undefined : fingerprint(source as SeekableSource)]);
    if (stored?.completed) {
      throw new IngestError(
        IngestErrorCode.E_ALREADY_DONE,
        `The import "${key}" already completed (${stored.counters.rowsWritten} rows written); nothing was read. To import the file again, start over (restart: true, or --restart in the CLI).`,
        {},
      );
    }
    if (stored !== undefined && streamHead) {
      throw new IngestError(
        IngestErrorCode.E_NOT_SEEKABLE,
        `The import "${key}" stopped at line ${stored.line} (byte ${stored.offset}) with ${stored.counters.rowsWritten} rows written, and a stream cannot be read from there; nothing was read. ` +
          'Continue it from a source that can (fileSource(path), or { open(start), size }), or start over (restart: true).',
        { line: stored.line, offset: stored.offset },
      );
    }
    const print = seekablePrint ?? (await streamHead!());
    if (stored !== undefined && ((stored.fingerprint.size ?? null) !== (print.size ?? null) || stored.fingerprint.head !== print.head)) {
      throw new IngestError(
        IngestErrorCode.E_RESUME_MISMATCH,
        `The source is not the one the checkpoint "${key}" was taken from (its size or first bytes differ: ${stored.fingerprint.size ?? '?'} bytes then, ${print.size ?? '?'} now); nothing was written. ` +
          'Use another key for a different file, or start over (restart: true, or --restart in the CLI).',
        {},
      );
    }
    const checkpoint: Checkpoint = stored
      ? { ...stored, resumes: stored.resumes + 1, resumedFromLine: stored.line, resumedFromByte: stored.offset, updatedAt: new Date() }
      : {
          key,
          nonce: randomUUID(),
          completed: false,
          offset: 0,
          line: 1,
          header: null,
          charset: null,
          delimiter: null,
          counters: zeroCounters(),
          failures: [],
          fingerprint: print,
          resumes: 0,
          resumedFromLine: null,
          resumedFromByte: null,
          updatedAt: new Date(),
        };
    const session = new ResumeSession(options, checkpoint, stored !== undefined, keep, logger);
    await store.save(checkpoint);
    return session;
  }

  /** Where the import resumed, for the report; undefined for a first run. */
  get resumed(): IngestReport['resumed'] {
    const c = this.#checkpoint;
    return c.resumes > 0 ? { fromLine: c.resumedFromLine ?? 1, fromByte: c.resumedFromByte ?? 0, times: c.resumes } : undefined;
  }

  /** Types inferred by an earlier run of this import (`types: 'infer'`), to apply unchanged. */
  get inferredTypes(): ColumnTypes | undefined {
    return this.#checkpoint.offset > 0 ? (this.#checkpoint.inferredTypes ?? undefined) : undefined;
  }

  /** Keeps the types this run inferred in every checkpoint from now on. */
  rememberInferredTypes(types: ColumnTypes): void {
    this.#checkpoint.inferredTypes = { ...types };
  }

  /** The parser's settings, for checkpoints; `saved` hears of every checkpoint stored. */
  track(tracking: CsvTracking, saved: (at: { offset: number; line: number; completed: boolean }) => void): void {
    this.#tracking = tracking;
    this.#onSaved = saved;
  }

  /**
   * The writer with replayable inserts: documents without an `_id` get the deterministic one of
   * their line, and every write says whether it may be a replay.
   */
  wrap(writer: BatchWriter): BatchWriter {
    const idFor = this.#idFor;
    const replay = this.replay;
    const insert = writer.resumeMode === 'insert';
    return {
      ...(writer.keysOf ? { keysOf: (batch) => writer.keysOf!(batch) } : {}),
      ...(writer.isTransient ? { isTransient: (err) => writer.isTransient!(err) } : {}),
      ...(writer.ping ? { ping: (signal) => writer.ping!(signal) } : {}),
      resumeMode: writer.resumeMode,
      write(batch, attempt) {
        if (insert && attempt.attempt === 0) {
          for (const item of batch.items) {
            if (item.document._id === undefined && item.line > 0) {
              item.document._id = idFor(item.line);
              item.assignedId = true;
            }
          }
        }
        return writer.write(batch, replay ? { ...attempt, replay } : attempt);
      },
    };
  }

  /**
   * After an acknowledged batch: writes a checkpoint when the frontier moved, no write is in
   * flight and `intervalMs` has passed since the last; a move that has to wait is written by the
   * next acknowledgement, right after the write in flight, or when the run ends.
   */
  afterAck(): void {
    if (this.ledger.takeMoved()) this.#dirty = true;
    this.#kick();
  }

  #kick(): void {
    if (this.#closing || this.#saving !== undefined || !this.#dirty) return;
    if (Date.now() - this.#lastSave < this.#options.intervalMs) return;
    this.#dirty = false;
    this.#saving = this.#save(false).finally(() => {
      this.#saving = undefined;
      this.#kick();
    });
  }

  /** The last checkpoint of this run: completed when the import reached the end. */
  async close(completed: boolean): Promise<void> {
    this.#closing = true;
    while (this.#saving !== undefined) await this.#saving;
    await this.#save(completed);
  }

  async #save(completed: boolean): Promise<void> {
    const settings = this.#tracking?.settings();
    const c = this.#checkpoint;
    const frontier = this.ledger.frontier;
    c.offset = frontier.offset;
    c.line = frontier.line;
    c.counters = { ...this.ledger.counters };
    c.failures = this.ledger.failures.slice(0, this.#keep);
    c.completed = completed;
    if (settings?.header !== undefined) c.header = [...settings.header];
    if (settings?.charset !== undefined) c.charset = settings.charset;
    if (settings?.delimiter !== undefined) c.delimiter = settings.delimiter;
    c.updatedAt = new Date();
    this.#lastSave = Date.now();
    try {
      await this.#options.store.save({ ...c, counters: { ...c.counters }, failures: [...c.failures] });
      this.#onSaved?.({ offset: frontier.offset, line: frontier.line, completed });
    } catch (err) {
      // A checkpoint that could not be written costs a longer replay, never a row.
      this.#logger?.warn({ key: c.key, err: err instanceof Error ? err.message : String(err) }, 'checkpoint not saved');
    }
  }
}
