import diagnostics from 'node:diagnostics_channel';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Db } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createIngestPipeline,
  IngestChannel,
  isIngestError,
  mongoSink,
  RowFailureCode,
  type BatchWriter,
  type BatchWrittenMessage,
  type IngestReport,
} from '../src/index.js';
import { channels } from '../src/observability/channels.js';
import { IngestTelemetry, instrumentIngest } from '../src/otel.js';
import { expectBalanced, MemoryWriter, openTestDb, productCsv } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let n = 0;
beforeAll(async () => {
  t = await openTestDb();
  db = t.db;
});
afterAll(async () => t.close());

/** Subscribes to every channel and returns what each received. */
function listen(): { messages: Record<string, unknown[]>; stop: () => void } {
  const messages: Record<string, unknown[]> = {};
  const subs = Object.values(IngestChannel).map((name) => {
    messages[name] = [];
    const fn = (m: unknown) => messages[name]!.push(m);
    diagnostics.subscribe(name, fn);
    return () => diagnostics.unsubscribe(name, fn);
  });
  return { messages, stop: () => subs.forEach((s) => s()) };
}

let stopListening: (() => void) | undefined;
afterEach(() => stopListening?.());

/** 20 rows into a collection with a unique index on sku: two duplicates, one bad qty, one blank line. */
async function importWithFailures(extra: Parameters<typeof createIngestPipeline>[0] extends infer O ? Partial<O> : never = {}): Promise<IngestReport> {
  const c = db.collection(`obs${n++}`);
  await c.createIndex({ sku: 1 }, { unique: true });
  const lines = ['sku,qty'];
  for (let i = 0; i < 20; i++) lines.push(i === 7 ? 'sku-7,many' : `sku-${i === 12 || i === 13 ? 3 : i},${i}`);
  lines.splice(5, 0, '');
  return createIngestPipeline({ sink: mongoSink(c), types: { qty: 'int' }, batch: { size: 5 }, memory: { intervalMs: 1 }, ...extra }).run([lines.join('\n') + '\n']);
}

describe('diagnostics channels', () => {
  it('publish start, batches with rows and latency, failures by code, progress, memory and the end', async () => {
    const l = listen();
    stopListening = l.stop;
    const report = await importWithFailures({ id: 'obs-import' });
    const m = l.messages;
    expectBalanced(report);
    expect(report).toMatchObject({ rowsWritten: 17, rowsFailed: 3, rowsSkipped: 1 });
    expect(m[IngestChannel.importStart]).toEqual([
      { importId: 'obs-import', startedAt: expect.any(Number), settings: { batchSize: 5, concurrency: 2, engine: 'fast', types: 'given' } },
    ]);
    const batches = m[IngestChannel.batchWritten] as BatchWrittenMessage[];
    expect(batches.reduce((s, b) => s + b.rowsWritten, 0)).toBe(report.rowsWritten);
    expect(batches.reduce((s, b) => s + b.rowsFailed, 0)).toBe(2);
    expect(batches.map((b) => b.seq).sort()).toEqual([0, 1, 2, 3]);
    for (const b of batches) {
      expect(b).toMatchObject({ importId: 'obs-import', attempts: 1, bytes: expect.any(Number) });
      expect(b.latencyMs).toBeGreaterThan(0);
      expect(b.lastLine).toBeGreaterThanOrEqual(b.firstLine);
    }
    const failed: Record<string, number> = {};
    for (const msg of m[IngestChannel.rowsFailed] as { counts: Record<string, number> }[]) for (const [code, k] of Object.entries(msg.counts)) failed[code] = (failed[code] ?? 0) + k;
    expect(failed).toEqual({ [RowFailureCode.E_TYPE]: 1, [RowFailureCode.E_DUPLICATE_KEY]: 2 });
    const progress = m[IngestChannel.progress] as { snapshot: { rowsWritten: number; state: string } }[];
    expect(progress.at(-1)!.snapshot).toMatchObject({ rowsWritten: 17, state: 'done' });
    expect(m[IngestChannel.memory]![0]).toEqual({ importId: 'obs-import', sample: expect.objectContaining({ heapUsedBytes: expect.any(Number), rssBytes: expect.any(Number) }) });
    expect(m[IngestChannel.importEnd]).toEqual([{ importId: 'obs-import', report }]);
  });

  it('publish each retry, and the batch then says how many attempts it took', async () => {
    const l = listen();
    stopListening = l.stop;
    const inner = new MemoryWriter();
    let calls = 0;
    const flaky: BatchWriter = {
      async write(batch) {
        if (calls++ === 0) throw Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
        return inner.write(batch);
      },
      isTransient: () => true,
    };
    await createIngestPipeline({ sink: flaky, retry: { minDelayMs: 1, maxDelayMs: 1 }, memory: false, id: 'retry-import' }).run(productCsv(3));
    expect(l.messages[IngestChannel.batchRetry]).toEqual([{ importId: 'retry-import', seq: 0, attempt: 1, error: expect.objectContaining({ message: 'connection reset' }) }]);
    expect(l.messages[IngestChannel.batchWritten]).toEqual([expect.objectContaining({ seq: 0, attempts: 2, rowsWritten: 3 })]);
  });

  it('publish nothing and count nothing when no one subscribes', async () => {
    const spies = Object.values(channels).map((ch) => vi.spyOn(ch, 'publish'));
    const report = await createIngestPipeline({ sink: new MemoryWriter(), batch: { size: 10 }, memory: { intervalMs: 1 } }).run(productCsv(100));
    expect(report.rowsWritten).toBe(100);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    spies.forEach((s) => s.mockRestore());
  });
});

describe('logger', () => {
  it('logs through a child per import with importId bound, or adds importId when the logger has no child', async () => {
    const lines: { bindings: object; obj: object; msg?: string }[] = [];
    const make = (bindings: object) => ({
      debug() {},
      info: (obj: object, msg?: string) => lines.push({ bindings, obj, msg }),
      warn() {},
      error() {},
      child: (more: object) => make({ ...bindings, ...more }),
    });
    await createIngestPipeline({ sink: new MemoryWriter(), logger: make({ app: 'x' }), id: 'child-import', memory: false }).run(productCsv(3));
    expect(lines.find((l) => l.msg === 'ingest finished')).toEqual({ bindings: { app: 'x', importId: 'child-import' }, obj: expect.objectContaining({ state: 'done', rowsWritten: 3 }), msg: 'ingest finished' });
    const flat: object[] = [];
    const plain = { debug() {}, info: (obj: object) => flat.push(obj), warn() {}, error() {} };
    await createIngestPipeline({ sink: new MemoryWriter(), logger: plain, id: 'plain-import', memory: false }).run(productCsv(3));
    expect(flat.at(-1)).toMatchObject({ importId: 'plain-import', state: 'done' });
  });
});

describe('OpenTelemetry integration (@anti-oom/core/otel)', () => {
  it('records one span per import with a child per batch, and the metrics', async () => {
    const spans = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
    const metricsExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: metricsExporter, exportIntervalMillis: 60_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const stop = instrumentIngest({ tracer: tracerProvider.getTracer('test'), meter: meterProvider.getMeter('test') });
    stopListening = stop;
    const report = await importWithFailures({ id: 'otel-import' });
    const c = db.collection(`obs${n++}`);
    const failedImport = await createIngestPipeline({ sink: mongoSink(c), id: 'otel-bad', memory: false })
      .run(['sku,$bad\n1,2\n'])
      .catch((err: unknown) => (isIngestError(err) ? err.report : undefined));
    expect(failedImport?.state).toBe('failed');

    const finished = spans.getFinishedSpans();
    const root = finished.find((s) => s.name === IngestTelemetry.importSpan && s.attributes['anti_oom.import.id'] === 'otel-import')!;
    expect(root.attributes).toMatchObject({
      'anti_oom.import.state': 'done',
      'anti_oom.rows.read': report.rowsRead,
      'anti_oom.rows.written': 17,
      'anti_oom.rows.failed': 3,
      'anti_oom.batch.size': 5,
      'anti_oom.csv.engine': 'fast',
    });
    const children = finished.filter((s) => s.name === IngestTelemetry.batchSpan && s.parentSpanContext?.spanId === root.spanContext().spanId);
    expect(children).toHaveLength(report.batchesWritten);
    expect(children.reduce((s, b) => s + (b.attributes['anti_oom.batch.rows_written'] as number), 0)).toBe(17);
    expect(children.every((b) => b.spanContext().traceId === root.spanContext().traceId)).toBe(true);
    const bad = finished.find((s) => s.attributes['anti_oom.import.id'] === 'otel-bad')!;
    expect(bad.status).toMatchObject({ code: 2, message: expect.stringContaining('E_HEADER_INVALID') });

    await reader.forceFlush();
    const points = new Map<string, { attributes: Record<string, unknown>; value: unknown }[]>();
    for (const rm of metricsExporter.getMetrics()) for (const sm of rm.scopeMetrics) for (const metric of sm.metrics) points.set(metric.descriptor.name, metric.dataPoints as never);
    expect(points.get(IngestTelemetry.rowsWritten)![0]!.value).toBe(17);
    const failedByCode = Object.fromEntries(points.get(IngestTelemetry.rowsFailed)!.map((p) => [p.attributes['anti_oom.failure.code'], p.value]));
    expect(failedByCode).toEqual({ E_TYPE: 1, E_DUPLICATE_KEY: 2 });
    expect((points.get(IngestTelemetry.batchDuration)![0]!.value as { count: number }).count).toBe(report.batchesWritten);
    expect(points.get(IngestTelemetry.bytesRead)![0]!.value).toBe(report.bytesRead + (failedImport?.bytesRead ?? 0));
    expect(points.has(IngestTelemetry.heapUsed)).toBe(true);
    expect(Object.fromEntries(points.get(IngestTelemetry.imports)!.map((p) => [p.attributes['anti_oom.import.state'], p.value]))).toEqual({ done: 1, failed: 1 });
    await meterProvider.shutdown();
  });
});
