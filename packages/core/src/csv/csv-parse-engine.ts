import { Parser } from 'csv-parse';
import { IngestError, IngestErrorCode } from '../errors.js';
import type { CsvEngine } from './engine.js';
import type { NormalizedCsvOptions } from './options.js';
import type { RecordHandler } from './records.js';

/** The slice of csv-parse's internal state machine we drive directly. */
interface CsvParseApi {
  parse(buf: Buffer | undefined, end: boolean, push: (record: string[]) => void, close: () => void): Error | undefined;
  info: { lines: number; bytes: number };
  state: { recordHasError: boolean; quoting: boolean; record: string[] };
  __onRecord(push: (record: string[]) => void): Error | undefined;
}

interface PendingError {
  line: number;
  code: string;
  column: number | undefined;
  detail: string;
}

function noop(): void {}

/**
 * The default engine: csv-parse's state machine, called synchronously.
 *
 * Records are taken as arrays and turned into objects once by the {@link RecordHandler}, which
 * the performance notes measured at 1.5-2x cheaper than csv-parse's `columns`. Line numbers come
 * from the parser's own line counter, read at the moment each record is pushed; `info: true`
 * would build a context object per record and cost about 3x in throughput.
 * @internal
 */
export class CsvParseEngine implements CsvEngine {
  readonly #api: CsvParseApi;
  readonly #records: RecordHandler;
  /** Line at which the last record (good, blank or broken) ended. */
  #lastEndLine = 0;
  /**
   * csv-parse counts a CRLF inside a quoted field as two lines; a person counts one. This is how
   * many such extra lines csv-parse has counted so far.
   */
  #crlfSkew = 0;
  /** The first error of the record being read, reported once when that record ends. */
  #pending: PendingError | undefined;
  readonly #push = (fields: string[]): void => this.#onRecord(fields);

  constructor(options: NormalizedCsvOptions, delimiter: string, records: RecordHandler) {
    this.#records = records;
    const parser = new Parser({
      delimiter,
      quote: options.quote ?? false,
      escape: options.escape ?? false,
      // Explicit, so a file mixing CRLF, LF and CR still splits on each.
      record_delimiter: ['\r\n', '\n', '\r'],
      trim: options.trim,
      // Blank lines and column mismatches are the record handler's to count, so both must reach it.
      skip_empty_lines: false,
      relax_column_count: true,
      skip_records_with_error: true,
      max_record_size: options.maxRecordBytes,
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
    const onRecord = api.__onRecord;
    const onBrokenEnd = (fields: string[]): void => this.#onBrokenRecordEnd(fields);
    api.__onRecord = function (this: CsvParseApi, push) {
      const broken = this.state.recordHasError;
      // The fields read so far, which csv-parse drops with the broken record: they may hold CRLFs.
      const fields = this.state.record;
      const result = onRecord.call(this, push);
      if (broken && !this.state.recordHasError) onBrokenEnd(fields);
      return result;
    };
    this.#api = api;
  }

  parse(bytes: Buffer, end: boolean): void {
    const api = this.#api;
    const err = end
      ? (bytes.length > 0 ? api.parse(bytes, false, this.#push, noop) : undefined) ?? api.parse(undefined, true, this.#push, noop)
      : api.parse(bytes, false, this.#push, noop);
    if (err !== undefined) throw this.#fatal(err);
    if (end && this.#pending !== undefined) {
      // The broken record never ended (a quote left open to the end of input).
      const p = this.#pending;
      this.#pending = undefined;
      this.#records.broken(p.line, p.code, p.column, undefined, NaN, p.detail);
    }
  }

  #onRecordError(err: Error & { code?: string; column?: number | string }): void {
    const line = this.#lastEndLine + 1;
    if (err.code === 'CSV_MAX_RECORD_SIZE') {
      // Thrown so csv-parse returns it from parse(): a record this large is never skipped.
      throw this.#records.tooLarge(line);
    }
    if (err.code === 'CSV_INVALID_CLOSING_QUOTE' || err.code === 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE') {
      // csv-parse stays inside the quotes after `"4"x`, and would swallow the following lines
      // into this broken record up to the next quote. Leaving the quotes makes the record end at
      // its own line break, so the next row is read as the row it is.
      this.#api.state.quoting = false;
    }
    this.#pending ??= { line, code: err.code ?? '', column: typeof err.column === 'number' ? err.column : undefined, detail: err.message };
  }

  #onBrokenRecordEnd(fields: string[]): void {
    const api = this.#api;
    if (api.info.lines - this.#crlfSkew > this.#lastEndLine + 1) this.#crlfSkew += countCrlf(fields);
    this.#lastEndLine = api.info.lines - this.#crlfSkew;
    const p = this.#pending;
    this.#pending = undefined;
    if (p !== undefined) this.#records.broken(p.line, p.code, p.column, api.info.bytes, this.#lastEndLine + 1, p.detail);
  }

  #onRecord(fields: string[]): void {
    const api = this.#api;
    const line = this.#lastEndLine + 1;
    // Only a record spanning several lines can hold a quoted CRLF, so one-line records cost nothing.
    if (api.info.lines - this.#crlfSkew > line) this.#crlfSkew += countCrlf(fields);
    this.#lastEndLine = api.info.lines - this.#crlfSkew;
    this.#records.record(fields, line, api.info.bytes, this.#lastEndLine + 1);
  }

  #fatal(err: Error): IngestError {
    if (err instanceof IngestError) return err;
    const line = this.#lastEndLine + 1;
    return new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The input is not valid CSV near line ${line}: ${err.message}`, { line }, { cause: err });
  }
}

function countCrlf(fields: string[]): number {
  let n = 0;
  for (const field of fields) {
    for (let i = field.indexOf('\r\n'); i !== -1; i = field.indexOf('\r\n', i + 2)) n++;
  }
  return n;
}
