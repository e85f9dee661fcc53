import { EventEmitter } from 'node:events';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBatcher } from '../batch/batcher-stream.js';
import { createCsvParser } from '../csv/parser-stream.js';
import { IngestError, IngestErrorCode, isIngestError } from '../errors.js';
import { createMemoryMonitor, readMemory, type MemorySample } from '../memory/memory-monitor.js';
import { createRowMapperStream } from '../rows/mapper-stream.js';
import { withDetail } from '../mongo/write-errors.js';
import { createBulkSink, type BulkSink } from '../sink/bulk-sink.js';
import type { Batch, IngestReport, IngestSnapshot, RowFailure, RowFailureValues, WriteResult } from '../types.js';
import { RowFailureCode } from '../types.js';
import { Accounting } from './accounting.js';
import { createByteMeter } from './byte-meter.js';
import { normalizePipelineOptions, type IngestPipelineOptions, type NormalizedPipelineOptions } from './options.js';

/** What `run()` accepts: a byte stream, or any (async) iterable of bytes or strings. */
export type IngestSource = Readable | NodeJS.ReadableStream | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

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
  /** The final report, for every ending: done, failed or aborted. */
  done: [report: IngestReport];
}

/**
 * One import: `run(source)` streams the source through the stages and resolves with the report.
 * Create one per file.
 */
export class IngestPipeline extends EventEmitter<IngestPipelineEvents> {
  readonly #options: NormalizedPipelineOptions;
  readonly #accounting: Accounting;
  readonly #controller = new AbortController();
  #stopReason: IngestError | undefined;
  #started = false;
  #settled = false;

  /** @internal Use {@link createIngestPipeline}. */
  constructor(options: IngestPipelineOptions) {
    super();
    this.#options = normalizePipelineOptions(options);
    this.#accounting = new Accounting(this.#options.id, this.#options.maxFailuresKept);
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
    const onUserAbort = (): void => this.abort(abortMessage(o.signal?.reason));
    if (o.signal?.aborted) onUserAbort();
    else o.signal?.addEventListener('abort', onUserAbort, { once: true });
    const heartbeat = o.logger ? setInterval(() => this.#heartbeat(), o.heartbeatMs).unref() : undefined;
    let sink: BulkSink | undefined;
    let error: IngestError | undefined;
    try {
      if (o.ping && o.sink.ping && !this.#stopReason) await this.#ping();
      if (this.#stopReason) throw this.#stopReason;
      sink = this.#createSink();
      await pipeline(this.#stages(source, sink), { signal: this.#controller.signal });
    } catch (err) {
      error = this.#stopReason ?? toIngestError(err);
    } finally {
      // Batches in flight when the pipeline stopped are still acknowledged and counted.
      await sink?.whenIdle();
      o.signal?.removeEventListener('abort', onUserAbort);
      if (heartbeat) clearInterval(heartbeat);
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

  #stages(source: IngestSource, sink: BulkSink): [Readable, ...Transform[], BulkSink] {
    const o = this.#options;
    const acc = this.#accounting;
    const readable = source instanceof Readable ? source : Readable.from(source as AsyncIterable<Uint8Array | string>, { objectMode: true });
    const stages: Transform[] = [createByteMeter(o.maxInputBytes, (total) => (acc.bytesRead = total))];
    if (o.memoryIntervalMs !== undefined) {
      const monitor = createMemoryMonitor({ intervalMs: o.memoryIntervalMs });
      const first = monitor.last;
      acc.memory(first.heapUsedBytes, first.rssBytes);
      monitor.on('memory', (sample: MemorySample) => {
        acc.memory(sample.heapUsedBytes, sample.rssBytes);
        this.emit('memory', sample);
      });
      stages.push(monitor);
    }
    stages.push(
      createCsvParser({
        ...o.csv,
        emit: 'chunk',
        onRowFailure: (f, values) => this.#fail(f, values),
        onSkip: () => this.#skip(),
        onHeader: (columns) => this.emit('header', columns),
      }),
      createRowMapperStream({
        types: o.types,
        schema: o.schema,
        map: o.map,
        importId: o.id,
        onRowFailure: (f, values) => this.#fail(f, values),
        onSkip: () => this.#skip(),
      }),
      createBatcher({ size: o.batch.size, maxBytes: o.batch.maxBytes, maxWaitMs: o.batch.maxWaitMs }),
    );
    return [readable, ...stages, sink];
  }

  #createSink(): BulkSink {
    const o = this.#options;
    const sink = createBulkSink(o.sink, { concurrency: o.concurrency, retry: o.retry, signal: this.#controller.signal });
    sink.on('batchWritten', (result: WriteResult, batch: Batch) => {
      if (this.#settled) return;
      this.#accounting.written(result);
      if (result.failures.length > 0) {
        const documents = new Map(batch.items.map((item) => [item.line, item.document]));
        for (const f of result.failures) this.#fail(f, documents.get(f.line));
      }
      this.emit('progress', this.#accounting.snapshot());
    });
    sink.on('batchRefused', (err: IngestError, batch: Batch, transient: boolean) => {
      this.#stopReason ??= err;
      // After a refusal nothing of the batch landed; after an outage, some of it may have.
      // The refusal's text (the driver's, naming servers and indexes) stays in `detail` and the
      // import's error, out of the per-row messages that reach clients.
      const failure = transient
        ? { code: RowFailureCode.E_UNCONFIRMED, message: "Unconfirmed: the database became unreachable while this row's batch was written, so it may or may not be there." }
        : { code: RowFailureCode.E_WRITE, message: "Not written: the database refused this row's batch." };
      for (const item of batch.items) this.#fail(withDetail({ line: item.line, ...failure }, err.message), item.document, false);
    });
    sink.on('retry', (err: unknown, batch: Batch, attempt: number) => {
      // The error itself, so a pino logger's serializer keeps its type, code and stack.
      o.logger?.warn({ importId: o.id, batch: batch.seq, attempt, err }, 'retrying batch');
    });
    return sink;
  }

  #fail(failure: RowFailure, values?: RowFailureValues, enforceLimit = true): void {
    if (this.#settled) return;
    this.#accounting.fail(failure);
    if (failure.detail !== undefined) this.#options.logger?.debug({ importId: this.#options.id, line: failure.line, code: failure.code, detail: failure.detail }, 'row refused by the database');
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

  #stop(reason: IngestError): void {
    if (this.#stopReason || this.#settled) return;
    this.#stopReason = reason;
    this.#controller.abort(reason);
  }

  #heartbeat(): void {
    const s = this.#accounting.snapshot();
    this.#options.logger?.info(
      {
        importId: s.id,
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
    const report = acc.report(error ? { code: error.code, message: error.message } : undefined);
    this.emit('progress', acc.snapshot());
    this.emit('done', report);
    const ended = { importId: report.id, state: report.state, rowsWritten: report.rowsWritten, rowsFailed: report.rowsFailed, elapsedMs: report.elapsedMs };
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
