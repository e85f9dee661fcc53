import iconv from 'iconv-lite';
import { invalidOption, IngestError, IngestErrorCode } from '../errors.js';
import { numberOption } from '../options/number-option.js';
import { validateHeader } from './header.js';

/** Delimiters `delimiter: 'auto'` chooses from. */
export const SNIFFED_DELIMITERS = [',', ';', '\t', '|'] as const;

/** How to read the CSV text. */
export interface CsvOptions {
  /**
   * Field delimiter, or `'auto'` to pick one of `, ; \t |` from the header line.
   * @defaultValue `','`
   */
  delimiter?: string;
  /**
   * Quote character; `null` turns quoting off.
   * @defaultValue `'"'`
   */
  quote?: string | null;
  /**
   * Escape character inside quoted fields; `null` turns escaping off.
   * @defaultValue `'"'` (a doubled quote)
   */
  escape?: string | null;
  /**
   * Column names. When absent, the first non-blank line is the header.
   * When given, every line is data and the names are checked like a header.
   */
  columns?: readonly string[];
  /**
   * Trim white space around fields (not inside quotes).
   * @defaultValue `false`
   */
  trim?: boolean;
  /**
   * Count blank lines as skipped rows. When `false`, a blank line is a record with one empty field.
   * @defaultValue `true`
   */
  skipEmptyLines?: boolean;
  /**
   * Accept records whose field count differs from the header: missing fields are left out,
   * extra fields are dropped. When `false`, such a record is a row failure `E_COLUMN_COUNT`.
   * @defaultValue `false`
   */
  relaxColumnCount?: boolean;
  /**
   * Largest record, in bytes of UTF-8 as it stands in the file (decoded to UTF-8 first when the
   * charset is another): every field, delimiter and quote, and the line end that closes it,
   * exactly what `CsvRecord.bytes` reports. A larger record ends the import with
   * `E_ROW_TOO_LARGE`, because a record that size is almost always a quote that never closed.
   * Both engines apply the same definition, and how the input is cut into chunks never changes
   * the decision; memory held for an unfinished record stays bounded by it.
   * @defaultValue `1048576` (1 MiB)
   */
  maxRecordBytes?: number;
  /**
   * Most columns a header may have; more ends the import with `E_TOO_MANY_COLUMNS`.
   * @defaultValue `10000`
   */
  maxColumns?: number;
  /**
   * Charset of the input. `'utf8'` strips a BOM; `'auto'` follows a UTF-8, UTF-16LE or UTF-16BE
   * BOM, and without one reads UTF-8, or windows-1252 when the start of the file is not valid
   * UTF-8 (the usual Excel export). Any other iconv-lite label (`'windows-1252'`, `'latin1'`,
   * `'utf-16le'`, ...) is used as given.
   * @defaultValue `'utf8'`
   */
  encoding?: string;
  /**
   * The tokenizer. `'fast'` is Anti-OOM's own, several times faster than csv-parse: it scans for
   * delimiters, quotes and line ends with native string search and splits quote-free lines in
   * one call. `'csv-parse'` is the well-known csv-parse parser, for what only it does: `trim`, an
   * `escape` other than the quote, a quote of several characters. Both give the same records,
   * line numbers, byte offsets and failures (the test suite runs both on the same inputs, in
   * every chunking). Naming `'fast'` together with one of those options throws at construction.
   * @defaultValue `'fast'`, or `'csv-parse'` when `trim`, `escape` or `quote` need it
   */
  engine?: 'csv-parse' | 'fast';
}

/** {@link CsvOptions} with every default filled in and every value checked. @internal */
export interface NormalizedCsvOptions {
  engine: 'csv-parse' | 'fast';
  delimiter: string | 'auto';
  quote: string | null;
  escape: string | null;
  columns: string[] | undefined;
  trim: boolean;
  skipEmptyLines: boolean;
  relaxColumnCount: boolean;
  maxRecordBytes: number;
  maxColumns: number;
  encoding: string;
}

function checkChar(name: string, value: unknown, fallback: string | null, allowNull: boolean): string | null {
  if (value === undefined) return fallback;
  if (value === null && allowNull) return null;
  if (typeof value !== 'string' || value.length === 0 || /[\r\n]/.test(value)) {
    throw invalidOption(`csv.${name}`, `a non-empty string without line breaks${allowNull ? ' or null' : ''}`, value);
  }
  return value;
}

function checkPositiveInt(name: string, value: unknown, fallback: number): number {
  return numberOption(name, value, fallback, { min: 1, integer: true });
}

function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(name, 'true or false', value);
  return value;
}

/** Fills defaults and rejects bad values once, naming the option. @internal */
export function normalizeCsvOptions(options: CsvOptions = {}): NormalizedCsvOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('csv', 'an object', options);
  const delimiter = checkChar('delimiter', options.delimiter, ',', false) as string;
  const quote = checkChar('quote', options.quote, '"', true);
  const escape = checkChar('escape', options.escape, quote ?? '"', true);
  if (quote !== null && delimiter === quote) throw invalidOption('csv.delimiter', 'different from csv.quote', delimiter);

  const maxColumns = checkPositiveInt('csv.maxColumns', options.maxColumns, 10_000);
  let columns: string[] | undefined;
  if (options.columns !== undefined) {
    if (!Array.isArray(options.columns)) throw invalidOption('csv.columns', 'an array of column names', options.columns);
    columns = validateHeader(options.columns, maxColumns);
  }

  const encoding = options.encoding ?? 'utf8';
  if (typeof encoding !== 'string') throw invalidOption('csv.encoding', "'utf8', 'auto' or an iconv-lite charset label", encoding);
  if (encoding !== 'auto' && !iconv.encodingExists(encoding)) {
    throw new IngestError(
      IngestErrorCode.E_ENCODING,
      `Unknown encoding "${encoding}". Use 'utf8', 'auto', or a charset label iconv-lite knows, such as 'windows-1252' or 'utf-16le'.`,
      { option: 'csv.encoding' },
    );
  }

  const trim = checkBoolean('csv.trim', options.trim, false);
  // Only csv-parse trims, takes another escape or a quote of several characters: asking for one of
  // those without naming an engine picks it, as naming 'fast' with them is refused below.
  const needsCsvParse = trim || (quote !== null && (quote.length !== 1 || escape !== quote));
  const engine = options.engine ?? (needsCsvParse ? 'csv-parse' : 'fast');
  if (engine !== 'csv-parse' && engine !== 'fast') throw invalidOption('csv.engine', "'csv-parse' or 'fast'", engine);
  if (engine === 'fast') {
    if (trim) throw invalidOption('csv.trim', "false with csv.engine 'fast' (use the 'csv-parse' engine to trim fields)", trim);
    if (quote !== null && quote.length !== 1) throw invalidOption('csv.quote', "one character with csv.engine 'fast'", quote);
    if (quote !== null && escape !== quote) {
      throw invalidOption('csv.escape', "the quote character with csv.engine 'fast' (use the 'csv-parse' engine for another escape)", escape);
    }
  }

  return {
    engine,
    delimiter,
    quote,
    escape,
    columns,
    trim,
    skipEmptyLines: checkBoolean('csv.skipEmptyLines', options.skipEmptyLines, true),
    relaxColumnCount: checkBoolean('csv.relaxColumnCount', options.relaxColumnCount, false),
    maxRecordBytes: checkPositiveInt('csv.maxRecordBytes', options.maxRecordBytes, 1024 * 1024),
    maxColumns,
    encoding: isUtf8Label(encoding) ? 'utf8' : encoding,
  };
}

function isUtf8Label(label: string): boolean {
  const l = label.toLowerCase().replace(/[^a-z0-9]/g, '');
  return l === 'utf8';
}
