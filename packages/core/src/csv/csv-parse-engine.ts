import { Parser, type Options } from 'csv-parse';
import { IngestError, IngestErrorCode } from '../errors.js';
import type { CsvEngine } from './engine.js';
import type { NormalizedCsvOptions } from './options.js';
import type { RecordHandler } from './records.js';

/** What `raw: true` gives `on_record`: the fields and the record's text as read. */
interface RawRecord {
  record: string[];
  raw: string;
}

/** The first way a record's text is not valid CSV. */
interface Broken {
  code: string;
  column: number;
}

const LF = 10;
const CR = 13;

/**
 * The `'csv-parse'` engine, for what only csv-parse does (`trim`, an `escape` other than the
 * quote, a quote of several characters): csv-parse driven through its public API only, so a
 * patch release of csv-parse cannot break it.
 *
 * Records come through `on_record`, synchronously while `write()` runs, with `raw: true`: the
 * record's own text gives its physical line breaks (csv-parse's line counter counts a quoted CRLF
 * twice), tells a blank line from one holding `""`, and shows whether the record was valid CSV.
 * The context's `bytes` gives where it ends. csv-parse builds that context for every record,
 * which the performance notes measured at about 3x the cost of bare arrays; no cheaper public
 * route gives a record's end offset and line, both needed for resumable imports, so this engine
 * pays it and the default `'fast'` engine does not.
 *
 * `relax_quotes` keeps csv-parse from reading on inside quotes after `"4"x` (which would swallow
 * the following lines into one broken record); such records are found broken here instead, from
 * their text, with the code csv-parse gives them. Records returned `null` from `on_record` are
 * dropped, so nothing accumulates in the stream's buffer and every `write()` runs to the end.
 * @internal
 */
export class CsvParseEngine implements CsvEngine {
  readonly #parser: Parser;
  readonly #records: RecordHandler;
  readonly #options: NormalizedCsvOptions;
  readonly #delimiter: string;
  /** Physical line on which the next record starts. */
  #line = 1;
  /** Stream offset just past the last record (good, blank or broken). */
  #lastEnd = 0;
  /** Bytes given to csv-parse so far. */
  #fed = 0;
  /** A record csv-parse dropped as broken, reported when the input ends. */
  #pending: { line: number; code: string; column: number | undefined; detail: string } | undefined;

  constructor(options: NormalizedCsvOptions, delimiter: string, records: RecordHandler) {
    this.#records = records;
    this.#options = options;
    this.#delimiter = delimiter;
    this.#parser = new Parser({
      delimiter,
      quote: options.quote ?? false,
      escape: options.escape ?? false,
      // Explicit, so a file mixing CRLF, LF and CR still splits on each.
      record_delimiter: ['\r\n', '\n', '\r'],
      trim: options.trim,
      // Blank lines and column mismatches are the record handler's to count, so both must reach it.
      skip_empty_lines: false,
      relax_column_count: true,
      relax_quotes: true,
      raw: true,
      skip_records_with_error: true,
      // A backstop that bounds memory inside csv-parse: it counts field content, never more than
      // the record's bytes, so whatever it stops is over the limit by our definition too.
      max_record_size: options.maxRecordBytes,
      bom: false,
      on_record: (record: unknown, context: { bytes: number }) => {
        this.#onRecord(record as RawRecord, context.bytes);
        return null;
      },
      on_skip: (err: (Error & { code?: string; column?: number | string }) | undefined, raw: string | undefined) => {
        if (err) this.#onSkip(err, raw);
        return undefined;
      },
    } as Options);
    // Errors are read back from `errored` right after each call; the event would be unhandled.
    this.#parser.on('error', noop);
  }

  parse(bytes: Buffer, end: boolean): void {
    const parser = this.#parser;
    this.#fed += bytes.length;
    if (bytes.length > 0) parser.write(bytes);
    if (end) parser.end();
    const err = parser.errored;
    if (err) throw this.#fatal(err);
    if (end && this.#pending !== undefined) {
      // The broken record never ended (a quote left open to the end of input).
      const p = this.#pending;
      this.#pending = undefined;
      if (this.#fed - this.#lastEnd > this.#options.maxRecordBytes) throw this.#records.tooLarge(p.line);
      this.#records.broken(p.line, p.code, p.column, undefined, NaN, p.detail);
    }
  }

  #onSkip(err: Error & { code?: string; column?: number | string }, raw: string | undefined): void {
    if (err.code === 'CSV_MAX_RECORD_SIZE') {
      // Thrown so csv-parse returns it from parse(): a record this large is never skipped.
      throw this.#records.tooLarge(this.#line);
    }
    if (this.#pending !== undefined) return;
    // The record may have broken earlier, where relax_quotes let csv-parse read on: the first
    // break is the one reported, as the fast engine does.
    const quote = this.#options.quote;
    const earlier = raw !== undefined && quote !== null ? findBroken(raw, this.#delimiter, quote, this.#options.escape, this.#options.trim) : undefined;
    this.#pending =
      earlier === undefined
        ? { line: this.#line, code: err.code ?? '', column: typeof err.column === 'number' ? err.column : undefined, detail: err.message }
        : { line: this.#line, code: earlier.code, column: earlier.column, detail: err.message };
  }

  #onRecord({ record: fields, raw }: RawRecord, end: number): void {
    const line = this.#line;
    if (end - this.#lastEnd > this.#options.maxRecordBytes) throw this.#records.tooLarge(line);
    this.#lastEnd = end;
    const body = withoutLineEnd(raw);
    const breaks = countBreaks(body);
    const nextLine = line + breaks + 1;
    this.#line = nextLine;
    const p = this.#pending;
    if (p !== undefined) {
      // Only `trim`'s check after a closing quote drops a record mid-input; this one ends here.
      this.#pending = undefined;
      this.#records.broken(p.line, p.code, p.column, end, nextLine, p.detail);
      return;
    }
    const quote = this.#options.quote;
    const quoted = quote !== null && body.includes(quote);
    const broken = quoted ? findBroken(body, this.#delimiter, quote, this.#options.escape, this.#options.trim) : undefined;
    if (broken !== undefined) this.#records.broken(line, broken.code, broken.column, end, nextLine);
    else this.#records.record(fields, line, end, nextLine, !quoted && fields.length === 1 && fields[0] === '');
  }

  #fatal(err: Error): IngestError {
    if (err instanceof IngestError) return err;
    const line = this.#line;
    return new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The input is not valid CSV near line ${line}: ${err.message}`, { line }, { cause: err });
  }
}

function noop(): void {}

/** A record's text without the line end that closed it (csv-parse keeps one byte of a CRLF). */
function withoutLineEnd(raw: string): string {
  let n = raw.length;
  if (n > 0 && raw.charCodeAt(n - 1) === LF) n--;
  if (n > 0 && raw.charCodeAt(n - 1) === CR) n--;
  return n === raw.length ? raw : raw.slice(0, n);
}

/** Line breaks in a text: CRLF, CR and LF count once each. */
function countBreaks(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) n++;
    else if (c === CR) {
      n++;
      if (text.charCodeAt(i + 1) === LF) i++;
    }
  }
  return n;
}

const isTrimmable = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\f' || c === '\v';

/**
 * The first place a record's text (line end removed) breaks CSV's quoting rules, with the code
 * csv-parse gives it: a quote inside an unquoted field, or characters after a closing quote.
 * `relax_quotes` lets csv-parse read on past both; this finds them. @internal
 */
export function findBroken(text: string, delimiter: string, quote: string, escape: string | null, trim: boolean): Broken | undefined {
  const n = text.length;
  let i = 0;
  for (let column = 0; ; column++) {
    if (trim) while (i < n && isTrimmable(text[i])) i++;
    if (text.startsWith(quote, i)) {
      i += quote.length;
      for (;;) {
        if (i >= n) return undefined; // csv-parse reports a quote never closed itself
        if (escape !== null && text.startsWith(escape, i)) {
          if (escape === quote) {
            if (text.startsWith(quote, i + escape.length)) {
              i += escape.length + quote.length;
              continue;
            }
          } else if (i + escape.length < n) {
            i += escape.length + 1;
            continue;
          }
        }
        if (text.startsWith(quote, i)) break;
        i++;
      }
      i += quote.length;
      if (i >= n || text.startsWith(delimiter, i)) {
        if (i >= n) return undefined;
        i += delimiter.length;
        continue;
      }
      if (trim && isTrimmable(text[i])) {
        while (i < n && isTrimmable(text[i])) i++;
        if (i >= n) return undefined;
        if (text.startsWith(delimiter, i)) {
          i += delimiter.length;
          continue;
        }
        return { code: 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE', column };
      }
      return { code: 'CSV_INVALID_CLOSING_QUOTE', column };
    }
    const d = text.indexOf(delimiter, i);
    const stop = d === -1 ? n : d;
    const q = text.indexOf(quote, i);
    if (q !== -1 && q < stop) return { code: 'INVALID_OPENING_QUOTE', column };
    if (d === -1) return undefined;
    i = d + delimiter.length;
  }
}
