/**
 * OpenTelemetry for Anti-OOM: turns the import events published on `node:diagnostics_channel`
 * (see `IngestChannel`) into spans and metrics. Needs `@opentelemetry/api` (an optional peer
 * dependency of `@anti-oom/core`: install it to use this entry point) and an SDK set up by your
 * application; without one, the API's no-op tracer and meter cost next to nothing.
 *
 * @example
 * ```ts
 * import { instrumentIngest } from '@anti-oom/core/otel';
 * const stop = instrumentIngest(); // the global tracer and meter providers
 * // ... imports run and are traced ...
 * stop();
 * ```
 *
 * @packageDocumentation
 */
import { context, metrics, SpanStatusCode, trace, ValueType, type Attributes, type Context, type Meter, type Span, type Tracer } from '@opentelemetry/api';
import diagnostics from 'node:diagnostics_channel';
import {
  IngestChannel,
  type BatchRetryMessage,
  type BatchWrittenMessage,
  type ImportEndMessage,
  type ImportStartMessage,
  type MemoryMessage,
  type ProgressMessage,
  type RowsFailedMessage,
} from './observability/channels.js';

/** Options of {@link instrumentIngest}. */
export interface InstrumentIngestOptions {
  /**
   * Where spans go.
   * @defaultValue `trace.getTracer('@anti-oom/core')`
   */
  tracer?: Tracer;
  /**
   * Where metrics go.
   * @defaultValue `metrics.getMeter('@anti-oom/core')`
   */
  meter?: Meter;
  /**
   * One child span per acknowledged batch. Turn off for imports of many thousands of batches
   * when the import span and the metrics are enough.
   * @defaultValue `true`
   */
  batchSpans?: boolean;
}

/** Names of the spans and metrics {@link instrumentIngest} records; public API, like the channel names. */
export const IngestTelemetry = {
  /** Span: one per import, from `run()` to its report. */
  importSpan: 'anti-oom.import',
  /** Span: one per acknowledged batch, a child of the import's span, covering its attempts. */
  batchSpan: 'anti-oom.batch',
  /** Counter of rows the database acknowledged. */
  rowsWritten: 'anti_oom.rows.written',
  /** Counter of failed rows, with the attribute `anti_oom.failure.code`. */
  rowsFailed: 'anti_oom.rows.failed',
  /** Histogram of batch latency (first attempt to acknowledgement), in ms. */
  batchDuration: 'anti_oom.batch.duration',
  /** Counter of retried batch attempts. */
  batchRetries: 'anti_oom.batch.retries',
  /** Counter of input bytes read. */
  bytesRead: 'anti_oom.bytes.read',
  /** Gauge of rows read per second since the import started, at each progress snapshot. */
  throughput: 'anti_oom.import.throughput',
  /** Gauges of the process's heap in use and resident set size, at each memory sample. */
  heapUsed: 'anti_oom.memory.heap_used',
  rss: 'anti_oom.memory.rss',
  /** Counter of ended imports, with the attribute `anti_oom.import.state`. */
  imports: 'anti_oom.imports',
} as const;

interface Open {
  span: Span;
  context: Context;
  bytesRead: number;
}

/**
 * Subscribes to the import channels and records, for every import in this process:
 *
 * - a span `anti-oom.import` (attributes `anti_oom.import.id`, batch size, concurrency, CSV
 *   engine, then the report's counts and state; status ERROR with the error's code when the
 *   import did not finish), parented on the context active when `run()` was called; a `retry`
 *   event on it for each retried batch;
 * - a child span `anti-oom.batch` per acknowledged batch (seq, rows written and failed, bytes,
 *   attempts, first and last line), spanning its attempts;
 * - the metrics named in {@link IngestTelemetry}; every one carries `anti_oom.import.id` only on
 *   spans, never on metrics, so their cardinality stays bounded.
 *
 * Returns a function that unsubscribes. Imports already running keep their spans open until they end.
 */
export function instrumentIngest(options: InstrumentIngestOptions = {}): () => void {
  const tracer = options.tracer ?? trace.getTracer('@anti-oom/core');
  const meter = options.meter ?? metrics.getMeter('@anti-oom/core');
  const batchSpans = options.batchSpans ?? true;
  const open = new Map<string, Open>();

  const rowsWritten = meter.createCounter(IngestTelemetry.rowsWritten, { description: 'Rows the database acknowledged', unit: '{row}', valueType: ValueType.INT });
  const rowsFailed = meter.createCounter(IngestTelemetry.rowsFailed, { description: 'Rows that failed, by code', unit: '{row}', valueType: ValueType.INT });
  const batchDuration = meter.createHistogram(IngestTelemetry.batchDuration, { description: 'Batch latency, first attempt to acknowledgement', unit: 'ms' });
  const batchRetries = meter.createCounter(IngestTelemetry.batchRetries, { description: 'Batch attempts retried after a transient error', valueType: ValueType.INT });
  const bytesRead = meter.createCounter(IngestTelemetry.bytesRead, { description: 'Input bytes read', unit: 'By', valueType: ValueType.INT });
  const throughput = meter.createGauge(IngestTelemetry.throughput, { description: 'Rows read per second since the import started', unit: '{row}/s' });
  const heapUsed = meter.createGauge(IngestTelemetry.heapUsed, { description: 'Heap in use during imports', unit: 'By', valueType: ValueType.INT });
  const rss = meter.createGauge(IngestTelemetry.rss, { description: 'Resident set size during imports', unit: 'By', valueType: ValueType.INT });
  const imports = meter.createCounter(IngestTelemetry.imports, { description: 'Imports ended, by state', valueType: ValueType.INT });

  const handlers: [string, (message: unknown) => void][] = [
    [
      IngestChannel.importStart,
      (m) => {
        const { importId, settings } = m as ImportStartMessage;
        const parent = context.active();
        const span = tracer.startSpan(
          IngestTelemetry.importSpan,
          {
            attributes: {
              'anti_oom.import.id': importId,
              'anti_oom.batch.size': settings.batchSize,
              'anti_oom.concurrency': settings.concurrency,
              'anti_oom.csv.engine': settings.engine,
              'anti_oom.types': settings.types,
            },
          },
          parent,
        );
        open.set(importId, { span, context: trace.setSpan(parent, span), bytesRead: 0 });
      },
    ],
    [
      IngestChannel.batchWritten,
      (m) => {
        const b = m as BatchWrittenMessage;
        rowsWritten.add(b.rowsWritten);
        batchDuration.record(b.latencyMs);
        const o = open.get(b.importId);
        if (!batchSpans || o === undefined) return;
        const attributes: Attributes = {
          'anti_oom.batch.seq': b.seq,
          'anti_oom.batch.rows_written': b.rowsWritten,
          'anti_oom.batch.rows_failed': b.rowsFailed,
          'anti_oom.batch.bytes': b.bytes,
          'anti_oom.batch.attempts': b.attempts,
          'anti_oom.batch.first_line': b.firstLine,
          'anti_oom.batch.last_line': b.lastLine,
        };
        const now = Date.now();
        tracer.startSpan(IngestTelemetry.batchSpan, { startTime: now - b.latencyMs, attributes }, o.context).end(now);
      },
    ],
    [
      IngestChannel.batchRetry,
      (m) => {
        const r = m as BatchRetryMessage;
        batchRetries.add(1);
        const reason = r.error instanceof Error ? r.error.message : String(r.error);
        open.get(r.importId)?.span.addEvent('retry', { 'anti_oom.batch.seq': r.seq, 'anti_oom.batch.attempt': r.attempt, 'exception.message': reason });
      },
    ],
    [
      IngestChannel.rowsFailed,
      (m) => {
        for (const [code, n] of Object.entries((m as RowsFailedMessage).counts)) if (n) rowsFailed.add(n, { 'anti_oom.failure.code': code });
      },
    ],
    [
      IngestChannel.progress,
      (m) => {
        const { importId, snapshot } = m as ProgressMessage;
        const o = open.get(importId);
        if (o !== undefined && snapshot.bytesRead > o.bytesRead) {
          bytesRead.add(snapshot.bytesRead - o.bytesRead);
          o.bytesRead = snapshot.bytesRead;
        }
        throughput.record(snapshot.rowsPerSecond);
      },
    ],
    [
      IngestChannel.memory,
      (m) => {
        const { sample } = m as MemoryMessage;
        heapUsed.record(sample.heapUsedBytes);
        rss.record(sample.rssBytes);
      },
    ],
    [
      IngestChannel.importEnd,
      (m) => {
        const { importId, report } = m as ImportEndMessage;
        imports.add(1, { 'anti_oom.import.state': report.state });
        const o = open.get(importId);
        if (o === undefined) return;
        open.delete(importId);
        if (report.bytesRead > o.bytesRead) bytesRead.add(report.bytesRead - o.bytesRead);
        o.span.setAttributes({
          'anti_oom.import.state': report.state,
          'anti_oom.rows.read': report.rowsRead,
          'anti_oom.rows.written': report.rowsWritten,
          'anti_oom.rows.failed': report.rowsFailed,
          'anti_oom.rows.skipped': report.rowsSkipped,
          'anti_oom.bytes.read': report.bytesRead,
          'anti_oom.batches.written': report.batchesWritten,
          'anti_oom.memory.peak_heap_used': report.peakHeapUsedBytes,
        });
        if (report.inferredTypes) o.span.setAttribute('anti_oom.types.inferred', JSON.stringify(report.inferredTypes));
        if (report.error) {
          o.span.setAttribute('anti_oom.error.code', report.error.code);
          o.span.setStatus({ code: SpanStatusCode.ERROR, message: `${report.error.code}: ${report.error.message}` });
        }
        o.span.end();
      },
    ],
  ];
  for (const [name, handler] of handlers) diagnostics.subscribe(name, handler);
  return () => {
    for (const [name, handler] of handlers) diagnostics.unsubscribe(name, handler);
  };
}
