import { Transform, type TransformCallback } from 'node:stream';
import type { ColumnTypes } from '../rows/convert.js';
import type { CsvRecord } from '../types.js';
import { TypeInference, type InferredColumn } from './infer.js';

/** Rows `types: 'infer'` samples before choosing the types. */
export const INFER_SAMPLE_ROWS = 1000;
/** Bytes of records `types: 'infer'` samples at most, whichever limit comes first. */
export const INFER_SAMPLE_BYTES = 1024 * 1024;

/** @internal */
export interface TypeInferenceStageOptions {
  /** The checked header, once known. */
  columns(): readonly string[] | undefined;
  /** Called once, before the first record leaves the stage. */
  onInferred(types: ColumnTypes, columns: InferredColumn[]): void;
}

/**
 * Holds the first records (at most {@link INFER_SAMPLE_ROWS} rows or {@link INFER_SAMPLE_BYTES}),
 * infers the types from them, then lets them through, in order, followed by every later record.
 * Records are only delayed, never dropped or copied, so each is still counted exactly once
 * downstream.
 * @internal
 */
export function createTypeInferenceStage(options: TypeInferenceStageOptions): Transform {
  let held: CsvRecord[][] | undefined = [];
  let rows = 0;
  let bytes = 0;
  let inference: TypeInference | undefined;

  const release = (stream: Transform): void => {
    const chunks = held!;
    held = undefined;
    const result = (inference ?? new TypeInference(options.columns() ?? [])).result();
    const types: ColumnTypes = {};
    for (const c of result) types[c.name] = c.type;
    options.onInferred(types, result);
    for (const chunk of chunks) stream.push(chunk);
  };

  return new Transform({
    objectMode: true,
    highWaterMark: 2,
    transform(chunk: CsvRecord[] | CsvRecord, _enc, callback: TransformCallback) {
      const records = Array.isArray(chunk) ? chunk : [chunk];
      if (held === undefined) return callback(null, records);
      inference ??= new TypeInference(options.columns() ?? Object.keys(records[0]?.row ?? {}));
      for (const r of records) {
        if (rows < INFER_SAMPLE_ROWS && bytes < INFER_SAMPLE_BYTES) inference.add(r.row);
        rows++;
        bytes += r.bytes;
      }
      held.push(records);
      if (rows >= INFER_SAMPLE_ROWS || bytes >= INFER_SAMPLE_BYTES) {
        try {
          release(this);
        } catch (err) {
          return callback(err as Error);
        }
      }
      callback();
    },
    flush(callback) {
      try {
        if (held !== undefined) release(this);
      } catch (err) {
        return callback(err as Error);
      }
      callback();
    },
  });
}
