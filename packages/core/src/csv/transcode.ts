import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import { DecodedPositions, Utf8Positions, type SourcePositions } from './positions.js';
import { Utf8Checker } from './utf8-check.js';

/** Turns input bytes of one charset into UTF-8 bytes, chunk by chunk. @internal */
export interface Transcoder {
  /** UTF-8 bytes ready so far; may be empty while the charset is still being sniffed. */
  write(chunk: Buffer): Buffer;
  /** The bytes held back at the end of input. */
  end(): Buffer;
  /** The charset in use, once known. */
  readonly charset: string | undefined;
  /**
   * For UTF-8 input: offsets in the output where bytes that are not UTF-8 start, oldest first.
   * The reader fails the rows that hold them, rather than writing U+FFFD in their place.
   */
  readonly invalid: number[] | undefined;
  /**
   * Maps offsets of the UTF-8 output back to offsets in the source, once the charset is known;
   * undefined for charsets whose characters have no fixed width (Shift_JIS, GBK, ...).
   */
  readonly positions: SourcePositions | undefined;
}

/** Where the transcoder's input starts in the source: 0, or a checkpoint's offset. @internal */
export interface TranscoderStart {
  offset: number;
}

const EMPTY = Buffer.alloc(0);
/** How much of the input `encoding: 'auto'` looks at before choosing between UTF-8 and windows-1252. */
const SNIFF_BYTES = 64 * 1024;

/**
 * Drops a UTF-8 BOM and passes every other byte through undecoded: the parser reads UTF-8 bytes
 * directly, so the common case costs no decoding, only a validity check.
 */
function utf8Passthrough(start: number): Transcoder {
  // Only the start of a file can hold a BOM; mid-file, EF BB BF is a character like any other.
  let head: Buffer | undefined = start === 0 ? EMPTY : undefined;
  const checker = new Utf8Checker();
  const positions = new Utf8Positions(start, checker.replaced);
  const settle = (bytes: Buffer): Buffer => {
    head = undefined;
    const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
    if (bom) positions.skip(3);
    return checker.write(bom ? bytes.subarray(3) : bytes);
  };
  return {
    charset: 'utf8',
    invalid: checker.invalid,
    positions,
    write(chunk) {
      if (head === undefined) return checker.write(chunk);
      const bytes = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      // A BOM split across 1-byte chunks must still be recognised.
      if (bytes.length < 3 && isBomPrefix(bytes)) {
        head = Buffer.from(bytes); // held across writes: the caller may reuse its buffer
        return EMPTY;
      }
      return settle(bytes);
    },
    end() {
      const last = head === undefined ? EMPTY : settle(head);
      const tail = checker.end();
      return tail.length === 0 ? last : Buffer.concat([last, tail]);
    },
  };
}

function isBomPrefix(bytes: Buffer): boolean {
  const bom = [0xef, 0xbb, 0xbf];
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== bom[i]) return false;
  return true;
}

/** Decodes with iconv-lite (which keeps state for characters split across chunks) and re-encodes as UTF-8. */
function iconvTranscoder(charset: string, start: number): Transcoder {
  // The BOM is dropped here rather than by iconv-lite, so the positions know it was there.
  const decoder = iconv.getDecoder(charset, { stripBOM: false });
  const unit = charUnit(charset);
  const positions = unit === undefined ? undefined : new DecodedPositions(start, unit);
  let first = start === 0;
  const out = (text: string): Buffer => {
    if (first && text.length > 0) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
        positions?.skip(unit === 2 ? 2 : 3);
      }
    }
    const bytes = Buffer.from(text, 'utf8');
    positions?.push(bytes);
    return bytes;
  };
  return {
    charset,
    invalid: undefined,
    positions,
    write: (chunk) => out(decoder.write(chunk)),
    end: () => out(decoder.end() ?? ''),
  };
}

/**
 * Source bytes per UTF-16 code unit of a charset: 2 for UTF-16, 1 for a single-byte charset
 * (every byte one character, so 256 bytes decode to 256 characters), undefined otherwise.
 * @internal
 */
export function charUnit(charset: string): 1 | 2 | undefined {
  const l = charset.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (l === 'utf16le' || l === 'utf16be' || l === 'utf16' || l === 'ucs2') return 2;
  if (l.startsWith('utf') || l.startsWith('ucs')) return undefined;
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  return iconv.decode(all, charset, { stripBOM: false }).length === 256 ? 1 : undefined;
}

/** True when `bytes` is UTF-8, allowing the last character to be cut off by the sample's end. */
function looksLikeUtf8(bytes: Buffer, complete: boolean): boolean {
  if (isUtf8(bytes)) return true;
  if (complete) return false;
  for (let cut = 1; cut <= 3 && cut < bytes.length; cut++) {
    if (isUtf8(bytes.subarray(0, bytes.length - cut))) return true;
  }
  return false;
}

/** Chooses the charset from a BOM or, without one, from whether the sample is valid UTF-8. */
export function sniffCharset(sample: Buffer, complete: boolean): string {
  if (sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf) return 'utf8';
  if (sample[0] === 0xff && sample[1] === 0xfe) return 'utf-16le';
  if (sample[0] === 0xfe && sample[1] === 0xff) return 'utf-16be';
  return looksLikeUtf8(sample, complete) ? 'utf8' : 'windows-1252';
}

/** Holds input back until {@link sniffCharset} can decide, then hands over to the chosen transcoder. */
function autoTranscoder(): Transcoder {
  const held: Buffer[] = [];
  let heldBytes = 0;
  let chosen: Transcoder | undefined;
  const choose = (complete: boolean): Buffer => {
    const sample = Buffer.concat(held);
    held.length = 0;
    const charset = sniffCharset(sample, complete);
    chosen = charset === 'utf8' ? utf8Passthrough(0) : iconvTranscoder(charset, 0);
    return chosen.write(sample);
  };
  return {
    get charset() {
      return chosen?.charset;
    },
    get invalid() {
      return chosen?.invalid;
    },
    get positions() {
      return chosen?.positions;
    },
    write(chunk) {
      if (chosen) return chosen.write(chunk);
      held.push(Buffer.from(chunk)); // held across writes: the caller may reuse its buffer
      heldBytes += chunk.length;
      return heldBytes >= SNIFF_BYTES ? choose(false) : EMPTY;
    },
    end() {
      if (!chosen) {
        const head = choose(true);
        const tail = chosen!.end();
        return tail.length === 0 ? head : Buffer.concat([head, tail]);
      }
      return chosen.end();
    },
  };
}

/** The transcoder for a normalized `csv.encoding`. @internal */
export function createTranscoder(encoding: string, start: TranscoderStart = { offset: 0 }): Transcoder {
  // 'auto' sniffs the start of the file; a resumed import passes the charset its checkpoint found.
  if (encoding === 'auto') return autoTranscoder();
  if (encoding === 'utf8') return utf8Passthrough(start.offset);
  return iconvTranscoder(encoding, start.offset);
}
