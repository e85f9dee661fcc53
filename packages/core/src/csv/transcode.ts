import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
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
}

const EMPTY = Buffer.alloc(0);
/** How much of the input `encoding: 'auto'` looks at before choosing between UTF-8 and windows-1252. */
const SNIFF_BYTES = 64 * 1024;

/**
 * Drops a UTF-8 BOM and passes every other byte through undecoded: the parser reads UTF-8 bytes
 * directly, so the common case costs no decoding, only a validity check.
 */
function utf8Passthrough(): Transcoder {
  let head: Buffer | undefined = EMPTY;
  const checker = new Utf8Checker();
  const settle = (bytes: Buffer): Buffer => {
    head = undefined;
    return checker.write(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes);
  };
  return {
    charset: 'utf8',
    invalid: checker.invalid,
    write(chunk) {
      if (head === undefined) return checker.write(chunk);
      const bytes = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      // A BOM split across 1-byte chunks must still be recognised.
      if (bytes.length < 3 && isBomPrefix(bytes)) {
        head = bytes;
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
function iconvTranscoder(charset: string): Transcoder {
  const decoder = iconv.getDecoder(charset);
  return {
    charset,
    invalid: undefined,
    write: (chunk) => Buffer.from(decoder.write(chunk), 'utf8'),
    end: () => Buffer.from(decoder.end() ?? '', 'utf8'),
  };
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
    chosen = charset === 'utf8' ? utf8Passthrough() : iconvTranscoder(charset);
    return chosen.write(sample);
  };
  return {
    get charset() {
      return chosen?.charset;
    },
    get invalid() {
      return chosen?.invalid;
    },
    write(chunk) {
      if (chosen) return chosen.write(chunk);
      held.push(chunk);
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
export function createTranscoder(encoding: string): Transcoder {
  if (encoding === 'auto') return autoTranscoder();
  if (encoding === 'utf8') return utf8Passthrough();
  return iconvTranscoder(encoding);
}
