import { IngestError, IngestErrorCode } from '../errors.js';
import type { CsvRecord, RowFailure, RowFailureValues } from '../types.js';
import { RowFailureCode } from '../types.js';
import { validateHeader } from './header.js';
import type { NormalizedCsvOptions } from './options.js';
import type { SourcePositions } from './positions.js';
import { createRowBuilder, type RowBuilder } from './row-builder.js';

/** Where a {@link CsvReader} delivers what it finds. @internal */
export interface CsvReaderCallbacks {
  record(record: CsvRecord): void;
  /** `end`: the source offset just past the record, when known. */
  failure(failure: RowFailure, values?: RowFailureValues, end?: number, nextLine?: number): void;
  /** A blank line, counted as a skipped row. */
  skip(line: number, end?: number, nextLine?: number): void;
  /** The checked header, once, before the first record. */
  header?(columns: readonly string[]): void;
}

/** Messages for the ways one record can be broken; the engines report these codes. */
const RECORD_ERROR_HINTS = {
  INVALID_OPENING_QUOTE: 'A quote appears inside an unquoted field. Quote the whole field and double the inner quote ("a""b").',
  CSV_INVALID_CLOSING_QUOTE: 'A quoted field is followed by other characters before the next delimiter. Quote the whole field and double inner quotes.',
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE:
    'A quoted field is followed by other characters before the next delimiter. Quote the whole field and double inner quotes.',
  CSV_QUOTE_NOT_CLOSED: 'A quoted field is never closed, so the rest of the file was read as part of this record. Close the quote.',
} as const;

/**
 * What every engine's records go through, so both engines give the same rows, failures and
 * skips: the header check, blank lines, bytes that are not UTF-8, the field count, and the row
 * object built once against the checked header.
 *
 * Engines report each record with the physical line it starts on and the stream offset (in UTF-8
 * bytes) just past its line end; a record's size is the distance from the previous one's end.
 * @internal
 */
export class RecordHandler {
  readonly #options: NormalizedCsvOptions;
  readonly #out: CsvReaderCallbacks;
  readonly #invalid: () => number[] | undefined;
  readonly #positions: () => SourcePositions | undefined;
  /** Lines before the input's first: a resumed import starts mid-file. */
  readonly #lineBase: number;
  #header: string[] | undefined;
  /** Builds the row object of a full-width record, made once the header is known. */
  #build: RowBuilder | undefined;
  /** Whether the `header` callback has had the header, read or given. */
  #announced = false;
  #lastEnd = 0;
  #resolved: SourcePositions | undefined;

  constructor(
    options: NormalizedCsvOptions,
    out: CsvReaderCallbacks,
    invalid: () => number[] | undefined,
    positions: () => SourcePositions | undefined = () => undefined,
    lineBase = 0,
  ) {
    this.#options = options;
    this.#out = out;
    this.#invalid = invalid;
    this.#positions = positions;
    this.#lineBase = lineBase;
    this.#header = options.columns;
    if (this.#header !== undefined) this.#build = createRowBuilder(this.#header);
  }

  /** The source offset of stream offset `end` (NaN when the charset has no fixed width). */
  #source(end: number): number {
    // Resolved once: 'auto' knows its charset only after sniffing, and never changes it after.
    const positions = (this.#resolved ??= this.#positions());
    return positions === undefined ? NaN : positions.at(end);
  }

  get header(): readonly string[] | undefined {
    return this.#header;
  }

  /**
   * Given columns (`csv.columns`, or a checkpoint's header) are announced like a header read from
   * the file, before the first row: listeners see the same event either way.
   */
  #announce(): void {
    if (this.#announced) return;
    this.#announced = true;
    if (this.#header !== undefined) this.#out.header?.(this.#header);
  }

  /**
   * A complete record: its first `count` fields (an engine may reuse the array for the next
   * record, so nothing here keeps it). `blank`: the line held nothing at all (a line holding only
   * `""` is not blank: it is a record with one empty field).
   */
  record(fields: string[], line: number, end: number, nextLine: number, blank: boolean, count = fields.length): void {
    // The common record, a full row after the header with no bad bytes, takes this short path:
    // small enough for V8 to inline into the engine's loop, where the whole method is not
    // (measured: 7% fewer instructions a narrow record, once compiled). It does what
    // #recordAny does for such a record, in the same order.
    const header = this.#header;
    const invalid = this.#invalid();
    if (
      header !== undefined &&
      !blank &&
      count === header.length &&
      this.#announced &&
      (invalid === undefined || invalid.length === 0 || invalid[0]! >= end)
    ) {
      const bytes = end - this.#lastEnd;
      this.#lastEnd = end;
      const row = this.#build!(fields);
      this.#out.record({ line: line + this.#lineBase, row, bytes, end: this.#source(end), nextLine: nextLine + this.#lineBase });
      return;
    }
    this.#recordAny(fields, line, end, nextLine, blank, count);
  }

  #recordAny(fields: string[], line: number, end: number, nextLine: number, blank: boolean, count: number): void {
    if (!this.#announced) this.#announce();
    line += this.#lineBase;
    nextLine += this.#lineBase;
    const bytes = end - this.#lastEnd;
    this.#lastEnd = end;
    const header = this.#header;
    const invalidAt = this.#invalidBytesBefore(end);
    if (header === undefined) {
      if (blank) return; // blank lines before the header are not rows
      if (invalidAt !== undefined) {
        throw new IngestError(
          IngestErrorCode.E_ENCODING,
          `The header row on line ${line} is not UTF-8 (near byte ${invalidAt + 1}). Pass csv.encoding: 'auto', or the file's charset such as 'windows-1252'.`,
          { line },
        );
      }
      this.#header = validateHeader(fields.slice(0, count), this.#options.maxColumns);
      this.#build = createRowBuilder(this.#header);
      this.#out.header?.(this.#header);
      return;
    }
    if (blank && this.#options.skipEmptyLines) {
      this.#out.skip(line, this.#source(end), nextLine);
      return;
    }
    if (invalidAt !== undefined) {
      this.#out.failure(
        {
          line,
          code: RowFailureCode.E_ENCODING,
          message: `The row holds bytes that are not UTF-8 (near byte ${invalidAt + 1} of the input); it was not written. If the file is not UTF-8, pass csv.encoding ('auto', 'windows-1252', ...).`,
        },
        fields.slice(0, count),
        this.#source(end),
        nextLine,
      );
      return;
    }
    const width = header.length;
    if (count !== width && !this.#options.relaxColumnCount) {
      this.#out.failure(
        {
          line,
          code: RowFailureCode.E_COLUMN_COUNT,
          message: `Expected ${width} fields, as in the header; got ${count}. Check for an unquoted delimiter in a value.`,
        },
        fields.slice(0, count),
        this.#source(end),
        nextLine,
      );
      return;
    }
    let row: Record<string, string>;
    if (count >= width) row = this.#build!(fields);
    else {
      // A short record (relaxColumnCount): only the columns it has.
      row = {};
      for (let i = 0; i < count; i++) row[header[i]!] = fields[i]!;
    }
    this.#out.record({ line, row, bytes, end: this.#source(end), nextLine });
  }

  /**
   * A record that is not valid CSV, once it has ended: one failure however many errors it had.
   * Before the header it ends the import, since no row can be read without one.
   */
  broken(line: number, code: string, column: number | undefined, end: number | undefined, nextLine: number, detail?: string): void {
    if (!this.#announced) this.#announce();
    line += this.#lineBase;
    nextLine += this.#lineBase;
    if (end !== undefined) {
      this.#lastEnd = end;
      this.#invalidBytesBefore(end);
    }
    const message = (RECORD_ERROR_HINTS as Record<string, string>)[code] ?? `The record is not valid CSV${detail ? `: ${detail}` : '.'}`;
    if (this.#header === undefined) {
      throw new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The header row on line ${line} is not valid CSV. ${message}`, { line });
    }
    const name = column === undefined ? undefined : this.#header[column];
    this.#out.failure({ line, code: RowFailureCode.E_CSV_RECORD, message, ...(name === undefined ? {} : { column: name }) }, undefined, end === undefined ? NaN : this.#source(end), nextLine);
  }

  /** The input has ended. */
  finish(): void {
    if (!this.#announced) this.#announce();
    if (this.#header === undefined) {
      throw new IngestError(IngestErrorCode.E_HEADER_INVALID, 'The input has no header row. The first line must name the columns (or pass csv.columns).', { line: 1 });
    }
  }

  /** A record too large to be anything but a runaway quote ends the import. */
  tooLarge(line: number): IngestError {
    line += this.#lineBase;
    return new IngestError(
      IngestErrorCode.E_ROW_TOO_LARGE,
      `The record starting on line ${line} is larger than ${this.#options.maxRecordBytes} bytes. ` +
        'This is usually a quote that is never closed; if the file is right, raise csv.maxRecordBytes.',
      { line, limit: this.#options.maxRecordBytes },
    );
  }

  /**
   * The first offset, before `end`, of bytes that are not UTF-8, consuming every such offset.
   * Invalid bytes are rare; the check is one array length per record.
   */
  #invalidBytesBefore(end: number): number | undefined {
    const invalid = this.#invalid();
    if (invalid === undefined || invalid.length === 0 || invalid[0]! >= end) return undefined;
    const first = invalid[0]!;
    let n = 1;
    while (n < invalid.length && invalid[n]! < end) n++;
    invalid.splice(0, n);
    return first;
  }
}
