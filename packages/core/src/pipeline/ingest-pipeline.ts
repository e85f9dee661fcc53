import { EventEmitter } from 'node:events';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createConsumingBatcher } from '../batch/batcher-stream.js';
import { createCsvParser, type CsvTracking } from '../csv/parser-stream.js';
import { IngestError, IngestErrorCode, isIngestError } from '../errors.js';
import { createMemoryMonitor, readMemory, type MemorySample } from '../memory/memory-monitor.js';
import { ImportObserver } from '../observability/observer.js';
import { createTypeInferenceStage } from '../preview/infer-stream.js';
import { Ledger, zeroCounters } from '../resume/ledger.js';
import { ResumeSession } from '../resume/session.js';
import { fingerprintStream, isSeekableSource, type SeekableSource } from '../resume/source.js';
import type { SourceFingerprint } from '../resume/store.js';
import type { ColumnTypes } from '../rows/convert.js';
import { createRowMapperStream } from '../rows/mapper-stream.js';
import { withDetail } from '../mongo/write-errors.js';
import { createBulkSink, type BulkSink } from '../sink/bulk-sink.js';
import { isForgetful, releaseBatch } from '../sink/release.js';
import type { Batch, IngestReport, IngestSnapshot, RowFailure, RowFailureValues, WriteResult } from '../types.js';
import { RowFailureCode } from '../types.js';
import { runOnWorkers, type WorkersHost } from '../workers/coordinator.js';
import { Accounting } from './accounting.js';
import { createByteMeter } from './byte-meter.js';
import { normalizePipelineOptions, type IngestPipelineOptions, type NormalizedPipelineOptions } from './options.js';

/**
 * What `run()` accepts: a byte stream, any (async) iterable of bytes or strings, or a
 * {@link SeekableSource} such as `fileSource(path)` (the only kind a `resume` import accepts).
 */
export type IngestSource = Readable | NodeJS.ReadableStream | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> | SeekableSource;

/** Events of an {@link IngestPipeline}. */
export interface IngestPipelineEvents {
  /** Counters, after every acknowledged batch and once at the end. */
  progress: [snapshot: IngestSnapshot];
  /**
   * A row that was read but not written, with its values: the fields as read, or the document as
   * sent when the database refused it (see {@link RowFailureValues}). Emitted for every failed
   * row, however many; the report keeps only the first `maxFailuresKept`.
   */
  rowFailure: [failure: RowFailure, values: RowFailureValues | undefined];
  /** The checked header row, once, before any row is processed. */
  header: [columns: readonly string[]];
  /** A memory sample (every `memory.intervalMs`). */
  memory: [sample: MemorySample];
  /** With `types: 'infer'`: the type chosen for every column, once, before the first row is converted. */
  typesInferred: [types: ColumnTypes];
  /** The final report, for every ending: done, failed or aborted. */
  done: [report: IngestReport];
  /**
   * A resumable import found its checkpoint and continues from it (before anything is read):
   * where, and the counters so far.
   */
  resume: [at: { line: number; offset: number; rowsWritten: number; rowsRead: number; times: number }];
  /** A checkpoint was stored: the import can be continued from `offset` (line `line`). */
  checkpoint: [at: { offset: number; line: number; completed: boolean }];
}

/**
 * One import: `run(source)` streams the source through the stages and resolves with the report.
 * Create one per file.
 */
export class IngestPipeline extends EventEmitter<IngestPipelineEvents> {
  readonly #options: NormalizedPipelineOptions;
  readonly #accounting: Accounting;
  readonly #controller = new AbortController();
  readonly #observer: ImportObserver;
  #stopReason: IngestError | undefined;
  /** Where the import is settled up to; the checkpoints' and `bytesAcknowledged`'s source. */
  #ledger: Ledger;
  readonly #tracking: CsvTracking = { records: 0, settings: () => ({ charset: undefined, delimiter: undefined, header: undefined }) };
  #session: ResumeSession | undefined;
  #started = false;
  #settled = false;
  #header: readonly string[] | undefined;
  #inferredTypes: ColumnTypes | undefined;

  /** @internal Use {@link createIngestPipeline}. */
  constructor(options: IngestPipelineOptions) {
    super();
    this.#options = normalizePipelineOptions(options);
    this.#accounting = new Accounting(this.#options.id, this.#options.maxFailuresKept);
    this.#ledger = new Ledger({ offset: 0, line: 1 }, zeroCounters(), [], 0);
    this.#observer = new ImportObserver(this.#options.id);
  }

  /** The import's id. */
  get id(): string {
    return this.#options.id;
  }

  /** The counters now. Cheap; call it as often as you like. */
  snapshot(): IngestSnapshot {
    return this.#accounting.snapshot();
  }

  /**
   * Stops the import: reading stops at once, batches in flight settle, and `run()` rejects with
   * `E_ABORTED` carrying the report of what was written.
   */
  abort(reason?: string): void {
    this.#stop(new IngestError(IngestErrorCode.E_ABORTED, reason ?? 'The import was aborted.'));
  }

  /**
   * Streams `source` into the sink. Resolves with the report when every row is accounted for;
   * rejects with an {@link IngestError} (whose `report` holds the counts) only when the import
   * ends early: bad header, unreadable input, too many failures, database down, or abort.
   */
  async run(source: IngestSource): Promise<IngestReport> {
    if (this.#started) throw new IngestError(IngestErrorCode.E_OPTIONS, 'run() can be called once per pipeline; create a new pipeline for each import.');
    this.#started = true;
    const o = this.#options;
    const settings = { batchSize: o.batch.size, concurrency: o.concurrency, engine: o.csv.engine, types: o.types === 'infer' ? 'infer' : o.types ? 'given' : 'none' } as const;
    this.#observer.start(settings);
    o.logger?.info(settings, 'ingest started');
    const onUserAbort = (): void => this.abort(abortMessage(o.signal?.reason));
    if (o.signal?.aborted) onUserAbort();
    else o.signal?.addEventListener('abort', onUserAbort, { once: true });
    const heartbeat = o.logger ? setInterval(() => this.#heartbeat(), o.heartbeatMs).unref() : undefined;
    let sink: BulkSink | undefined;
    let error: IngestError | undefined;
    try {
      if (o.resume && o.resume.stream !== 'checkpoint-only' && !isSeekableSource(source)) {
        throw new IngestError(
          IngestErrorCode.E_NOT_SEEKABLE,
          'resume needs a source that can be read from an offset, such as fileSource(path) or { open(start), size }; a stream (stdin, an upload) cannot be resumed ' +
            "(resume.stream: 'checkpoint-only' keeps checkpoints of it without resuming). Nothing was read.",
        );
      }
      if (o.ping && o.sink.ping && !this.#stopReason) await this.#ping();
      if (this.#stopReason) throw this.#stopReason;
      if (o.resume) source = await this.#openSession(source);
      if (o.workers) {
        await runOnWorkers(isSeekableSource(source) ? source.open(0) : toReadable(source), this.#inputStages(0), o, o.workers, this.#workersHost());
      } else {
        sink = this.#createSink();
        await pipeline(this.#stages(source, sink), { signal: this.#controller.signal });
      }
    } catch (err) {
      error = this.#stopReason ?? toIngestError(err);
    } finally {
      // Batches in flight when the pipeline stopped are still acknowledged and counted.
      await sink?.whenIdle();
      await this.#session?.close(error === undefined);
      o.signal?.removeEventListener('abort', onUserAbort);
      if (heartbeat) clearInterval(heartbeat);
      // The settings closure reaches the CSV reader and its buffers; an ended import that is kept
      // (an HTTP registry keeps them for an hour) must not keep those alive.
      const settings = this.#tracking.settings();
      this.#tracking.settings = () => settings;
    }
    return this.#finish(error);
  }

  async #ping(): Promise<void> {
    try {
      await this.#options.sink.ping!(this.#controller.signal);
    } catch (err) {
      if (this.#stopReason) throw this.#stopReason;
      throw new IngestError(
        IngestErrorCode.E_SINK,
        `The database did not answer a ping: ${err instanceof Error ? err.message : String(err)}. Nothing was read; try again when it is reachable.`,
        {},
        { cause: err },
      );
    }
  }

  /** Opens the resume session; a stream comes back with its head read (and kept) for its fingerprint. */
  async #openSession(source: IngestSource): Promise<IngestSource> {
    const o = this.#options;
    let session: ResumeSession;
    let opened: IngestSource = source;
    const head = async (): Promise<SourceFingerprint> => {
      try {
        const read = await fingerprintStream(toReadable(source as Exclude<IngestSource, SeekableSource>), o.resume!.streamSize, this.#controller.signal);
        opened = read.stream;
        return read.fingerprint;
      } catch (err) {
        // The source's own failure, not the store's.
        throw this.#stopReason ?? toIngestError(err);
      }
    };
    try {
      session = await ResumeSession.open(o.resume!, isSeekableSource(source) ? source : head, o.maxFailuresKept, o.logger);
    } catch (err) {
      // A stream whose head was read, then the first checkpoint not stored: nothing will read the rest.
      if (opened !== source) (opened as Readable).destroy();
      if (isIngestError(err)) throw err;
      throw new IngestError(IngestErrorCode.E_SINK, `The checkpoint could not be read or written, so nothing was imported: ${err instanceof Error ? err.message : String(err)}.`, {}, { cause: err });
    }
    this.#session = session;
    this.#ledger = session.ledger;
    this.#accounting.resumeFrom(session.ledger.counters, session.ledger.failures);
    this.#accounting.bytesAcknowledged = session.ledger.frontier.offset;
    this.#accounting.durable = { ...session.ledger.frontier };
    session.track(this.#tracking, (at) => {
      this.#accounting.durable = { offset: at.offset, line: at.line };
      this.emit('checkpoint', at);
    });
    const resumed = session.resumed;
    if (resumed) {
      o.logger?.info({ line: resumed.fromLine, byte: resumed.fromByte }, 'resuming import');
      const c = session.ledger.counters;
      this.emit('resume', { line: resumed.fromLine, offset: resumed.fromByte, rowsWritten: c.rowsWritten, rowsRead: c.rowsRead, times: resumed.times });
    }
    return opened;
  }

  #stages(source: IngestSource, sink: BulkSink): [Readable, ...Transform[], BulkSink] {
    const o = this.#options;
    const start = this.#session?.start;
    const readable = isSeekableSource(source) ? source.open(start?.offset ?? 0) : toReadable(source);
    const stages = this.#inputStages(start?.offset ?? 0);
    stages.push(
      createCsvParser({
        ...o.csv,
        emit: 'chunk',
        onRowFailure: (f, values, end, nextLine) => {
          this.#fail(f, values);
          this.#settleEarly(f.line, end, nextLine, f, false);
        },
        onSkip: (line, end, nextLine) => {
          this.#skip();
          this.#settleEarly(line, end, nextLine, undefined, false);
        },
        onHeader: (columns) => {
          this.#header = columns;
          this.emit('header', columns);
        },
        ...(start ? { start } : {}),
        tracking: this.#tracking,
      }),
    );
    // A resumed import applies the types its first run inferred: inferring again from the middle
    // of the file could choose differently and convert the rest of it another way.
    const inferredBefore = o.types === 'infer' ? this.#session?.inferredTypes : undefined;
    if (inferredBefore) this.#inferredTypes = inferredBefore;
    else if (o.types === 'infer') {
      stages.push(
        createTypeInferenceStage({
          columns: () => this.#header ?? o.csv.columns,
          onInferred: (types) => {
            this.#inferredTypes = types;
            this.#session?.rememberInferredTypes(types);
            this.emit('typesInferred', types);
          },
        }),
      );
    }
    stages.push(
      createRowMapperStream({
        types: o.types === 'infer' ? () => this.#inferredTypes : o.types,
        schema: o.schema,
        map: o.map,
        importId: o.id,
        onRowFailure: (f, values, record) => {
          this.#fail(f, values);
          this.#settleEarly(f.line, record?.end, record?.nextLine, f, true);
        },
        onSkip: (line, record) => {
          this.#skip();
          this.#settleEarly(line, record?.end, record?.nextLine, undefined, true);
        },
      }),
      createConsumingBatcher({ size: o.batch.size, maxBytes: o.batch.maxBytes, maxWaitMs: o.batch.maxWaitMs }),
    );
    return [readable, ...stages, sink];
  }

  /**
   * The byte meter and the memory monitor: the head of {@link #stages}, and all the bytes of an
   * import with `workers` go through in this thread.
   */
  #inputStages(offset: number): Transform[] {
    const o = this.#options;
    const acc = this.#accounting;
    const stages: Transform[] = [createByteMeter(o.maxInputBytes, (total) => (acc.bytesRead = total), offset)];
    if (o.memoryIntervalMs !== undefined) {
      const monitor = createMemoryMonitor({ intervalMs: o.memoryIntervalMs });
      const first = monitor.last;
      acc.memory(first.heapUsedBytes, first.rssBytes);
      this.#observer.memory(first);
      monitor.on('memory', (sample: MemorySample) => {
        acc.memory(sample.heapUsedBytes, sample.rssBytes);
        this.emit('memory', sample);
        this.#observer.memory(sample);
      });
      stages.push(monitor);
    }
    return stages;
  }

  /** What the workers' coordinator (`workers` option) counts and reports through. */
  #workersHost(): WorkersHost {
    const acc = this.#accounting;
    return {
      signal: this.#controller.signal,
      header: (columns) => {
        this.#header = columns;
        this.emit('header', columns);
      },
      fail: (failure, values, enforceLimit) => this.#fail(failure, values, enforceLimit),
      skip: () => this.#skip(),
      written: (result, batches) => {
        if (this.#settled) return;
        acc.written(result);
        acc.batchesWritten += batches - 1;
      },
      progress: () => {
        if (this.#settled) return;
        const snapshot = acc.snapshot();
        this.emit('progress', snapshot);
        this.#observer.progress(snapshot);
      },
      refused: (err, transient, items) => this.#refused(err, transient, items),
      acknowledged: (offset) => (acc.bytesAcknowledged = offset),
      retry: (seq, attempt, message) => this.#options.logger?.warn({ batch: seq, attempt, err: { message } }, 'retrying batch'),
      stop: (err) => this.#stop(err),
    };
  }

  #createSink(): BulkSink {
    const o = this.#options;
    const writer = this.#session ? this.#session.wrap(o.sink) : o.sink;
    const sink = createBulkSink(this.#observer.wrap(writer), { concurrency: o.concurrency, retry: o.retry, signal: this.#controller.signal });
    // Only a writer that keeps nothing of a settled batch (mongoSink's) gets its batches emptied
    // once counted: a user's writer may read them later.
    const release = isForgetful(o.sink);
    sink.on('batchWritten', (result: WriteResult, batch: Batch) => {
      if (this.#settled) return;
      this.#accounting.written(result);
      if (result.failures.length > 0) {
        const documents = new Map(batch.items.map((item) => [item.line, item.document]));
        for (const f of result.failures) this.#fail(f, documents.get(f.line));
      }
      const last = batch.items[batch.items.length - 1];
      this.#ledger.acknowledged(batch.seq, result, batch.items.length, last?.line ?? 0, last?.end, last?.nextLine);
      this.#accounting.bytesAcknowledged = this.#ledger.frontier.offset;
      this.#session?.afterAck();
      this.#observer.batchWritten(result, batch);
      const snapshot = this.#accounting.snapshot();
      this.emit('progress', snapshot);
      this.#observer.progress(snapshot);
      if (release) releaseBatch(batch);
    });
    sink.on('batchRefused', (err: IngestError, batch: Batch, transient: boolean) => {
      this.#ledger.refused(batch.items.length);
      this.#stopReason ??= err;
      // After a refusal nothing of the batch landed; after an outage, some of it may have.
      // The refusal's text (the driver's, naming servers and indexes) stays in `detail` and the
      // import's error, out of the per-row messages that reach clients.
      const failure = transient
        ? { code: RowFailureCode.E_UNCONFIRMED, message: "Unconfirmed: the database became unreachable while this row's batch was written, so it may or may not be there." }
        : { code: RowFailureCode.E_WRITE, message: "Not written: the database refused this row's batch." };
      for (const item of batch.items) this.#fail(withDetail({ line: item.line, ...failure }, err.message), item.document, false);
      if (release) releaseBatch(batch);
    });
    sink.on('retry', (err: unknown, batch: Batch, attempt: number) => {
      this.#observer.retry(err, batch, attempt);
      // The error itself, so a pino logger's serializer keeps its type, code and stack.
      o.logger?.warn({ batch: batch.seq, attempt, err }, 'retrying batch');
    });
    return sink;
  }

  /**
   * A worker's batch the database refused for good: every row fails, with the words the one-thread
   * sink's `batchRefused` handler uses, and the refusal ends the import.
   */
  #refused(err: IngestError, transient: boolean, items: readonly { line: number; values?: RowFailureValues }[]): void {
    this.#stopReason ??= err;
    // After a refusal nothing of the batch landed; after an outage, some of it may have.
    // The refusal's text (the driver's, naming servers and indexes) stays in `detail` and the
    // import's error, out of the per-row messages that reach clients.
    const failure = transient
      ? { code: RowFailureCode.E_UNCONFIRMED, message: "Unconfirmed: the database became unreachable while this row's batch was written, so it may or may not be there." }
      : { code: RowFailureCode.E_WRITE, message: "Not written: the database refused this row's batch." };
    for (const item of items) this.#fail(withDetail({ line: item.line, ...failure }, err.message), item.values, false);
  }

  #fail(failure: RowFailure, values?: RowFailureValues, enforceLimit = true): void {
    if (this.#settled) return;
    this.#accounting.fail(failure);
    this.#observer.failed(failure.code);
    if (failure.detail !== undefined) this.#options.logger?.debug({ line: failure.line, code: failure.code, detail: failure.detail }, 'row refused by the database');
    this.emit('rowFailure', failure, values);
    if (enforceLimit && this.#accounting.rowsFailed > this.#options.maxFailures) {
      this.#stop(
        new IngestError(
          IngestErrorCode.E_TOO_MANY_FAILURES,
          `More than ${this.#options.maxFailures} rows failed; the import stopped at line ${failure.line}. See the report's failures for the first ones.`,
          { line: failure.line, limit: this.#options.maxFailures },
        ),
      );
    }
  }

  #skip(): void {
    if (!this.#settled) this.#accounting.skip();
  }

  /** A row failed or skipped before the sink, for the frontier (`afterParser`: it was a good record). */
  #settleEarly(line: number, end: number | undefined, nextLine: number | undefined, failure: RowFailure | undefined, afterParser: boolean): void {
    this.#ledger.settle(line, end, nextLine, failure, this.#tracking.records, afterParser);
    this.#accounting.bytesAcknowledged = this.#ledger.frontier.offset;
  }

  #stop(reason: IngestError): void {
    if (this.#stopReason || this.#settled) return;
    this.#stopReason = reason;
    this.#controller.abort(reason);
  }

  #heartbeat(): void {
    const s = this.#accounting.snapshot();
    this.#options.logger?.info(
      {
        processed: s.rowsRead,
        written: s.rowsWritten,
        failed: s.rowsFailed,
        rowsPerSecond: s.rowsPerSecond,
        heapMB: Math.round(s.heapUsedBytes / 1048576),
        rssMB: Math.round(s.rssBytes / 1048576),
      },
      'ingest progress',
    );
  }

  #finish(error: IngestError | undefined): IngestReport {
    const acc = this.#accounting;
    const now = readMemory();
    acc.memory(now.heapUsedBytes, now.rssBytes);
    acc.end(error === undefined ? 'done' : error.code === IngestErrorCode.E_ABORTED ? 'aborted' : 'failed');
    this.#settled = true;
    const resumed = this.#session?.resumed;
    const report = acc.report(error ? { code: error.code, message: error.message } : undefined);
    if (resumed) report.resumed = resumed;
    if (this.#inferredTypes) report.inferredTypes = this.#inferredTypes;
    const snapshot = acc.snapshot();
    this.emit('progress', snapshot);
    this.#observer.progress(snapshot);
    this.emit('done', report);
    this.#observer.end(report);
    const ended = { state: report.state, rowsWritten: report.rowsWritten, rowsFailed: report.rowsFailed, elapsedMs: report.elapsedMs };
    // The error as an object, never its message alone, so a pino logger serializes it whole.
    this.#options.logger?.info(error ? { ...ended, err: error } : ended, 'ingest finished');
    if (error) {
      error.report = report;
      throw error;
    }
    return report;
  }
}

function abortMessage(reason: unknown): string {
  if (reason instanceof Error && reason.name !== 'AbortError') return `The import was aborted: ${reason.message}`;
  if (typeof reason === 'string') return `The import was aborted: ${reason}`;
  return 'The import was aborted.';
}

/** A stream source as a `Readable`. */
function toReadable(source: Exclude<IngestSource, SeekableSource>): Readable {
  // One chunk read ahead, not object mode's default of 16: the parser is the slow side, and 16
  // chunks of a file read 256 KiB at a time would be 4 MiB of Buffers held for nothing.
  return source instanceof Readable ? source : Readable.from(source as AsyncIterable<Uint8Array | string>, { objectMode: true, highWaterMark: 1 });
}

function toIngestError(err: unknown): IngestError {
  if (isIngestError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new IngestError(IngestErrorCode.E_SOURCE, `Reading the input failed: ${message}`, {}, { cause: err });
}

/**
 * Creates one import: CSV bytes in, documents in the sink, every row accounted for.
 *
 * @example
 * ```ts
 * const pipeline = createIngestPipeline({
 *   sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }),
 *   csv: { delimiter: 'auto', encoding: 'auto' },
 *   map: (row) => ({ sku: row.sku, name: row.name, price: Number(row.price) }),
 * });
 * pipeline.on('progress', (p) => console.log(p.rowsWritten, p.heapUsedBytes));
 * const report = await pipeline.run(fs.createReadStream('products.csv'));
 * ```
 */
export function createIngestPipeline(options: IngestPipelineOptions): IngestPipeline {
  return new IngestPipeline(options);
}
