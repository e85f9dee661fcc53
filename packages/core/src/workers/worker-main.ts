/**
 * The worker thread of an import with `workers`: ranges of whole records in, through the same
 * stages as one thread (reader, row mapper, batcher, bulk sink), outcomes back to the main thread.
 * @internal
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { createConsumingBatcher } from '../batch/batcher-stream.js';
import { CsvReader } from '../csv/reader.js';
import { IngestError, IngestErrorCode, isIngestError } from '../errors.js';
import { mongoSink } from '../mongo/mongo-sink.js';
import { createRowMapperStream } from '../rows/mapper-stream.js';
import { createBulkSink, type BulkSink } from '../sink/bulk-sink.js';
import { isForgetful, releaseBatch } from '../sink/release.js';
import type { Batch, CsvRecord, RowFailure, RowFailureValues, WriteResult } from '../types.js';
import type { WorkerContext, WorkerSetup } from './options.js';
import type { FromWorker, ToWorker, WireError, WireFailure, WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const controller = new AbortController();

type Range = Extract<ToWorker, { type: 'range' }>;
const ranges: Range[] = [];
let noMoreRanges = false;
let wake: (() => void) | undefined;
let started: ((m: Extract<ToWorker, { type: 'start' }> | undefined) => void) | undefined;
const startMessage = new Promise<Extract<ToWorker, { type: 'start' }> | undefined>((resolve) => (started = resolve));

port.on('message', (m: ToWorker) => {
  if (m.type === 'range') ranges.push(m);
  else if (m.type === 'end') noMoreRanges = true;
  else if (m.type === 'start') started?.(m);
  else if (m.type === 'stop') {
    controller.abort();
    started?.(undefined);
  }
  const w = wake;
  wake = undefined;
  w?.();
});

function post(message: FromWorker): void {
  port.postMessage(message);
}

/** Values of failed rows are clones; one that cannot be cloned (a function in a mapped document) goes without. */
function postWithValues(message: FromWorker, strip: () => void): void {
  try {
    post(message);
  } catch {
    strip();
    post(message);
  }
}

function wireError(err: unknown, fallback: IngestErrorCode = IngestErrorCode.E_INTERNAL): WireError {
  if (isIngestError(err)) return { code: err.code, message: err.message, context: { ...err.context } };
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}

function wireFailure(failure: RowFailure, values?: RowFailureValues): WireFailure {
  return { failure: { ...failure }, ...(failure.detail === undefined ? {} : { detail: failure.detail }), ...(values === undefined ? {} : { values }) };
}

// Rows settled before the sink leave in groups, not one message each.
let failures: WireFailure[] = [];
let skips: number[] = [];
function flushRows(): void {
  if (failures.length === 0 && skips.length === 0) return;
  const message: FromWorker = { type: 'rows', failures, skips };
  const sent = failures;
  failures = [];
  skips = [];
  postWithValues(message, () => {
    for (const f of sent) delete f.values;
  });
}

let flushing = false;
/** Once the current chunk of rows is mapped, so a failure limit is seen soon without a message per row. */
function flushSoon(): void {
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    flushRows();
  });
}

async function loadSetup(): Promise<WorkerSetup> {
  const context: WorkerContext = { data: init.data, index: init.index, count: init.count, importId: init.importId };
  if ('mongo' in init.setup) {
    const m = init.setup.mongo;
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(m.uri, { appName: 'anti-oom-worker', ...m.clientOptions });
    return {
      sink: mongoSink(client.db(m.db).collection(m.collection), { mode: m.mode ?? 'insert', ...(m.key === undefined ? {} : { key: m.key }) }),
      close: () => client.close(),
    };
  }
  const href = /^[a-z][a-z0-9+.-]*:/i.test(init.setup.module) && !/^[a-z]:[\\/]/i.test(init.setup.module) ? init.setup.module : pathToFileURL(init.setup.module).href;
  const mod = (await import(href)) as Record<string, unknown>;
  const inner = mod.default as Record<string, unknown> | undefined;
  const setup = [mod.setup, mod.default, inner?.setup, inner?.default].find((f) => typeof f === 'function') as ((c: WorkerContext) => WorkerSetup | Promise<WorkerSetup>) | undefined;
  if (setup === undefined) {
    throw new IngestError(IngestErrorCode.E_OPTIONS, `The workers module ${init.setup.module} has no setup function: export one as default (or as "setup") that returns { sink, map?, schema?, close? }.`, { option: 'workers.module' });
  }
  const made = await setup(context);
  if (made === null || typeof made !== 'object' || made.sink === null || typeof made.sink !== 'object' || typeof made.sink.write !== 'function') {
    throw new IngestError(IngestErrorCode.E_OPTIONS, `The setup of workers module ${init.setup.module} must return { sink } with a BatchWriter such as mongoSink(collection).`, { option: 'workers.module' });
  }
  return made;
}

async function nextRange(): Promise<Range | undefined> {
  for (;;) {
    if (controller.signal.aborted) return undefined;
    const r = ranges.shift();
    if (r !== undefined) return r;
    if (noMoreRanges) return undefined;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

/** Bytes of a range parsed at a time. */
const SLICE = 64 * 1024;

async function* records(start: Extract<ToWorker, { type: 'start' }>): AsyncGenerator<CsvRecord[]> {
  // The names arrive as copies; as property keys, each would be looked up in V8's string table on
  // every row. A property name of an object is the table's own string.
  const header = start.header.map((name) => Object.keys({ [name]: 0 })[0]!);
  for (;;) {
    const range = await nextRange();
    if (range === undefined) return;
    let out: CsvRecord[] = [];
    let rows = 0;
    const reader = new CsvReader(
      init.csv,
      {
        record: (r) => {
          rows++;
          out.push(r);
        },
        failure: (f, values) => {
          rows++;
          failures.push(wireFailure(f, values));
        },
        skip: (line) => {
          rows++;
          skips.push(line);
        },
      },
      { offset: range.offset, line: range.line, charset: start.charset, delimiter: start.delimiter, header },
    );
    rangeLines.push(range.line);
    // In slices the size of one thread's input chunks: the records of a whole range alive at once
    // would cost the worker's garbage collector far more than the same rows a slice at a time.
    const bytes = Buffer.from(range.bytes.buffer, range.bytes.byteOffset, range.bytes.byteLength);
    for (let at = 0; at < bytes.length; at += SLICE) {
      reader.write(bytes.subarray(at, at + SLICE));
      if (out.length > 0) {
        const ready = out;
        out = [];
        yield ready;
      }
    }
    reader.end();
    flushRows();
    post({ type: 'parsed', seq: range.seq, rows });
    if (out.length > 0) yield out;
  }
}

/** First lines of the ranges this worker took, in order: a row belongs to the last one at or before its line. */
const rangeLines: number[] = [];

/** Rows of a batch by range: (first line, count) pairs; rows come in line order within a worker. */
function rangesOf(batch: Batch): number[] {
  const out: number[] = [];
  let k = rangeLines.length - 1;
  // Items are in order; find the first item's range, then walk forward.
  const first = batch.items[0]?.line ?? 0;
  let lo = 0;
  let hi = rangeLines.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rangeLines[mid]! <= first) {
      k = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (const item of batch.items) {
    while (k + 1 < rangeLines.length && rangeLines[k + 1]! <= item.line) k++;
    if (out.length > 0 && out[out.length - 2] === rangeLines[k]) out[out.length - 1]!++;
    else out.push(rangeLines[k]!, 1);
  }
  return out;
}

/** How long acknowledgements gather before they are reported (progress events come as often). */
const WRITTEN_EVERY_MS = 10;
let written: Extract<FromWorker, { type: 'written' }> | undefined;
function flushWritten(): void {
  if (written === undefined) return;
  flushRows();
  const message = written;
  written = undefined;
  postWithValues(message, () => {
    for (const f of message.failures) delete f.values;
  });
}

/** `release`: the writer keeps nothing of a settled batch, so its rows are let go once sent on (see sink/release.ts). */
function watch(sink: BulkSink, release: boolean): void {
  sink.on('batchWritten', (result: WriteResult, batch: Batch) => {
    const { failures: refused, ...counts } = result;
    const documents = refused.length > 0 ? new Map(batch.items.map((item) => [item.line, item.document])) : undefined;
    const wired = refused.map((f) => wireFailure(f, documents?.get(f.line)));
    if (written === undefined) {
      written = { type: 'written', batches: 1, result: counts, ranges: rangesOf(batch), failures: wired };
      setTimeout(flushWritten, WRITTEN_EVERY_MS);
    } else {
      // Acknowledgements within a few milliseconds leave in one message: a message costs a
      // wake-up of the main thread, which is more than a small batch's own work.
      const r = written.result;
      written.batches++;
      r.written += counts.written;
      r.inserted += counts.inserted;
      r.upserted += counts.upserted;
      r.matched += counts.matched;
      r.modified += counts.modified;
      written.ranges.push(...rangesOf(batch));
      written.failures.push(...wired);
    }
    if (release) releaseBatch(batch);
  });
  sink.on('batchRefused', (err: unknown, batch: Batch, transient: boolean) => {
    flushWritten();
    flushRows();
    const items = batch.items.map((i) => ({ line: i.line, values: i.document as RowFailureValues | undefined }));
    postWithValues({ type: 'refused', error: wireError(err, IngestErrorCode.E_SINK), transient, items }, () => {
      for (const i of items) delete i.values;
    });
    if (release) releaseBatch(batch);
  });
  sink.on('retry', (err: unknown, batch: Batch, attempt: number) => {
    post({ type: 'retry', seq: batch.seq, attempt, message: err instanceof Error ? err.message : String(err) });
  });
}

async function main(): Promise<void> {
  let setup: WorkerSetup | undefined;
  try {
    try {
      setup = await loadSetup();
    } catch (err) {
      throw isIngestError(err) ? err : new IngestError(IngestErrorCode.E_OPTIONS, `The workers' setup failed in worker ${init.index}: ${err instanceof Error ? err.message : String(err)}`, { option: 'workers' });
    }
    if (init.ping && setup.sink.ping) {
      try {
        await setup.sink.ping(controller.signal);
      } catch (err) {
        throw new IngestError(IngestErrorCode.E_SINK, `The database did not answer a ping: ${err instanceof Error ? err.message : String(err)}. Nothing was read; try again when it is reachable.`);
      }
    }
    const writer = setup.sink;
    const keyed = writer.resumeMode === 'keyed' || (writer.resumeMode === undefined && typeof writer.keysOf === 'function');
    post({ type: 'ready', keyed });
    const start = await startMessage;
    if (start === undefined) return;
    const sink = createBulkSink(writer, { concurrency: init.concurrency, retry: init.retry, signal: controller.signal });
    watch(sink, isForgetful(writer));
    try {
      await pipeline(
        // One range's records at a time: the next range is parsed only when the stages want more.
        Readable.from(records(start), { objectMode: true, highWaterMark: 1 }),
        createRowMapperStream({
          types: init.types,
          schema: setup.schema,
          map: setup.map,
          importId: init.importId,
          onRowFailure: (f, values) => {
            failures.push(wireFailure(f, values));
            flushSoon();
          },
          onSkip: (line) => {
            skips.push(line);
            flushSoon();
          },
        }),
        createConsumingBatcher(init.batch),
        sink,
        { signal: controller.signal },
      );
    } finally {
      await sink.whenIdle();
      flushWritten();
      flushRows();
    }
  } catch (err) {
    flushWritten();
    flushRows();
    if (!controller.signal.aborted) post({ type: 'fatal', error: wireError(err) });
  } finally {
    try {
      await setup?.close?.();
    } catch {
      // The rows are settled and reported; a connection that fails to close changes none of that.
    }
    post({ type: 'ended' });
  }
}

void main();
