import type { CsvEngine } from './engine.js';
import type { NormalizedCsvOptions } from './options.js';
import type { RecordHandler } from './records.js';

const LF = 10;
const CR = 13;

/** One record found by the slow path. */
interface Scanned {
  fields: string[];
  /** Index just past the record's line end (or the end of the text). */
  next: number;
  /** Line breaks inside quoted fields. */
  breaks: number;
  /** Whether a line end closed the record (not the end of the input). */
  terminated: boolean;
  /** The first way the record is broken, if it is. */
  broken: { code: string; column: number } | undefined;
}

/**
 * The `'fast'` engine: the same records, lines and failures as csv-parse, found differently.
 *
 * Each chunk is decoded to a string once. A line without a quote — most lines of most files — is
 * found with native `indexOf` and split with native `split`; the positions of the next quote and
 * the next CR are remembered, so each is searched for once, not once per line. Only a line that
 * holds a quote goes through a character-by-character scan, which handles quoted delimiters and
 * line breaks, doubled quotes, and the broken forms exactly as the csv-parse engine reports them.
 * An incomplete record at the end of a chunk waits for the next one, bounded by maxRecordBytes.
 * @internal
 */
export class FastEngine implements CsvEngine {
  readonly #records: RecordHandler;
  readonly #max: number;
  readonly #delimiter: string;
  readonly #delimiterCode: number;
  readonly #quote: string | null;
  readonly #quoteCode: number;
  /** Text from the start of the first record not yet complete. */
  #text = '';
  /** Whether #text is all one-byte characters, so its byte offsets are its string offsets. */
  #ascii = true;
  /** Physical line on which #text starts. */
  #line = 1;
  /** Stream offset, in bytes, at which #text starts. */
  #offset = 0;

  constructor(options: NormalizedCsvOptions, delimiter: string, records: RecordHandler) {
    this.#records = records;
    this.#max = options.maxRecordBytes;
    this.#delimiter = delimiter;
    this.#delimiterCode = delimiter.charCodeAt(0);
    this.#quote = options.quote;
    this.#quoteCode = options.quote === null ? -1 : options.quote.charCodeAt(0);
  }

  parse(bytes: Buffer, end: boolean): void {
    if (bytes.length > 0) {
      const chunk = bytes.toString('utf8');
      const ascii = chunk.length === bytes.length;
      if (this.#text.length === 0) {
        this.#text = chunk;
        this.#ascii = ascii;
      } else {
        this.#text += chunk;
        this.#ascii &&= ascii;
      }
    }
    this.#scan(end);
  }

  #scan(end: boolean): void {
    const text = this.#text;
    const n = text.length;
    const delimiter = this.#delimiter;
    const quote = this.#quote;
    const records = this.#records;
    const ascii = this.#ascii;
    let pos = 0;
    let line = this.#line;
    let offset = this.#offset;
    let nextQuote = quote === null ? n : indexOr(text, quote, 0, n);
    let nextCR = indexOr(text, '\r', 0, n);
    while (pos < n) {
      if (nextCR < pos) nextCR = indexOr(text, '\r', pos, n);
      if (nextQuote < pos) nextQuote = indexOr(text, quote!, pos, n);
      const lf = indexOr(text, '\n', pos, n);
      const eol = lf < nextCR ? lf : nextCR;
      let fields: string[];
      let next: number;
      let breaks = 0;
      let terminated: boolean;
      let broken: Scanned['broken'];
      if (nextQuote < eol) {
        const scanned = this.#scanQuoted(text, pos, end);
        if (scanned === undefined) break;
        ({ fields, next, breaks, terminated, broken } = scanned);
      } else {
        if (eol === n) {
          if (!end) break;
          next = n;
          terminated = false;
        } else if (eol === lf) {
          next = eol + 1;
          terminated = true;
        } else if (eol + 1 < n) {
          next = text.charCodeAt(eol + 1) === LF ? eol + 2 : eol + 1;
          terminated = true;
        } else {
          // A CR at the end of the chunk may be the first half of a CRLF.
          if (!end) break;
          next = n;
          terminated = true;
        }
        fields = text.slice(pos, eol).split(delimiter);
      }
      const size = ascii ? next - pos : Buffer.byteLength(text.slice(pos, next));
      if (size > this.#max) throw records.tooLarge(line);
      offset += size;
      if (broken === undefined) records.record(fields, line, offset);
      else records.broken(line, broken.code, broken.column, offset);
      line += breaks + (terminated ? 1 : 0);
      pos = next;
    }
    this.#text = pos === n ? '' : pos === 0 ? text : text.slice(pos);
    if (pos > 0) this.#ascii = ascii;
    this.#line = line;
    this.#offset = offset;
    // An unfinished record may not grow past the limit: memory stays bounded by it.
    if (this.#text.length > this.#max) throw records.tooLarge(line);
  }

  /**
   * Scans one record that holds a quote, from `start`, character by character. Returns
   * `undefined` when the record may continue past the end of the text (more input will come).
   */
  #scanQuoted(text: string, start: number, end: boolean): Scanned | undefined {
    const n = text.length;
    const q = this.#quoteCode;
    const quote = this.#quote!;
    const d = this.#delimiterCode;
    const delimiter = this.#delimiter;
    const dl = delimiter.length;
    const fields: string[] = [];
    let breaks = 0;
    let broken: Scanned['broken'];
    let i = start;
    for (;;) {
      // At the start of a field.
      let value = '';
      let from = i;
      if (i < n && text.charCodeAt(i) === q) {
        let segment = i + 1;
        let j = segment;
        for (;;) {
          const k = text.indexOf(quote, j);
          if (k === -1) {
            if (!end) return undefined;
            // Never closed: the rest of the input is this record.
            breaks += countBreaks(text, i + 1, n);
            broken ??= { code: 'CSV_QUOTE_NOT_CLOSED', column: fields.length };
            return { fields, next: n, breaks, terminated: false, broken };
          }
          if (k + 1 >= n && !end) return undefined; // a doubled quote may be split across chunks
          if (k + 1 < n && text.charCodeAt(k + 1) === q) {
            value += text.slice(segment, k + 1);
            j = k + 2;
            segment = j;
            continue;
          }
          value += text.slice(segment, k);
          breaks += countBreaks(text, i + 1, k);
          i = k + 1;
          break;
        }
        if (i >= n) {
          fields.push(value);
          return { fields, next: n, breaks, terminated: false, broken };
        }
        const c = text.charCodeAt(i);
        if (c === d && (dl === 1 || text.startsWith(delimiter, i))) {
          fields.push(value);
          i += dl;
          continue;
        }
        if (c === LF || c === CR) {
          fields.push(value);
          return this.#terminate(text, i, fields, breaks, broken, end);
        }
        // Characters after the closing quote: the record is broken; read on to its line end.
        broken ??= { code: 'CSV_INVALID_CLOSING_QUOTE', column: fields.length };
        from = i;
      }
      // An unquoted field, or the rest of a broken one.
      for (;;) {
        if (i >= n) {
          if (!end) return undefined;
          fields.push(value + text.slice(from, i));
          return { fields, next: n, breaks, terminated: false, broken };
        }
        const c = text.charCodeAt(i);
        if (c === d && (dl === 1 || text.startsWith(delimiter, i))) {
          fields.push(value + text.slice(from, i));
          i += dl;
          break;
        }
        if (c === LF || c === CR) {
          fields.push(value + text.slice(from, i));
          return this.#terminate(text, i, fields, breaks, broken, end);
        }
        if (c === q) broken ??= { code: 'INVALID_OPENING_QUOTE', column: fields.length };
        i++;
      }
    }
  }

  #terminate(text: string, at: number, fields: string[], breaks: number, broken: Scanned['broken'], end: boolean): Scanned | undefined {
    if (text.charCodeAt(at) === LF) return { fields, next: at + 1, breaks, terminated: true, broken };
    if (at + 1 < text.length) return { fields, next: text.charCodeAt(at + 1) === LF ? at + 2 : at + 1, breaks, terminated: true, broken };
    if (!end) return undefined;
    return { fields, next: at + 1, breaks, terminated: true, broken };
  }
}

function indexOr(text: string, search: string, from: number, fallback: number): number {
  const i = text.indexOf(search, from);
  return i === -1 ? fallback : i;
}

/** Line breaks in text[from, to): CRLF, CR and LF count once each. */
function countBreaks(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) n++;
    else if (c === CR) {
      n++;
      if (i + 1 < to && text.charCodeAt(i + 1) === LF) i++;
    }
  }
  return n;
}
