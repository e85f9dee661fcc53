import { PassThrough } from 'node:stream';
import { numberOption } from '../options/number-option.js';

/** One reading of the process's memory. */
export interface MemorySample {
  /** `Date.now()` when taken. */
  at: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  rssBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

/** Options of {@link createMemoryMonitor}. */
export interface MemoryMonitorOptions {
  /**
   * Milliseconds between samples.
   * @defaultValue `1000`
   */
  intervalMs?: number;
}

/**
 * A pass-through stage that samples memory on a timer while data flows through it, and emits
 * `memory` with each {@link MemorySample}. The timer is unref'd and stops when the stream closes.
 * Nothing is done per chunk, so it costs nothing per row.
 */
export interface MemoryMonitor extends PassThrough {
  /** The latest sample. */
  readonly last: MemorySample;
  /** Highest heap and RSS seen so far. */
  readonly peak: { heapUsedBytes: number; rssBytes: number };
  /** Takes a sample now (also emitted as `memory`). */
  sample(): MemorySample;
}

/** @internal */
export function readMemory(): MemorySample {
  const m = process.memoryUsage();
  return {
    at: Date.now(),
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    rssBytes: m.rss,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
  };
}

/** Creates a {@link MemoryMonitor}. Works on byte streams and object streams alike. */
export function createMemoryMonitor(options: MemoryMonitorOptions = {}): MemoryMonitor {
  const intervalMs = numberOption('memory.intervalMs', options.intervalMs, 1000, { min: 0, exclusiveMin: true });
  const stream = new PassThrough({ objectMode: true, highWaterMark: 1 }) as MemoryMonitor;
  let last = readMemory();
  const peak = { heapUsedBytes: last.heapUsedBytes, rssBytes: last.rssBytes };
  const sample = (): MemorySample => {
    last = readMemory();
    if (last.heapUsedBytes > peak.heapUsedBytes) peak.heapUsedBytes = last.heapUsedBytes;
    if (last.rssBytes > peak.rssBytes) peak.rssBytes = last.rssBytes;
    stream.emit('memory', last);
    return last;
  };
  const timer = setInterval(sample, intervalMs).unref();
  stream.once('close', () => clearInterval(timer));
  Object.defineProperty(stream, 'last', { get: () => last });
  Object.defineProperty(stream, 'peak', { get: () => ({ ...peak }) });
  stream.sample = sample;
  return stream;
}
