import { Parser } from 'csv-parse';
import { IngestError, IngestErrorCode } from '../errors.js';
import type { CsvRecord, RowFailure, RowFailureValues } from '../types.js';
import { RowFailureCode } from '../types.js';
import { validateHeader } from './header.js';
import type { NormalizedCsvOptions } from './options.js';
import { endOfFirstLine, sniffDelimiter } from './sniff.js';
import { createTranscoder, type Transcoder } from './transcode.js';
import { detectBinary, SIGNATURE_BYTES } from './binary.js';

/** Where a {@link CsvReader} delivers what it finds. @internal */
export interface CsvReaderCallbacks {
  record(record: CsvRecord): void;
  failure(failure: RowFailure, values?: RowFailureValues): void;
  /** A blank line, counted as a skipped row. */
  skip(line: number): void;
  /** The checked header, once, before the first record. */
  header?(columns: readonly string[]): void;
}

/** The slice of csv-parse's internal state machine we drive directly (see `CsvReader`). */
interface CsvParseApi {
  parse(buf: Buffer | undefined, end: boolean, push: (record: string[]) => void, close: () => void): Error | undefined;
  info: { lines: number; bytes: number };
  state: { recordHasError: boolean; quoting: boolean };
  __onRecord(push: (record: string[]) => void): Error | undefined;
}

/** csv-parse error codes that describe one broken record; the parser skips it and goes on. */
const RECORD_ERROR_HINTS: Record<string, string> = {
  INVALID_OPENING_QUOTE:
    'A quote appears inside an unquoted field. Quote the whole field and double the inner quote ("a""b").',
  CSV_INVALID_CLOSING_QUOTE:
    'A quoted field is followed by other characters before the next delimiter. Quote the whole field and double inner quotes.',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE:
    'A quoted field is followed by other characters before the next delimiter. Quote the whole field and double inner quotes.',
  CSV_QUOTE_NOT_CLOSED:
    'A quoted field is never closed, so the rest of the file was read as part of this record. Close the quote.',
};

const NO_SNIFF = -1;
/** How much `delimiter: 'auto'` reads looking for the end of the header line. */
const SNIFF_LIMIT = 64 * 1024;

function noop(): void {}

/**
 * Bytes in, records with their line numbers out: the CSV logic with no stream attached.
 *
 * Parsing is csv-parse's state machine, called synchronously. Records are taken as arrays and
 * turned into objects once against the checked header, which the performance notes measured at
 * 1.5-2x cheaper than csv-parse's `columns`. Line numbers come from the parser's own line counter,
 * read at the moment each record is pushed; `info: true` would build a context object per record
 * and cost about 3x in throughput.
 *
 * Throws {@link IngestError} for input that ends the import; row problems go to `failure`.
 * @internal
 */
export class CsvReader {
  readonly #options: NormalizedCsvOptions;
  readonly #out: CsvReaderCallbacks;
  readonly #transcoder: Transcoder;
  #api: CsvParseApi | undefined;
  #header: string[] | undefined;
  #delimiterHeld: Buffer[] | undefined;
  #delimiterHeldBytes = NO_SNIFF;
  /** Line and byte offset at which the last record (good, blank or broken) ended. */
  #lastEndLine = 0;
  /**
   * csv-parse counts a CRLF inside a quoted field as two lines; a person counts one. This is how
   * many such extra lines csv-parse has counted so far.
   */
  #crlfSkew = 0;
  #lastEndBytes = 0;
  /** The first error of the record being read, reported once when that record ends. */
  #pending: RowFailure | undefined;
  #ended = false;
  /** The first bytes, held until there are enough to recognise a binary file. */
  #head: Buffer | undefined = Buffer.alloc(0);
  readonly #push = (fields: string[]): void => this.#onRecord(fields);

  constructor(options: NormalizedCsvOptions, out: CsvReaderCallbacks) {
    this.#options = options;
    this.#out = out;
    this.#transcoder = createTranscoder(options.encoding);
    this.#header = options.columns;
    if (options.delimiter === 'auto') {
      this.#delimiterHeld = [];
      this.#delimiterHeldBytes = 0;
    } else {
      this.#api = this.#createApi(options.delimiter);
    }
  }

  /** The column names, once the header has been read. */
  get header(): readonly string[] | undefined {
    return this.#header;
  }

  /** The charset being decoded, once known. */
  get charset(): string | undefined {
    return this.#transcoder.charset;
  }

  /** The delimiter in use, once known. */
  delimiter: string | undefined;

  write(chunk: Buffer): void {
    if (this.#head !== undefined) {
      chunk = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
      if (chunk.length < SIGNATURE_BYTES) {
        this.#head = chunk;
        return;
      }
      this.#head = undefined;
      this.#rejectBinary(chunk);
    }
    const bytes = this.#transcoder.write(chunk);
    if (bytes.length > 0) this.#feed(bytes, false);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#head !== undefined) {
      const head = this.#head;
      this.#head = undefined;
      this.#rejectBinary(head);
      if (head.length > 0) {
        const bytes = this.#transcoder.write(head);
        if (bytes.length > 0) this.#feed(bytes, false);
      }
    }
    const tail = this.#transcoder.end();
    this.#feed(tail, true);
  }

  #rejectBinary(head: Buffer): void {
    const what = detectBinary(head);
    if (what !== undefined) {
      throw new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The input is not CSV text: it starts like ${what}.`, { line: 1 });
    }
  }

  #feed(bytes: Buffer, end: boolean): void {
    if (this.#api === undefined) {
      const held = this.#delimiterHeld!;
      if (bytes.length > 0) held.push(bytes);
      this.#delimiterHeldBytes += bytes.length;
      const joined = held.length === 1 ? held[0]! : Buffer.concat(held);
      const start = firstNonBlank(joined);
      const quote = this.#options.quote === null ? -1 : this.#options.quote.charCodeAt(0);
      if (!end && this.#delimiterHeldBytes < SNIFF_LIMIT && endOfFirstLine(joined.subarray(start), quote) === -1) {
        if (held.length > 1) held.splice(0, held.length, joined);
        return;
      }
      this.#delimiterHeld = undefined;
      this.#api = this.#createApi(sniffDelimiter(joined.subarray(start), this.#options.quote));
      bytes = joined;
    }
    const err = end
      ? (bytes.length > 0 ? this.#api.parse(bytes, false, this.#push, noop) : undefined) ??
        this.#api.parse(undefined, true, this.#push, noop)
      : this.#api.parse(bytes, false, this.#push, noop);
    if (err !== undefined) throw this.#fatal(err);
    if (end && this.#pending !== undefined) {
      // The broken record never ended (a quote left open to the end of input).
      this.#out.failure(this.#pending);
      this.#pending = undefined;
    }
    if (end && this.#header === undefined) {
      throw new IngestError(
        IngestErrorCode.E_HEADER_INVALID,
        'The input has no header row. The first line must name the columns (or pass csv.columns).',
        { line: 1 },
      );
    }
  }

  #createApi(delimiter: string): CsvParseApi {
    this.delimiter = delimiter;
    const o = this.#options;
    const parser = new Parser({
      delimiter,
      quote: o.quote ?? false,
      escape: o.escape ?? false,
      // Explicit, so a file mixing CRLF, LF and CR still splits on each.
      record_delimiter: ['\r\n', '\n', '\r'],
      trim: o.trim,
      // We count blank lines and column mismatches ourselves, so both must reach us as records.
      skip_empty_lines: false,
      relax_column_count: true,
      skip_records_with_error: true,
      max_record_size: o.maxRecordBytes,
      bom: false,
      on_skip: (err) => {
        if (err) this.#onRecordError(err);
        return undefined;
      },
    });
    // The stream wrapper is never used: we drive its synchronous state machine, as csv-parse's
    // own stream and sync APIs do.
    const api = (parser as unknown as { api: CsvParseApi }).api;
    // csv-parse tells us when a record *starts* failing, not when the skipped record ends; the
    // next good record's line depends on it, so note the end where csv-parse drops the record.
    const reader = this;
    const onRecord = api.__onRecord;
    api.__onRecord = function (this: CsvParseApi, push) {
      const broken = this.state.recordHasError;
      const result = onRecord.call(this, push);
      if (broken && !this.state.recordHasError) reader.#onBrokenRecordEnd();
      return result;
    };
    return api;
  }

  #onRecordError(err: Error & { code?: string; column?: number | string }): void {
    const line = this.#lastEndLine + 1;
    if (err.code === 'CSV_MAX_RECORD_SIZE') {
      // Thrown so csv-parse returns it from parse(): a record this large is never skipped.
      throw new IngestError(
        IngestErrorCode.E_ROW_TOO_LARGE,
        `The record starting on line ${line} is larger than ${this.#options.maxRecordBytes} bytes. ` +
          'This is usually a quote that is never closed; if the file is right, raise csv.maxRecordBytes.',
        { line, limit: this.#options.maxRecordBytes },
      );
    }
    if (this.#header === undefined) {
      throw new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The header row on line ${line} is not valid CSV: ${err.message}`, {
        line,
      });
    }
    if (err.code === 'CSV_INVALID_CLOSING_QUOTE' || err.code === 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE') {
      // csv-parse stays inside the quotes after `"4"x`, and would swallow the following lines
      // into this broken record up to the next quote. Leaving the quotes makes the record end at
      // its own line break, so the next row is read as the row it is.
      this.#api!.state.quoting = false;
    }
    if (this.#pending !== undefined) return;
    const hint = RECORD_ERROR_HINTS[err.code ?? ''];
    const column = typeof err.column === 'number' ? this.#header[err.column] : undefined;
    this.#pending = {
      line,
      code: RowFailureCode.E_CSV_RECORD,
      message: hint ?? `The record is not valid CSV: ${err.message}`,
      ...(column === undefined ? {} : { column }),
    };
  }

  #onBrokenRecordEnd(): void {
    const api = this.#api!;
    if (this.#pending !== undefined) this.#out.failure(this.#pending);
    this.#pending = undefined;
    this.#lastEndLine = api.info.lines - this.#crlfSkew;
    this.#lastEndBytes = api.info.bytes;
    this.#invalidBytesBefore(api.info.bytes);
  }

  /**
   * The first offset, before `end`, of bytes that are not UTF-8, consuming every such offset.
   * Invalid bytes are rare; the check is one array length per record.
   */
  #invalidBytesBefore(end: number): number | undefined {
    const invalid = this.#transcoder.invalid;
    if (invalid === undefined || invalid.length === 0 || invalid[0]! >= end) return undefined;
    const first = invalid[0]!;
    let n = 1;
    while (n < invalid.length && invalid[n]! < end) n++;
    invalid.splice(0, n);
    return first;
  }

  #onRecord(fields: string[]): void {
    const api = this.#api!;
    const line = this.#lastEndLine + 1;
    const bytes = api.info.bytes - this.#lastEndBytes;
    // Only a record spanning several lines can hold a quoted CRLF, so one-line records cost nothing.
    if (api.info.lines - this.#crlfSkew > line) this.#crlfSkew += countCrlf(fields);
    this.#lastEndLine = api.info.lines - this.#crlfSkew;
    this.#lastEndBytes = api.info.bytes;

    const blank = fields.length === 1 && fields[0] === '';
    const header = this.#header;
    const invalidAt = this.#invalidBytesBefore(api.info.bytes);
    if (header === undefined) {
      if (blank) return; // blank lines before the header are not rows
      if (invalidAt !== undefined) {
        throw new IngestError(
          IngestErrorCode.E_ENCODING,
          `The header row on line ${line} is not UTF-8 (near byte ${invalidAt + 1}). Pass csv.encoding: 'auto', or the file's charset such as 'windows-1252'.`,
          { line },
        );
      }
      this.#header = validateHeader(fields, this.#options.maxColumns);
      this.#out.header?.(this.#header);
      return;
    }
    if (blank && this.#options.skipEmptyLines) {
      this.#out.skip(line);
      return;
    }
    if (invalidAt !== undefined) {
      this.#out.failure(
        {
          line,
          code: RowFailureCode.E_ENCODING,
          message: `The row holds bytes that are not UTF-8 (near byte ${invalidAt + 1} of the input); it was not written. If the file is not UTF-8, pass csv.encoding ('auto', 'windows-1252', ...).`,
        },
        fields,
      );
      return;
    }
    const width = header.length;
    if (fields.length !== width && !this.#options.relaxColumnCount) {
      this.#out.failure({
        line,
        code: RowFailureCode.E_COLUMN_COUNT,
        message: `Expected ${width} fields, as in the header; got ${fields.length}. Check for an unquoted delimiter in a value.`,
      }, fields);
      return;
    }
    const row: Record<string, string> = {};
    const n = fields.length < width ? fields.length : width;
    for (let i = 0; i < n; i++) row[header[i]!] = fields[i]!;
    this.#out.record({ line, row, bytes });
  }

  #fatal(err: Error): IngestError {
    if (err instanceof IngestError) return err;
    const line = this.#lastEndLine + 1;
    return new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The input is not valid CSV near line ${line}: ${err.message}`, { line }, {
      cause: err,
    });
  }
}

function countCrlf(fields: string[]): number {
  let n = 0;
  for (const field of fields) {
    for (let i = field.indexOf('\r\n'); i !== -1; i = field.indexOf('\r\n', i + 2)) n++;
  }
  return n;
}

/** Offset of the first byte that is not a line break, so leading blank lines do not hide the header. */
function firstNonBlank(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return i;
}
