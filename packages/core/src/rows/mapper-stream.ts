import { Transform, type TransformCallback } from 'node:stream';
import type { CsvRecord, LinedDocument, RowFailure, RowFailureValues } from '../types.js';
import { RowProcessor, type RowOutcomes, type RowProcessorOptions } from './row-processor.js';

/** @internal */
export interface RowMapperStreamOptions extends Omit<RowProcessorOptions, 'types'> {
  /** The types, or a function that gives them once the first records arrive (`types: 'infer'`). */
  types?: RowProcessorOptions['types'] | (() => RowProcessorOptions['types']);
  /** `record`: the row's record, for where it ends in the source (see `CsvRecord.end`). */
  onRowFailure(failure: RowFailure, values?: RowFailureValues, record?: CsvRecord): void;
  onSkip(line: number, record?: CsvRecord): void;
}

/**
 * CsvRecord arrays in, LinedDocument arrays out, in order. Rows are processed one after the
 * other; an async step pauses the chunk, which is what keeps memory flat under a slow `map`.
 * @internal
 */
export function createRowMapperStream(options: RowMapperStreamOptions): Transform {
  const typesLater = typeof options.types === 'function';
  let processor = typesLater ? undefined : new RowProcessor(options as RowProcessorOptions);
  let docs: LinedDocument[] = [];
  // Rows are processed one at a time, even with an async step, so the record in hand is the one
  // an outcome is about.
  let current: CsvRecord | undefined;
  const out: RowOutcomes = {
    document: (item) => docs.push(item),
    failure: (failure, values) => options.onRowFailure(failure, values, current),
    skip: (line) => options.onSkip(line, current),
  };
  const run = (record: CsvRecord): Promise<void> | void => {
    current = record;
    return processor!.process(record, out);
  };

  async function finishAsync(records: CsvRecord[], from: number, pending: Promise<void>): Promise<void> {
    await pending;
    for (let i = from; i < records.length; i++) {
      const r = run(records[i]!);
      if (r !== undefined) await r;
    }
  }

  return new Transform({
    objectMode: true,
    // One array of records in, one of documents out: each is a parsed piece (≤ MAX_PIECE_BYTES of CSV), and
    // a second one per side only held more rows, not more speed.
    highWaterMark: 1,
    transform(chunk: CsvRecord[] | CsvRecord, _enc, callback: TransformCallback) {
      const records = Array.isArray(chunk) ? chunk : [chunk];
      const done = (err?: unknown): void => {
        // The array is the parser's, handed on and read by nobody else: emptied, it no longer
        // holds the records should a stream buffer entry that pointed at it outlive it (see
        // sink/release.ts).
        if (Array.isArray(chunk)) chunk.length = 0;
        if (err !== undefined) return callback(err as Error);
        const ready = docs;
        docs = [];
        callback(null, ready.length > 0 ? ready : undefined);
      };
      try {
        processor ??= new RowProcessor({ ...options, types: (options.types as () => RowProcessorOptions['types'])() });
        for (let i = 0; i < records.length; i++) {
          const r = run(records[i]!);
          if (r !== undefined) {
            finishAsync(records, i + 1, r).then(() => done(), done);
            return;
          }
        }
      } catch (err) {
        done(err);
        return;
      }
      done();
    },
  });
}
