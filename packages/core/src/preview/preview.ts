import { Readable } from 'node:stream';
import { normalizeCsvOptions, type CsvOptions } from '../csv/options.js';
import { CsvReader } from '../csv/reader.js';
import { isIngestError } from '../errors.js';
import { numberOption } from '../options/number-option.js';
import type { IngestSource } from '../pipeline/ingest-pipeline.js';
import type { CsvRecord, RowFailure } from '../types.js';
import { TypeInference, type InferredColumn } from './infer.js';

/** Options of {@link previewCsv}. */
export interface PreviewOptions {
  /**
   * Most bytes read from the source; the source is stopped (destroyed) once they are read.
   * @defaultValue `1048576` (1 MiB)
   */
  maxBytes?: number;
  /**
   * Most rows parsed, shown and sampled for types.
   * @defaultValue `1000`
   */
  maxRows?: number;
  /**
   * How to read the CSV, as for the import. Unlike the import, `delimiter` and `encoding`
   * default to `'auto'`, so the preview says what it found.
   * @defaultValue `{ delimiter: 'auto', encoding: 'auto' }`
   */
  csv?: CsvOptions;
}

/** How the preview's charset was chosen. */
export type EncodingSource = 'bom' | 'valid-utf8' | 'fallback' | 'option';

/** What {@link previewCsv} found in the start of a file. */
export interface CsvPreview {
  /** The charset the import would decode (`utf8`, `utf-16le`, `windows-1252`, ...), when the input had any bytes. */
  encoding: string | undefined;
  /**
   * How it was chosen: a byte-order mark, the sample being valid UTF-8, the windows-1252
   * fallback for a sample that is not, or `csv.encoding` as given.
   */
  encodingSource: EncodingSource;
  /** The delimiter in use (detected with `delimiter: 'auto'`). */
  delimiter: string | undefined;
  /** The checked column names; absent when the header is refused (see `error`). */
  header: string[] | undefined;
  /**
   * Why the import would stop before writing anything, exactly as it would report it
   * (`E_HEADER_INVALID`, `E_TOO_MANY_COLUMNS`, `E_ENCODING`, `E_CSV_MALFORMED`, ...).
   */
  error?: { code: string; message: string; line?: number };
  /** The first rows as parsed: line and values by column name, all strings. */
  rows: { line: number; values: Record<string, string> }[];
  /** Rows of the sample the import would fail before any type is applied (column count, bad quotes, bytes that are not UTF-8). */
  failures: RowFailure[];
  /** Per column, in header order: the inferred type and how well each type fits. */
  columns: InferredColumn[];
  /** Bytes taken from the source. */
  bytesRead: number;
  /** True when the input ended within the limits, so the preview saw every row of it. */
  complete: boolean;
}

/**
 * Reads the start of a CSV (never more than `maxBytes`, then stops the source) and tells what an
 * import would see: charset and how it was found, delimiter, header and its problems, the first
 * rows, and a type per column inferred from them (see `types: 'infer'` for the rules).
 *
 * A cut at `maxBytes` may fall inside a row; that last row is left out. Errors of the source
 * itself reject; problems of the CSV are in the result, never thrown.
 *
 * @example
 * ```ts
 * const preview = await previewCsv(fs.createReadStream('products.csv'), { maxRows: 100 });
 * console.log(preview.delimiter, preview.columns.map((c) => `${c.name}: ${c.type}`));
 * ```
 */
export async function previewCsv(source: IngestSource, options: PreviewOptions = {}): Promise<CsvPreview> {
  const maxBytes = numberOption('maxBytes', options.maxBytes, 1024 * 1024, { min: 1, integer: true });
  const maxRows = numberOption('maxRows', options.maxRows, 1000, { min: 1, integer: true });
  const csv = normalizeCsvOptions({ delimiter: 'auto', encoding: 'auto', ...options.csv });

  type Item = { record: CsvRecord } | { failure: RowFailure };
  const items: Item[] = [];
  const reader = new CsvReader(csv, {
    record: (record) => items.push({ record }),
    failure: (failure) => items.push({ failure }),
    skip: () => {},
  });

  let bytesRead = 0;
  let head = Buffer.alloc(0);
  let complete = true;
  let error: CsvPreview['error'];
  const readable = source instanceof Readable ? source : Readable.from(source as AsyncIterable<Uint8Array | string>, { objectMode: true });
  try {
    for await (const raw of readable as AsyncIterable<Buffer | Uint8Array | string>) {
      let chunk = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (bytesRead + chunk.length > maxBytes) chunk = chunk.subarray(0, maxBytes - bytesRead);
      bytesRead += chunk.length;
      if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4)]);
      if (!error) error = attempt(() => reader.write(chunk));
      if (error || bytesRead >= maxBytes || items.length > maxRows) {
        complete = false;
        break; // leaving the loop destroys the source: nothing more is read
      }
    }
  } finally {
    if (!readable.destroyed) readable.destroy();
  }
  if (!error) {
    const before = items.length;
    error = attempt(() => reader.end());
    // A cut inside a row leaves its start as a last, short record (or a quote never closed).
    if (!complete && items.length > before && items.length <= maxRows) items.pop();
  }

  const header = reader.header === undefined ? undefined : [...reader.header];
  const inference = new TypeInference(header ?? []);
  const rows: CsvPreview['rows'] = [];
  const failures: RowFailure[] = [];
  for (const item of items.slice(0, maxRows)) {
    if ('failure' in item) failures.push(item.failure);
    else {
      rows.push({ line: item.record.line, values: item.record.row });
      inference.add(item.record.row);
    }
  }
  return {
    encoding: reader.charset,
    encodingSource: encodingSource(csv.encoding, reader.charset, head),
    delimiter: reader.delimiter,
    header: error && header === undefined ? undefined : header,
    ...(error ? { error } : {}),
    rows,
    failures,
    columns: inference.result(),
    bytesRead,
    complete: complete && items.length <= maxRows,
  };
}

function attempt(step: () => void): CsvPreview['error'] {
  try {
    step();
    return undefined;
  } catch (err) {
    if (!isIngestError(err)) throw err;
    return { code: err.code, message: err.message, ...(err.context.line === undefined ? {} : { line: err.context.line }) };
  }
}

function encodingSource(option: string, charset: string | undefined, head: Buffer): EncodingSource {
  if (option !== 'auto') return 'option';
  if ((head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) || (head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) return 'bom';
  return charset === 'windows-1252' ? 'fallback' : 'valid-utf8';
}
