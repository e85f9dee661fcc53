import type { NormalizedCsvOptions } from '../csv/options.js';
import { CsvReader } from '../csv/reader.js';
import { RecordHandler } from '../csv/records.js';
import { IngestError, IngestErrorCode } from '../errors.js';
import { lineStart, RecordBoundaries } from './boundaries.js';
import { isScanSafeCharset } from './options.js';

/** Bytes the head reader parses at a time. */
const HEAD_SLICE = 64 * 1024;

/** Whole records from `offset` in the source, the first starting on physical line `line`. @internal */
export interface SourceRange {
  offset: number;
  line: number;
  /** A copy of its own (its buffer can be transferred to a worker). */
  bytes: Uint8Array;
}

/** What the main thread learns from the start of the file before handing anything out. @internal */
export interface CsvHead {
  charset: string;
  delimiter: string;
  header: readonly string[];
}

/**
 * Reads the start of the input with the one-thread reader (binary check, charset, delimiter
 * sniffing, header checks: the same errors at the same moment) until the first data row shows
 * where data starts. The rows it parses on the way are only looked at for their line: the workers
 * read them again.
 * @internal
 */
export class HeadReader {
  readonly #reader: CsvReader;
  readonly #held: Buffer[] = [];
  #heldBytes = 0;
  #firstLine: number | undefined;
  #header: readonly string[] | undefined;

  constructor(csv: NormalizedCsvOptions, onHeader: (columns: readonly string[]) => void) {
    const first = (line: number): void => {
      this.#firstLine ??= line;
    };
    this.#reader = new CsvReader(csv, {
      record: (r) => first(r.line),
      failure: (f) => first(f.line),
      skip: (line) => first(line),
      header: (columns) => {
        this.#header = columns;
        onHeader(columns);
      },
    });
  }

  /** Feeds the next chunk; returns the head and the held bytes from where data starts once known. */
  write(chunk: Buffer): { head: CsvHead; rest: Buffer; dataOffset: number; dataLine: number } | undefined {
    // A slice at a time: a source that hands over the whole file as one chunk must not have this
    // thread parse all of it.
    for (let at = 0; at < chunk.length; at += HEAD_SLICE) {
      const slice = chunk.subarray(at, at + HEAD_SLICE);
      this.#held.push(slice);
      this.#heldBytes += slice.length;
      this.#reader.write(slice);
      const found = this.#done();
      if (found !== undefined) {
        const unread = chunk.subarray(at + slice.length);
        return unread.length === 0 ? found : { ...found, rest: Buffer.concat([found.rest, unread]) };
      }
    }
    return undefined;
  }

  /** The input ended within the head; `rest` is empty when it held no data row. */
  end(): { head: CsvHead; rest: Buffer; dataOffset: number; dataLine: number } {
    this.#reader.end();
    return this.#done() ?? { head: this.#head(), rest: Buffer.alloc(0), dataOffset: this.#heldBytes, dataLine: 0 };
  }

  #head(): CsvHead {
    const charset = this.#reader.charset ?? 'utf8';
    if (!isScanSafeCharset(charset)) {
      throw new IngestError(
        IngestErrorCode.E_OPTIONS,
        `Option "workers" cannot read this file: its charset is ${charset}, and record ends are found in the source bytes, which needs UTF-8 or a one-byte charset. Run without workers. Nothing was written.`,
        { option: 'workers' },
      );
    }
    return { charset, delimiter: this.#reader.delimiter ?? ',', header: this.#header ?? [] };
  }

  #done(): { head: CsvHead; rest: Buffer; dataOffset: number; dataLine: number } | undefined {
    const line = this.#firstLine;
    if (line === undefined || this.#header === undefined) return undefined;
    const head = this.#head();
    const joined = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held);
    const at = lineStart(joined, line);
    if (at === undefined) throw new IngestError(IngestErrorCode.E_INTERNAL, `Could not find where line ${line} starts.`);
    this.#held.length = 0;
    return { head, rest: joined.subarray(at), dataOffset: at, dataLine: line };
  }
}

/**
 * Cuts the input after the header into ranges of whole records of about `rangeBytes`, with the
 * line each starts on. Holds at most one range plus one unfinished record: a record whose bytes
 * alone pass `csv.maxRecordBytes` ends the import with `E_ROW_TOO_LARGE`, as with one thread (its
 * UTF-8 can only be larger than its source bytes).
 * @internal
 */
export class RangeSplitter {
  readonly #scan: RecordBoundaries;
  readonly #rangeBytes: number;
  readonly #csv: NormalizedCsvOptions;
  #held: Buffer[] = [];
  /** Source offset of the first held byte, and its line. */
  #from: number;
  #fromLine: number;
  #total: number;

  constructor(csv: NormalizedCsvOptions, head: CsvHead, offset: number, line: number, rangeBytes: number) {
    this.#csv = csv;
    const quote = csv.quote === null ? -1 : csv.quote.charCodeAt(0);
    this.#scan = new RecordBoundaries(quote, head.delimiter.charCodeAt(0), offset, line);
    this.#rangeBytes = rangeBytes;
    this.#from = offset;
    this.#fromLine = line;
    this.#total = offset;
  }

  /** The ranges the next chunk completes (several when the chunk is larger than a range). */
  push(chunk: Buffer): SourceRange[] {
    const ranges: SourceRange[] = [];
    const scan = this.#scan;
    for (let at = 0; at < chunk.length; at += this.#rangeBytes) {
      const slice = chunk.subarray(at, at + this.#rangeBytes);
      this.#held.push(slice);
      this.#total += slice.length;
      scan.scan(slice);
      if (this.#total - scan.lastEnd > this.#csv.maxRecordBytes) {
        throw new RecordHandler(this.#csv, { record() {}, failure() {}, skip() {} }, () => undefined).tooLarge(scan.lastEndLine);
      }
      if (scan.lastEnd - this.#from >= this.#rangeBytes) ranges.push(this.#cut(scan.lastEnd, scan.lastEndLine));
    }
    return ranges;
  }

  /** The rest, at the end of input. */
  end(): SourceRange[] {
    this.#scan.finish();
    if (this.#total === this.#from) return [];
    return [this.#cut(this.#total, 0)];
  }

  #cut(to: number, nextLine: number): SourceRange {
    const size = to - this.#from;
    const bytes = new Uint8Array(size);
    let filled = 0;
    const kept: Buffer[] = [];
    let pos = this.#from;
    for (const chunk of this.#held) {
      const chunkEnd = pos + chunk.length;
      if (filled < size) {
        const take = Math.min(chunk.length, size - filled);
        bytes.set(take === chunk.length ? chunk : chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.length) kept.push(chunk.subarray(take));
      } else kept.push(chunk);
      pos = chunkEnd;
    }
    const range = { offset: this.#from, line: this.#fromLine, bytes };
    this.#held = kept;
    this.#from = to;
    this.#fromLine = nextLine;
    return range;
  }
}
