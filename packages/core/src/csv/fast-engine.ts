import { isAscii } from 'node:buffer';
import type { CsvEngine } from './engine.js';
import type { NormalizedCsvOptions } from './options.js';
import type { RecordHandler } from './records.js';

const LF = 10;
const CR = 13;

/** How the quoted-field scan ended a record. */
interface Scanned {
  /** Fields found; their bounds are in the engine's bounds array. */
  count: number;
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
 * Fields are sliced from copies of the text of at least this many characters (a piece), not from
 * the chunk; see {@link FastEngine}.
 */
const PIECE = 2048;

/** The engine's buffer of held bytes starts at this size: two 64 KiB chunks. */
const BUFFER = 128 * 1024;

/**
 * The `'fast'` engine: the same records, lines and failures as csv-parse, found differently.
 *
 * The bytes held (the unfinished end of the last chunk, then the new one) are decoded to one flat
 * string per scan. The positions of the next delimiter, quote, CR and LF are found with native
 * `indexOf` and remembered, so each is searched for once per chunk however many lines ask. A line
 * without a quote — most lines of most files — is cut at its delimiters in one pass; a record with
 * one is read by #quoted, which jumps between the same positions, notes where each field starts
 * and ends, and handles quoted delimiters and line breaks and doubled quotes; at the first sign of
 * a broken record it hands over to #scanQuoted, which reports the broken forms exactly as the
 * csv-parse engine does. An unfinished record at the end of a chunk waits for more text, bounded
 * by maxRecordBytes.
 *
 * Fields are not sliced from the chunk: a V8 slice of 13 characters or more keeps its whole parent
 * string alive, and rows wait in batches, so a few rows (the good ones among many failing lines,
 * or those a `map` keeps) would each hold a 64 KiB chunk. They are sliced from a copy of the text
 * from their record's start, at least {@link PIECE} characters long and shared by the records it
 * covers: a row keeps at most its own record or one piece alive, and a copy costs one decode
 * of the bytes (a concatenation, in text that is not all ASCII) per piece rather than one per line
 * or field. The record's fields go into one
 * array reused for every record (the record handler copies what it keeps).
 * @internal
 */
export class FastEngine implements CsvEngine {
  readonly #records: RecordHandler;
  readonly #max: number;
  readonly #delimiter: string;
  readonly #quote: string | null;
  /** The quote as searched for; never searched for when there is none. */
  readonly #quoteText: string;
  readonly #quoteCode: number;
  /** The fields of the record being handed on, reused from record to record. */
  readonly #fields: string[] = [];
  /** Start, end and number of doubled quotes of each field of a quoted record, three ints a field. */
  #bounds = new Int32Array(3 * 64);
  /** Where each doubled quote of a quoted record starts, in order; #escapes of them are set. */
  #doubled = new Int32Array(64);
  #escapes = 0;
  /**
   * Bytes from the start of the first record not yet complete: #heldBytes of them at the start of
   * #buf, a buffer the engine owns (the caller may reuse its own) and reuses, so a chunk costs one
   * copy and no allocation. They are decoded together when scanned, so the text scanned is one
   * flat string: appending a chunk to the decoded rest of the last one would make a
   * concatenation, whose every character access V8 must first resolve (measured here as a fifth
   * of the quoted-record scan).
   */
  #buf = Buffer.allocUnsafe(0);
  #heldBytes = 0;
  /** Whether the text scanned is all one-byte characters, so its byte offsets are its string offsets. */
  #ascii = true;
  /** Physical line on which the held bytes start (during a scan: on which the next record starts). */
  #line = 1;
  /** Stream offset, in bytes, at which the held bytes start (during a scan: past the last record). */
  #offset = 0;
  /**
   * An unfinished record is scanned again from its start when more text comes; waiting until the
   * text has doubled keeps a record spanning many chunks linear to read, not quadratic.
   */
  #rescanAt = 0;

  // The scan in progress. A record with a quote is read by its own call (#quoted), not inline in
  // the loop over the text: V8 optimises a small function after a few hundred calls, where the
  // loop, which runs once per chunk, waits for on-stack replacement and is compiled again at each
  // new path it meets; measured here, that was most of the cost of the first ten megabytes.
  /** The bytes being scanned (their text is the scan's). */
  #bytes: Buffer | undefined;
  /** Whether the text scanned is the end of the input. */
  #end = false;
  /** #scan's next delimiter, quote, LF and CR, handed to and back from #quoted. */
  #nd = -1;
  #nq = -1;
  #nlf = -1;
  #ncr = -1;
  /** The piece fields are sliced from: text[i] is #piece[i - #pieceFrom] for i in [#pieceStart, #pieceTo). */
  #piece = '';
  #pieceFrom = 0;
  #pieceStart = 0;
  #pieceTo = 0;
  /** Of the record just read: its fields, line breaks inside it, whether a line end closed it. */
  #count = 0;
  #breaks = 0;
  #terminated = true;
  /** It is broken, and how. */
  #broken: Scanned['broken'];
  /** The broken-record scan's finders, made once per scan so it too stays linear. */
  #finders: Finders | undefined;

  constructor(options: NormalizedCsvOptions, delimiter: string, records: RecordHandler) {
    this.#records = records;
    this.#max = options.maxRecordBytes;
    this.#delimiter = delimiter;
    this.#quote = options.quote;
    this.#quoteText = options.quote ?? '';
    this.#quoteCode = options.quote === null ? -1 : options.quote.charCodeAt(0);
  }

  parse(bytes: Buffer, end: boolean): void {
    if (bytes.length > 0) this.#append(bytes);
    // Skipping the rescan is only safe while the held text cannot yet be too large: past the
    // limit it may hold complete records, and only the unfinished one may be judged by its size.
    if (!end && this.#heldBytes < this.#rescanAt && this.#heldBytes <= this.#max) return;
    const all = this.#buf.subarray(0, this.#heldBytes);
    const start = this.#offset;
    // Decoded here, not in #scan: a buffer of a map #scan has not seen would send the whole scan
    // back to unoptimised code.
    // Text that is all ASCII, most often, is its bytes one for one: checked at SIMD speed, it is
    // copied out as Latin-1 rather than run through the UTF-8 decoder (measured: a byte's worth
    // of instructions per byte saved, about 1.5% of a narrow file's parse).
    const ascii = isAscii(all);
    const text = all.toString(ascii ? 'latin1' : 'utf8');
    this.#ascii = ascii;
    this.#bytes = all;
    try {
      this.#scan(text, end);
    } finally {
      // Nothing of this text may outlive the scan through the reused array or the piece.
      this.#fields.length = 0;
      this.#piece = '';
      this.#finders = undefined;
      this.#bytes = undefined;
    }
    // The rest, from the first record not complete, moves to the front.
    const done = this.#offset - start;
    const rest = all.length - done;
    if (rest > 0 && done > 0) this.#buf.copyWithin(0, done, all.length);
    this.#heldBytes = rest;
    this.#rescanAt = rest * 2;
    // A buffer grown for one large record is given back once it is mostly empty.
    if (this.#buf.length > 4 * BUFFER && rest * 4 < this.#buf.length) {
      const smaller = Buffer.allocUnsafe(Math.max(BUFFER, 2 * rest));
      this.#buf.copy(smaller, 0, 0, rest);
      this.#buf = smaller;
    }
    // What is held now is the start of one unfinished record: once that alone passes the limit,
    // the whole record will too, whatever chunks bring the rest. Memory stays bounded by it.
    if (rest > this.#max) throw this.#records.tooLarge(this.#line);
  }

  /** Copies `bytes` after the held ones, growing the buffer when they do not fit. */
  #append(bytes: Buffer): void {
    const need = this.#heldBytes + bytes.length;
    if (need > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * this.#buf.length, BUFFER));
      this.#buf.copy(grown, 0, 0, this.#heldBytes);
      this.#buf = grown;
    }
    bytes.copy(this.#buf, this.#heldBytes);
    this.#heldBytes = need;
  }

  #scan(text: string, end: boolean): void {
    const n = text.length;
    const records = this.#records;
    const fields = this.#fields;
    const delimiter = this.#delimiter;
    const dl = delimiter.length;
    const quote = this.#quoteText;
    const wide = this.#ascii ? undefined : new NextWide(text);
    this.#end = end;
    this.#pieceStart = 1;
    this.#pieceTo = 0;
    // The next delimiter, quote, LF and CR at or after where each was last looked for (n: none).
    // Positions only move forward, so a cached one is still the next while it is not behind the
    // point asked about: each occurrence is searched for once, however many fields ask. Lines
    // without a quote, most lines of most files, are read here with them in locals; #quoted takes
    // and gives them back through fields.
    let nd = -1;
    let nq = this.#quoteCode < 0 ? n : -1;
    let nlf = -1;
    let ncr = -1;
    let pos = 0;
    let line = this.#line;
    let offset = this.#offset;
    while (pos < n) {
      if (nlf < pos) nlf = find(text, '\n', pos);
      if (ncr < pos) ncr = find(text, '\r', pos);
      if (nq < pos) nq = find(text, quote, pos);
      const eol = nlf < ncr ? nlf : ncr;
      let after: number;
      let count = 0;
      let breaks = 0;
      let terminated = true;
      let blank = false;
      let broken: Scanned['broken'];
      if (nq >= eol) {
        // No quote before the line end: the line is the record, cut at its delimiters.
        if (eol === n) {
          if (!end) break;
          after = n;
          terminated = false;
        } else if (eol === nlf) after = eol + 1;
        else if (eol + 1 < n) after = text.charCodeAt(eol + 1) === LF ? eol + 2 : eol + 1;
        else {
          // A CR at the end of the chunk may be the first half of a CRLF.
          if (!end) break;
          after = n;
        }
        blank = eol === pos;
        this.#cover(text, pos, eol);
        const piece = this.#piece;
        const base = this.#pieceFrom;
        let from = pos;
        for (;;) {
          if (nd < from) nd = find(text, delimiter, from);
          if (nd >= eol) {
            fields[count++] = piece.slice(from - base, eol - base);
            break;
          }
          fields[count++] = piece.slice(from - base, nd - base);
          from = nd + dl;
        }
      } else {
        this.#nd = nd;
        this.#nq = nq;
        this.#nlf = nlf;
        this.#ncr = ncr;
        after = this.#quoted(text, pos);
        if (after < 0) break;
        nd = this.#nd;
        nq = this.#nq;
        nlf = this.#nlf;
        ncr = this.#ncr;
        count = this.#count;
        breaks = this.#breaks;
        terminated = this.#terminated;
        broken = this.#broken;
      }
      // A record's size in bytes is its length in characters unless it holds one past U+007F.
      const size = wide === undefined || wide.from(pos) >= after ? after - pos : Buffer.byteLength(text.slice(pos, after));
      if (size > this.#max) throw records.tooLarge(line);
      offset += size;
      // The next record's line; at the end of input there is none, and both engines say line + 1.
      const nextLine = line + breaks + 1;
      if (broken === undefined) records.record(fields, line, offset, nextLine, blank, count);
      else records.broken(line, broken.code, broken.column, offset, nextLine);
      line = terminated ? nextLine : line + breaks;
      this.#line = line;
      this.#offset = offset;
      pos = after;
    }
    // Nothing follows the loop: V8 compiles this loop on the stack while it runs, before the code
    // after it has run once, and code compiled so leaves at the first statement it has not seen
    // run, at the end of every later scan too (measured: the whole scan ran unoptimised).
  }

  /** Makes the piece fields are sliced from cover text[pos, to) (see {@link FastEngine}). */
  #cover(text: string, pos: number, to: number): void {
    if (pos >= this.#pieceStart && to <= this.#pieceTo) return;
    const pieceTo = Math.min(text.length, Math.max(to, pos + PIECE));
    if (this.#ascii) {
      // One byte a character: the bytes decode to a flat copy of the text directly.
      this.#piece = this.#bytes!.toString('latin1', pos, pieceTo);
      this.#pieceFrom = pos;
    } else {
      // Prefixing a character makes a concatenation, which V8 copies out on first use.
      this.#piece = ' ' + text.slice(pos, pieceTo);
      this.#pieceFrom = pos - 1;
    }
    this.#pieceStart = pos;
    this.#pieceTo = pieceTo;
  }

  /**
   * A record with a quote. Well-formed ones are read here, noting each field's bounds; at the
   * first sign of a broken one, #scanQuoted reads the record again from its start and reports it
   * exactly as the csv-parse engine does.
   */
  #quoted(text: string, pos: number): number {
    const n = text.length;
    const end = this.#end;
    const q = this.#quoteCode;
    const quote = this.#quoteText;
    const delimiter = this.#delimiter;
    const dl = delimiter.length;
    const d0 = delimiter.charCodeAt(0);
    let bounds: Int32Array = this.#bounds;
    let doubled: Int32Array = this.#doubled;
    let nd = this.#nd;
    let nq = this.#nq;
    let nlf = this.#nlf;
    let ncr = this.#ncr;
    let escapes = 0;
    let count = 0;
    let breaks = 0;
    let after = -1;
    let terminated = true;
    let slow = false;
    for (let i = pos; ; ) {
      if (3 * count + 3 > bounds.length) bounds = this.#growBounds();
      if (i < n && text.charCodeAt(i) === q) {
        // A quoted field: to its closing quote, past doubled ones.
        let k = i + 1;
        let fieldEscapes = 0;
        for (;;) {
          if (nq < k) nq = find(text, quote, k);
          k = nq;
          if (k + 1 >= n) {
            // Not closed yet, or a doubled quote split across chunks: wait for more text.
            if (!end) return -1;
            if (k >= n) slow = true; // never closed
            break;
          }
          if (text.charCodeAt(k + 1) !== q) break;
          if (escapes === doubled.length) doubled = this.#growDoubled();
          doubled[escapes++] = k;
          fieldEscapes++;
          k += 2;
        }
        if (slow) break;
        if (nlf <= i) nlf = find(text, '\n', i + 1);
        if (ncr <= i) ncr = find(text, '\r', i + 1);
        if (nlf < k || ncr < k) breaks += countBreaks(text, i + 1, k);
        bounds[3 * count] = i + 1;
        bounds[3 * count + 1] = k;
        bounds[3 * count + 2] = fieldEscapes;
        count++;
        i = k + 1;
        if (i >= n) {
          after = n;
          terminated = false;
          break;
        }
        const c = text.charCodeAt(i);
        // Most often a delimiter follows; comparing its first character first spares a search.
        if (c === d0 && (dl === 1 || text.startsWith(delimiter, i))) {
          i += dl;
          continue;
        }
        if (c === LF) after = i + 1;
        else if (c === CR) {
          if (i + 1 < n) after = text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
          else if (!end) return -1;
          else after = i + 1;
        } else slow = true; // characters after the closing quote
        break;
      }
      // An unquoted field: up to the next delimiter or line end, with no quote in it.
      if (nd < i) nd = find(text, delimiter, i);
      if (nlf < i) nlf = find(text, '\n', i);
      if (ncr < i) ncr = find(text, '\r', i);
      if (nq < i) nq = find(text, quote, i);
      const lineEnd = nlf < ncr ? nlf : ncr;
      const stop = nd < lineEnd ? nd : lineEnd;
      if (nq < stop) {
        slow = true; // a quote inside an unquoted field
        break;
      }
      if (stop >= n && !end) return -1;
      bounds[3 * count] = i;
      bounds[3 * count + 1] = stop;
      bounds[3 * count + 2] = 0;
      count++;
      if (stop >= n) {
        after = n;
        terminated = false;
        break;
      }
      if (stop === nd) {
        i = nd + dl;
        continue;
      }
      if (stop === nlf) after = stop + 1;
      else if (stop + 1 < n) after = text.charCodeAt(stop + 1) === LF ? stop + 2 : stop + 1;
      else if (!end) return -1;
      else after = stop + 1;
      break;
    }
    this.#nd = nd;
    this.#nq = nq;
    this.#nlf = nlf;
    this.#ncr = ncr;
    if (slow) {
      const scanned = this.#scanQuoted(text, pos, end, (this.#finders ??= finders(text, delimiter, this.#quote)));
      if (scanned === undefined) return -1;
      this.#count = scanned.count;
      this.#breaks = scanned.breaks;
      this.#terminated = scanned.terminated;
      this.#broken = scanned.broken;
      if (scanned.broken !== undefined) return scanned.next;
      ({ count, next: after } = scanned);
      bounds = this.#bounds;
      doubled = this.#doubled;
    } else {
      this.#count = count;
      this.#breaks = breaks;
      this.#terminated = terminated;
      this.#broken = undefined;
    }
    this.#cover(text, pos, after);
    const piece = this.#piece;
    const base = this.#pieceFrom;
    const fields = this.#fields;
    let e = 0;
    for (let f = 0; f < count; f++) {
      const to = bounds[3 * f + 1]! - base;
      let from = bounds[3 * f]! - base;
      let fieldEscapes = bounds[3 * f + 2]!;
      if (fieldEscapes === 0) {
        fields[f] = piece.slice(from, to);
        continue;
      }
      // Each doubled quote becomes one: the field is the pieces between them, joined.
      let value = '';
      for (; fieldEscapes > 0; fieldEscapes--) {
        const at = doubled[e++]! - base;
        value += piece.slice(from, at + 1);
        from = at + 2;
      }
      fields[f] = value + piece.slice(from, to);
    }
    return after;
  }

  #growBounds(): Int32Array {
    const grown = new Int32Array(this.#bounds.length * 2);
    grown.set(this.#bounds);
    return (this.#bounds = grown);
  }

  #growDoubled(): Int32Array {
    const grown = new Int32Array(this.#doubled.length * 2);
    grown.set(this.#doubled);
    return (this.#doubled = grown);
  }

  /** Notes a doubled quote at `at` in the quoted record being scanned. */
  #escape(at: number): void {
    if (this.#escapes === this.#doubled.length) {
      const grown = new Int32Array(this.#doubled.length * 2);
      grown.set(this.#doubled);
      this.#doubled = grown;
    }
    this.#doubled[this.#escapes++] = at;
  }

  /** Notes field `index` as text[from, to), holding `escapes` doubled quotes. */
  #bound(index: number, from: number, to: number, escapes: number): void {
    let bounds: Int32Array = this.#bounds;
    if (3 * index + 3 > bounds.length) {
      const grown = new Int32Array(bounds.length * 2);
      grown.set(bounds);
      this.#bounds = bounds = grown;
    }
    bounds[3 * index] = from;
    bounds[3 * index + 1] = to;
    bounds[3 * index + 2] = escapes;
  }

  /**
   * Scans one record that holds a quote, from `start`, noting its fields' bounds. Returns
   * `undefined` when the record may continue past the end of the text (more input will come).
   */
  #scanQuoted(text: string, start: number, end: boolean, next: Finders): Scanned | undefined {
    const n = text.length;
    const q = this.#quoteCode;
    const dl = this.#delimiter.length;
    const d0 = this.#delimiter.charCodeAt(0);
    let count = 0;
    let breaks = 0;
    let broken: Scanned['broken'];
    let i = start;
    this.#escapes = 0;
    for (;;) {
      // At the start of a field.
      let from = i;
      if (i < n && text.charCodeAt(i) === q) {
        let segment = i + 1;
        let escapes = 0;
        for (;;) {
          const k = next.quote.from(segment);
          if (k >= n) {
            if (!end) return undefined;
            // Never closed: the rest of the input is this record.
            breaks += countBreaks(text, i + 1, n);
            broken ??= { code: 'CSV_QUOTE_NOT_CLOSED', column: count };
            return { count, next: n, breaks, terminated: false, broken };
          }
          if (k + 1 >= n && !end) return undefined; // a doubled quote may be split across chunks
          if (k + 1 < n && text.charCodeAt(k + 1) === q) {
            this.#escape(k);
            escapes++;
            segment = k + 2;
            continue;
          }
          if (next.lf.from(i + 1) < k || next.cr.from(i + 1) < k) breaks += countBreaks(text, i + 1, k);
          this.#bound(count, i + 1, k, escapes);
          i = k + 1;
          break;
        }
        if (i >= n) {
          count++;
          return { count, next: n, breaks, terminated: false, broken };
        }
        const c = text.charCodeAt(i);
        // Most often a delimiter follows; comparing its first character first spares a search.
        if (c === d0 && (dl === 1 || text.startsWith(this.#delimiter, i))) {
          count++;
          i += dl;
          continue;
        }
        if (c === LF || c === CR) {
          count++;
          return this.#terminate(text, i, count, breaks, broken, end);
        }
        // Characters after the closing quote: the record is broken (its fields are not used);
        // read on to its line end.
        broken ??= { code: 'CSV_INVALID_CLOSING_QUOTE', column: count };
        from = i;
      }
      // An unquoted field, or the rest of a broken one: up to the next delimiter or line end.
      for (;;) {
        const d = next.delimiter.from(i);
        const lf = next.lf.from(i);
        const cr = next.cr.from(i);
        let stop = d < lf ? d : lf;
        if (cr < stop) stop = cr;
        const qa = next.quote.from(i);
        if (qa < stop) {
          // A quote inside an unquoted field is content, but the record is broken.
          broken ??= { code: 'INVALID_OPENING_QUOTE', column: count };
          i = qa + 1;
          continue;
        }
        if (stop >= n) {
          if (!end) return undefined;
          if (broken === undefined) this.#bound(count, from, n, 0);
          count++;
          return { count, next: n, breaks, terminated: false, broken };
        }
        if (broken === undefined) this.#bound(count, from, stop, 0);
        count++;
        if (stop === d) {
          i = d + dl;
          break;
        }
        return this.#terminate(text, stop, count, breaks, broken, end);
      }
    }
  }

  #terminate(text: string, at: number, count: number, breaks: number, broken: Scanned['broken'], end: boolean): Scanned | undefined {
    if (text.charCodeAt(at) === LF) return { count, next: at + 1, breaks, terminated: true, broken };
    if (at + 1 < text.length) return { count, next: text.charCodeAt(at + 1) === LF ? at + 2 : at + 1, breaks, terminated: true, broken };
    if (!end) return undefined;
    return { count, next: at + 1, breaks, terminated: true, broken };
  }
}

/** Where the next delimiter, quote, CR and LF are. */
interface Finders {
  delimiter: NextOf;
  quote: NextOf;
  cr: NextOf;
  lf: NextOf;
}

/**
 * The next position of a string in a text at or after a point, remembered: scanning forward,
 * each occurrence is searched for once, however many lines ask. The text's length means none.
 */
class NextOf {
  readonly #text: string;
  readonly #what: string | null;
  #at = -1;

  constructor(text: string, what: string | null) {
    this.#text = text;
    this.#what = what;
    if (what === null) this.#at = text.length;
  }

  from(i: number): number {
    if (this.#at < i) {
      const at = this.#text.indexOf(this.#what!, i);
      this.#at = at === -1 ? this.#text.length : at;
    }
    return this.#at;
  }
}

/**
 * The next character past U+007F at or after a point, remembered like {@link NextOf}: in text
 * that is not all ASCII, most records often still are, and their size in bytes is their length.
 */
class NextWide {
  readonly #text: string;
  readonly #search = /[^\0-\x7f]/g;
  #at = -1;

  constructor(text: string) {
    this.#text = text;
  }

  from(i: number): number {
    if (this.#at < i) {
      // test, not exec: exec allocates a match array per call, once per record in text where most
      // records hold a wide character (measured: 100 bytes a row, 5% of an import's allocations).
      // The pattern matches one UTF-16 unit, so the match starts one before lastIndex.
      this.#search.lastIndex = i;
      this.#at = this.#search.test(this.#text) ? this.#search.lastIndex - 1 : this.#text.length;
    }
    return this.#at;
  }
}

function finders(text: string, delimiter: string, quote: string | null): Finders {
  return { delimiter: new NextOf(text, delimiter), quote: new NextOf(text, quote), cr: new NextOf(text, '\r'), lf: new NextOf(text, '\n') };
}

/** Where `what` next occurs in `text` at or after `from`; the text's length when it does not. */
function find(text: string, what: string, from: number): number {
  const at = text.indexOf(what, from);
  return at === -1 ? text.length : at;
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
