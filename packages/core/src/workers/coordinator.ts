import { Writable, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import { IngestError, IngestErrorCode, type IngestErrorContext } from '../errors.js';
import { withDetail } from '../mongo/write-errors.js';
import type { NormalizedPipelineOptions } from '../pipeline/options.js';
import type { RowFailure, RowFailureValues, WriteResult } from '../types.js';
import { workerScript } from './entry.js';
import { RangeLedger } from './ledger.js';
import type { NormalizedWorkersOptions } from './options.js';
import type { FromWorker, ToWorker, WireError, WireFailure, WorkerInit } from './protocol.js';
import { HeadReader, RangeSplitter, type CsvHead, type SourceRange } from './split.js';

/** What the pipeline lends the workers' coordinator: its counters, events and stop. @internal */
export interface WorkersHost {
  /** Aborted when the import stops, for any reason. */
  readonly signal: AbortSignal;
  header(columns: readonly string[]): void;
  /** A row failed; `enforceLimit` as with one thread (false for rows of a refused batch). */
  fail(failure: RowFailure, values: RowFailureValues | undefined, enforceLimit: boolean): void;
  skip(): void;
  /** `batches` batches acknowledged, their counts summed (their failures follow through `fail`). */
  written(result: WriteResult, batches: number): void;
  /** After each acknowledged batch. */
  progress(): void;
  /** Rows of a batch refused for good. */
  refused(error: IngestError, transient: boolean, items: { line: number; values?: RowFailureValues }[]): void;
  acknowledged(offset: number): void;
  retry(seq: number, attempt: number, message: string): void;
  stop(error: IngestError): void;
}

/** Ranges a worker may hold waiting: one being parsed, one queued behind it. */
const CREDIT = 2;

interface Thread {
  index: number;
  worker: Worker;
  credit: number;
  ready: Promise<boolean>;
  ended: Promise<void>;
  hasEnded: boolean;
}

/**
 * A worker inherits the process's Node options, except those that only make sense for the main
 * script: `--input-type` (a `node --input-type=module -e` parent) would stop it from loading.
 */
function startWorker(script: ReturnType<typeof workerScript>, init: WorkerInit): Worker {
  const base = { workerData: init, eval: script.eval };
  const inherited = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  if (inherited.length === process.execArgv.length) return new Worker(script.script, base);
  try {
    return new Worker(script.script, { ...base, execArgv: inherited });
  } catch {
    // Some of the rest are per-process flags a worker refuses when they are passed explicitly.
    return new Worker(script.script, { ...base, execArgv: [] });
  }
}

function toError(e: WireError): IngestError {
  return new IngestError(e.code as IngestErrorCode, e.message, (e.context ?? {}) as IngestErrorContext);
}

function failureOf(w: WireFailure): RowFailure {
  return w.detail === undefined ? w.failure : withDetail(w.failure, w.detail);
}

/**
 * Runs an import over `workers.count` worker threads. This thread reads the input (through
 * `inputStages`: byte meter, memory monitor), reads the head (charset, delimiter, header) exactly
 * as one thread does, then cuts the rest into ranges of whole records and hands each to a worker
 * with credit. Every outcome comes back here and goes through the host's counters, so the
 * accounting, events and limits are the pipeline's own.
 * @internal
 */
export async function runOnWorkers(input: Readable, inputStages: Transform[], o: NormalizedPipelineOptions, workers: NormalizedWorkersOptions, host: WorkersHost): Promise<void> {
  const signal = host.signal;
  if (signal.aborted) throw signal.reason;
  const script = workerScript();
  const seqLine = new Map<number, number>();
  let ledger: RangeLedger | undefined;
  let waiting: (() => void) | undefined;
  const wakeDispatch = (): void => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };

  const threads: Thread[] = [];
  for (let index = 0; index < workers.count; index++) {
    const init: WorkerInit = {
      index,
      count: workers.count,
      importId: o.id,
      setup: workers.setup,
      data: workers.data,
      csv: o.csv,
      types: o.types === 'infer' ? undefined : o.types,
      batch: o.batch,
      concurrency: o.concurrency,
      retry: o.retry,
      ping: o.ping,
    };
    let worker: Worker;
    try {
      worker = startWorker(script, init);
    } catch (err) {
      for (const t of threads) void t.worker.terminate();
      throw new IngestError(IngestErrorCode.E_INTERNAL, `Could not start worker ${index}: ${err instanceof Error ? err.message : String(err)}. Nothing was read.`, {}, { cause: err });
    }
    let resolveReady!: (keyed: boolean) => void;
    let resolveEnded!: () => void;
    const thread: Thread = {
      index,
      worker,
      credit: CREDIT,
      ready: new Promise<boolean>((r) => (resolveReady = r)),
      ended: new Promise<void>((r) => (resolveEnded = r)),
      hasEnded: false,
    };
    const end = (): void => {
      if (thread.hasEnded) return;
      thread.hasEnded = true;
      resolveEnded();
      resolveReady(false);
      wakeDispatch();
    };
    worker.on('message', (m: FromWorker) => {
      onMessage(thread, m, resolveReady);
      if (m.type === 'ended') end();
    });
    worker.on('error', (err) => {
      host.stop(new IngestError(IngestErrorCode.E_INTERNAL, `Worker ${index} failed: ${err.message}`, {}, { cause: err }));
      end();
    });
    worker.on('exit', (code) => {
      if (!thread.hasEnded) host.stop(new IngestError(IngestErrorCode.E_INTERNAL, `Worker ${index} exited (code ${code}) before it settled its rows.`));
      end();
    });
    threads.push(thread);
  }

  function onMessage(thread: Thread, m: FromWorker, ready: (keyed: boolean) => void): void {
    switch (m.type) {
      case 'ready':
        ready(m.keyed);
        return;
      case 'rows':
        // Rows settled before the sink, after the import stopped, are left out like the rows
        // still travelling through one thread's stages: nothing is counted past the limit.
        for (const f of m.failures) {
          if (signal.aborted) return;
          host.fail(failureOf(f), f.values, true);
          ledger?.settle(f.failure.line);
        }
        for (const line of m.skips) {
          if (signal.aborted) return;
          host.skip();
          ledger?.settle(line);
        }
        if (ledger?.advance()) host.acknowledged(ledger.frontier);
        return;
      case 'parsed': {
        thread.credit++;
        const line = seqLine.get(m.seq);
        seqLine.delete(m.seq);
        if (line !== undefined && ledger) {
          ledger.parsed(line, m.rows);
          host.acknowledged(ledger.frontier);
        }
        wakeDispatch();
        return;
      }
      case 'written': {
        // Batches in flight settle and count, as with one thread.
        host.written({ ...m.result, failures: [] }, m.batches);
        for (const f of m.failures) host.fail(failureOf(f), f.values, true);
        if (ledger) {
          for (let k = 0; k < m.ranges.length; k += 2) ledger.settle(m.ranges[k]!, m.ranges[k + 1]!);
          if (ledger.advance()) host.acknowledged(ledger.frontier);
        }
        host.progress();
        return;
      }
      case 'refused': {
        // The refusal ends the import (stop first, so it is the reason), and its rows are counted.
        const error = toError(m.error);
        host.stop(error);
        host.refused(error, m.transient, m.items);
        if (ledger) for (const i of m.items) ledger.settle(i.line);
        return;
      }
      case 'retry':
        host.retry(m.seq, m.attempt, m.message);
        return;
      case 'fatal':
        host.stop(toError(m.error));
        return;
      default:
        return;
    }
  }

  const send = (t: Thread, m: ToWorker, transfer?: ArrayBuffer[]): void => {
    if (!t.hasEnded) t.worker.postMessage(m, transfer);
  };
  let finishedNormally = false;
  try {
    let onAbort: (() => void) | undefined;
    const keyed = await Promise.race([
      Promise.all(threads.map((t) => t.ready)),
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]).finally(() => signal.removeEventListener('abort', onAbort!));
    if (keyed.some(Boolean) && workers.count > 1) {
      throw new IngestError(
        IngestErrorCode.E_OPTIONS,
        `Option "workers" cannot be above 1 with this sink: it writes by key (upsert or merge), where the later row must win, and separate workers cannot promise the order. Use workers: { count: 1 }, or insert mode. Nothing was read.`,
        { option: 'workers.count' },
      );
    }

    let head: HeadReader | undefined = new HeadReader(o.csv, (columns) => host.header(columns));
    let splitter: RangeSplitter | undefined;
    let seq = 0;
    let next = 0;
    const begin = (found: { head: CsvHead; rest: Buffer; dataOffset: number; dataLine: number }): SourceRange[] => {
      head = undefined;
      for (const t of threads) send(t, { type: 'start', charset: found.head.charset, delimiter: found.head.delimiter, header: found.head.header });
      ledger = new RangeLedger(found.dataOffset);
      if (found.dataLine === 0) return [];
      splitter = new RangeSplitter(o.csv, found.head, found.dataOffset, found.dataLine, workers.rangeBytes);
      return splitter.push(found.rest);
    };
    const dispatch = async (ranges: SourceRange[]): Promise<void> => {
      for (const range of ranges) await dispatchOne(range);
    };
    const dispatchOne = async (range: SourceRange): Promise<void> => {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        // The next worker in turn with room; none: wait until one parses a range.
        let chosen: Thread | undefined;
        for (let k = 0; k < threads.length && chosen === undefined; k++) {
          const t = threads[(next + k) % threads.length]!;
          if (t.credit > 0 && !t.hasEnded) chosen = t;
        }
        if (chosen !== undefined) {
          next = (chosen.index + 1) % threads.length;
          chosen.credit--;
          const s = seq++;
          seqLine.set(s, range.line);
          ledger!.add(range.line, range.offset + range.bytes.byteLength);
          send(chosen, { type: 'range', seq: s, offset: range.offset, line: range.line, bytes: range.bytes }, [range.bytes.buffer as ArrayBuffer]);
          return;
        }
        if (threads.every((t) => t.hasEnded)) throw new IngestError(IngestErrorCode.E_INTERNAL, 'Every worker ended before the input did.');
        await new Promise<void>((resolve) => {
          const onAbort = (): void => resolve();
          waiting = () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
          signal.addEventListener('abort', onAbort, { once: true });
        });
      }
    };
    const dispatcher = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, callback) {
        const step = async (): Promise<void> => {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
          if (head !== undefined) {
            const found = head.write(bytes);
            if (found !== undefined) await dispatch(begin(found));
          } else if (splitter !== undefined) await dispatch(splitter.push(bytes));
        };
        step().then(() => callback(), callback);
      },
      final(callback) {
        const step = async (): Promise<void> => {
          if (head !== undefined) await dispatch(begin(head.end()));
          if (splitter !== undefined) await dispatch(splitter.end());
          for (const t of threads) send(t, { type: 'end' });
          await Promise.all(threads.map((t) => t.ended));
          // A worker that stopped the import (a fatal error) has ended too: that is no success.
          if (signal.aborted) throw signal.reason;
        };
        step().then(() => callback(), callback);
      },
    });
    await pipeline([input, ...inputStages, dispatcher], { signal });
    finishedNormally = true;
  } finally {
    if (!finishedNormally) for (const t of threads) send(t, { type: 'stop' });
    await Promise.all(threads.map((t) => t.ended));
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
