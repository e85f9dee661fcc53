import { IngestError, IngestErrorCode } from '../errors.js';
import { detectBinary, SIGNATURE_BYTES } from './binary.js';
import { CsvParseEngine } from './csv-parse-engine.js';
import type { CsvEngine } from './engine.js';
import { FastEngine } from './fast-engine.js';
import type { NormalizedCsvOptions } from './options.js';
import { RecordHandler, type CsvReaderCallbacks } from './records.js';
import { endOfFirstLine, sniffDelimiter } from './sniff.js';
import { createTranscoder, type Transcoder } from './transcode.js';

/**
 * Where a resumed import starts reading, and the settings its first run found: a checkpoint
 * restores them rather than sniffing mid-file. @internal
 */
export interface CsvStart {
  /** Source offset of the first byte to read. */
  offset: number;
  /** Physical line on which that byte is. */
  line: number;
  charset: string;
  delimiter: string;
  header: readonly string[];
}

/** How much `delimiter: 'auto'` reads looking for the end of the header line. */
const SNIFF_LIMIT = 64 * 1024;

/**
 * Bytes in, records with their line numbers out: the CSV logic with no stream attached.
 *
 * The reader does what is the same for every engine: it refuses binary files by their first
 * bytes, turns any charset into checked UTF-8, holds the start of the input until `delimiter:
 * 'auto'` can see the header line, and hands the bytes to the engine (`csv.engine`), whose
 * records go through one {@link RecordHandler}.
 *
 * Throws {@link IngestError} for input that ends the import; row problems go to `failure`.
 * @internal
 */
export class CsvReader {
  readonly #options: NormalizedCsvOptions;
  readonly #transcoder: Transcoder;
  readonly #records: RecordHandler;
  #engine: CsvEngine | undefined;
  /** Bytes held while `delimiter: 'auto'` waits for the end of the header line. */
  #delimiterHeld: Buffer[] | undefined;
  #delimiterHeldBytes = 0;
  #ended = false;
  /** The first bytes, held until there are enough to recognise a binary file. */
  #head: Buffer | undefined = Buffer.alloc(0);

  constructor(options: NormalizedCsvOptions, out: CsvReaderCallbacks, start?: CsvStart) {
    if (start !== undefined) {
      // Mid-file: the settings of the first run, the header as columns, and no binary check.
      options = { ...options, encoding: start.charset, delimiter: start.delimiter, columns: [...start.header] };
      this.#head = undefined;
    }
    this.#options = options;
    this.#transcoder = createTranscoder(options.encoding, { offset: start?.offset ?? 0 });
    const transcoder = this.#transcoder;
    this.#records = new RecordHandler(options, out, () => transcoder.invalid, () => transcoder.positions, start === undefined ? 0 : start.line - 1);
    if (options.delimiter === 'auto') this.#delimiterHeld = [];
    else this.#engine = this.#createEngine(options.delimiter);
  }

  /** The column names, once the header has been read. */
  get header(): readonly string[] | undefined {
    return this.#records.header;
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
        // Held across writes, so a copy: the caller may reuse its buffer once a write returns.
        this.#head = Buffer.from(chunk);
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
    this.#feed(this.#transcoder.end(), true);
    this.#records.finish();
  }

  #createEngine(delimiter: string): CsvEngine {
    this.delimiter = delimiter;
    return this.#options.engine === 'fast'
      ? new FastEngine(this.#options, delimiter, this.#records)
      : new CsvParseEngine(this.#options, delimiter, this.#records);
  }

  #rejectBinary(head: Buffer): void {
    const what = detectBinary(head);
    if (what !== undefined) {
      throw new IngestError(IngestErrorCode.E_CSV_MALFORMED, `The input is not CSV text: it starts like ${what}.`, { line: 1 });
    }
  }

  #feed(bytes: Buffer, end: boolean): void {
    if (this.#engine === undefined) {
      const held = this.#delimiterHeld!;
      // Held across writes, so a copy: the caller may reuse its buffer once a write returns.
      if (bytes.length > 0) held.push(Buffer.from(bytes));
      this.#delimiterHeldBytes += bytes.length;
      const joined = held.length === 1 ? held[0]! : Buffer.concat(held);
      const start = firstNonBlank(joined);
      const quote = this.#options.quote === null ? -1 : this.#options.quote.charCodeAt(0);
      if (!end && this.#delimiterHeldBytes < SNIFF_LIMIT && endOfFirstLine(joined.subarray(start), quote) === -1) {
        if (held.length > 1) held.splice(0, held.length, joined);
        return;
      }
      this.#delimiterHeld = undefined;
      this.#engine = this.#createEngine(sniffDelimiter(joined.subarray(start), this.#options.quote));
      bytes = joined;
    }
    this.#engine.parse(bytes, end);
  }
}

/** Offset of the first byte that is not a line break, so leading blank lines do not hide the header. */
function firstNonBlank(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return i;
}
