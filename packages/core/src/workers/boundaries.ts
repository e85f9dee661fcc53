const LF = 0x0a;
const CR = 0x0d;

/** Where the scanner stands between two bytes. */
const enum State {
  /** At the start of a field (and of a record). */
  FieldStart,
  /** Inside an unquoted field, or the rest of a broken one: quotes here are content. */
  Unquoted,
  /** Inside a quoted field. */
  Quoted,
  /** Just past a quote inside a quoted field: a second quote, a delimiter or a line end decides. */
  QuoteSeen,
  /** Just past a CR that ends a record: an LF may follow as part of the same line end. */
  CrEnd,
}

/**
 * Finds where records end in CSV bytes without building them: the same ends, and the same
 * physical line numbers, as the `'fast'` engine (and csv-parse, which the test suite holds to the
 * same records). A quote opens a quoted field only at the start of a field, as the engines read
 * it; inside one, a doubled quote is content, and line breaks are part of the record. CRLF, CR and
 * LF are one line break each. Works on the source bytes of UTF-8 or of a one-byte ASCII-compatible
 * charset, where these bytes are always these characters.
 *
 * Fed chunk by chunk; a record split across chunks is simply not finished yet.
 * @internal
 */
export class RecordBoundaries {
  readonly #quote: number;
  readonly #delimiter: number;
  #state = State.FieldStart;
  /** The previous byte inside a quoted field was a CR (so an LF there is the same line break). */
  #quotedCr = false;
  /** Bytes scanned so far. */
  #offset: number;
  /** Physical line of the byte at #offset. */
  #line: number;
  /** Offset just past the last record end found, and the line the next record starts on. */
  lastEnd: number;
  lastEndLine: number;

  /** `quote` and `delimiter`: byte values (quote -1 when quoting is off); `offset`/`line`: where scanning starts, at a record start. */
  constructor(quote: number, delimiter: number, offset: number, line: number) {
    this.#quote = quote;
    this.#delimiter = delimiter;
    this.#offset = offset;
    this.#line = line;
    this.lastEnd = offset;
    this.lastEndLine = line;
  }

  /** Scans the next bytes of the input. `lastEnd`/`lastEndLine` say the last record end so far. */
  scan(bytes: Uint8Array): void {
    const q = this.#quote;
    const d = this.#delimiter;
    const n = bytes.length;
    const base = this.#offset;
    let state = this.#state;
    let line = this.#line;
    let quotedCr = this.#quotedCr;
    let lastEnd = -1;
    let lastEndLine = 0;
    // Where the next quote and line breaks are, searched natively and remembered: the scan jumps
    // from one to the next, as the fast engine does, and walks byte by byte only through quoted
    // line breaks and the bytes right after a quote or a CR. Each is searched for again only once
    // passed, so a file without CRs (or quotes) costs one search per chunk for them, not per line.
    let nextQuote = -1;
    let nextLf = -1;
    let nextCr = -1;
    for (let i = 0; i < n; i++) {
      if (state === State.FieldStart || state === State.Unquoted) {
        if (nextQuote < i) nextQuote = q < 0 ? n : indexOrEnd(bytes, q, i);
        if (nextLf < i) nextLf = indexOrEnd(bytes, LF, i);
        if (nextCr < i) nextCr = indexOrEnd(bytes, CR, i);
        // Up to the next quote or line break there are only delimiters and content: they decide
        // only whether a field starts just before it, which the last of them tells.
        let target = nextLf < nextCr ? nextLf : nextCr;
        if (nextQuote < target) target = nextQuote;
        if (target > i) state = bytes[target - 1] === d ? State.FieldStart : State.Unquoted;
        if (target >= n) break;
        i = target;
      } else if (state === State.Quoted) {
        if (nextQuote < i) nextQuote = indexOrEnd(bytes, q, i);
        if (nextLf < i) nextLf = indexOrEnd(bytes, LF, i);
        if (nextCr < i) nextCr = indexOrEnd(bytes, CR, i);
        // A quoted field without a line break in it: straight to its next quote.
        if (nextLf >= nextQuote && nextCr >= nextQuote) {
          if (nextQuote > i) quotedCr = false;
          if (nextQuote >= n) break;
          i = nextQuote;
        }
      }
      const b = bytes[i]!;
      if (state === State.CrEnd) {
        state = State.FieldStart;
        if (b === LF) {
          lastEnd = i + 1;
          lastEndLine = line;
          continue;
        }
        // A lone CR ended the record; this byte starts the next one.
        lastEnd = i;
        lastEndLine = line;
      }
      switch (state) {
        case State.Quoted:
          if (b === q) state = State.QuoteSeen;
          else if (b === LF) {
            if (!quotedCr) line++;
          } else if (b === CR) line++;
          quotedCr = b === CR;
          continue;
        // After a closing quote, a second quote is an escaped one and the field goes on quoted;
        // at a field's start, a quote opens it. Anything else is unquoted content.
        case State.QuoteSeen:
        case State.FieldStart:
          if (b === q) {
            state = State.Quoted;
            quotedCr = false;
            continue;
          }
          state = State.Unquoted;
          break;
        default:
          break;
      }
      // Outside quotes: a delimiter starts a field, a line break ends the record.
      if (b === d) state = State.FieldStart;
      else if (b === LF) {
        line++;
        state = State.FieldStart;
        lastEnd = i + 1;
        lastEndLine = line;
      } else if (b === CR) {
        line++;
        state = State.CrEnd;
      }
    }
    this.#state = state;
    this.#line = line;
    this.#quotedCr = quotedCr;
    this.#offset = base + n;
    if (lastEnd >= 0) {
      this.lastEnd = base + lastEnd;
      this.lastEndLine = lastEndLine;
    }
  }

  /** The input has ended: a CR left pending ends its record there. */
  finish(): void {
    if (this.#state === State.CrEnd) {
      this.lastEnd = this.#offset;
      this.lastEndLine = this.#line;
      this.#state = State.FieldStart;
    }
  }
}

/** Index of `byte` in `bytes` from `from`, or the length when there is none. */
function indexOrEnd(bytes: Uint8Array, byte: number, from: number): number {
  const at = bytes.indexOf(byte, from);
  return at < 0 ? bytes.length : at;
}

/**
 * Offset in `bytes` at which physical line `line` starts (line 1 at offset 0): just past the
 * (line-1)th line break, CRLF, CR and LF counting once each, quoted or not. `undefined` when the
 * bytes do not reach it, or end on a CR whose LF may follow.
 * @internal
 */
export function lineStart(bytes: Uint8Array, line: number): number | undefined {
  let at = 1;
  if (line <= 1) return 0;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === LF) at++;
    else if (b === CR) {
      if (i + 1 >= n) return undefined;
      if (bytes[i + 1] === LF) i++;
      at++;
    } else continue;
    if (at === line) return i + 1;
  }
  return undefined;
}
