import { Transform, type TransformCallback } from 'node:stream';
import type { CsvRecord, RowFailure, RowFailureValues } from '../types.js';
import { normalizeCsvOptions, type CsvOptions } from './options.js';
import { CsvReader } from './reader.js';

/** Options of {@link createCsvParser}. */
export interface CsvParserOptions extends CsvOptions {
  /**
   * `'record'` pushes one {@link CsvRecord} at a time; `'chunk'` pushes a `CsvRecord[]` per input
   * chunk, which saves a stream hop per row when the next stage takes arrays (as the batcher does).
   * @defaultValue `'record'`
   */
  emit?: 'record' | 'chunk';
  /** Called for each row that cannot be read; the stream also emits `rowFailure`. */
  onRowFailure?: (failure: RowFailure, values?: RowFailureValues) => void;
  /** Called once with the checked header; the stream also emits `header`. */
  onHeader?: (columns: readonly string[]) => void;
  /** Called for each blank line skipped; the stream also emits `skip` with the line. */
  onSkip?: (line: number) => void;
}

/**
 * A Transform from bytes to {@link CsvRecord}s, on csv-parse.
 *
 * The header is checked before the first record is pushed; a bad one ends the stream with an
 * `IngestError` (`E_HEADER_INVALID`). Rows that cannot be read are reported through
 * `rowFailure` events (the failure, and the fields as read when there are any), never pushed,
 * never thrown. The checked header is emitted once as a `header` event.
 *
 * @example
 * ```ts
 * await pipeline(fs.createReadStream('in.csv'), createCsvParser({ delimiter: 'auto' }), async function* (records) {
 *   for await (const { line, row } of records) console.log(line, row);
 * });
 * ```
 */
export function createCsvParser(options: CsvParserOptions = {}): Transform {
  const { emit = 'record', onRowFailure, onSkip, onHeader, ...csv } = options;
  const chunked = emit === 'chunk';
  let records: CsvRecord[] = [];
  const reader = new CsvReader(normalizeCsvOptions(csv), {
    record: (record) => records.push(record),
    failure: (failure, values) => {
      onRowFailure?.(failure, values);
      stream.emit('rowFailure', failure, values);
    },
    header: (columns) => {
      onHeader?.(columns);
      stream.emit('header', columns);
    },
    skip: (line) => {
      onSkip?.(line);
      stream.emit('skip', line);
    },
  });

  // Records found in one input chunk leave together: one push for the array in chunk mode.
  const drain = (): void => {
    if (records.length === 0) return;
    if (chunked) {
      stream.push(records);
      records = [];
    } else {
      for (let i = 0; i < records.length; i++) stream.push(records[i]);
      records.length = 0;
    }
  };
  const step = (action: () => void, callback: TransformCallback): void => {
    try {
      action();
    } catch (err) {
      callback(err as Error);
      return;
    }
    drain();
    callback();
  };

  const stream = new Transform({
    readableObjectMode: true,
    // Small buffers on the readable side: memory must not grow when the consumer is slow.
    readableHighWaterMark: chunked ? 2 : 1024,
    transform(chunk: Buffer | string, _enc, callback) {
      step(() => reader.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk), callback);
    },
    flush(callback) {
      step(() => reader.end(), callback);
    },
  });
  return stream;
}
