import { isUtf8 } from 'node:buffer';

/**
 * Length of a UTF-8 sequence cut off by the end of `bytes` (0 when the last character is whole):
 * the bytes to hold back until the next chunk completes it.
 * @internal
 */
function incompleteTail(bytes: Uint8Array): number {
  const end = bytes.length;
  for (let back = 1; back <= 3 && back <= end; back++) {
    const b = bytes[end - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: the lead is further back
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * Offsets in `bytes` where a byte sequence that is not UTF-8 starts (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). Called only for the rare chunk `isUtf8` refuses.
 * @internal
 */
export function invalidUtf8Offsets(bytes: Uint8Array): number[] {
  const bad: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else {
      bad.push(i++);
      continue;
    }
    let ok = true;
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) ok = false;
    }
    if (ok) i += need + 1;
    else bad.push(i++);
  }
  return bad;
}

/**
 * Checks a UTF-8 byte stream chunk by chunk without decoding it: `write` returns the bytes that
 * are complete, with each byte that is not part of a valid sequence replaced by U+FFFD (EF BF BD),
 * and notes where each replacement starts, as an offset in the output stream, in `invalid`
 * (ascending). The output is always valid UTF-8, so its length in bytes is what any decoder and
 * `Buffer.byteLength` agree on; valid chunks pass untouched at the cost of one `isUtf8` call,
 * which is SIMD in Node.js.
 * @internal
 */
export class Utf8Checker {
  /** Stream offsets where an invalid sequence starts, oldest first; the reader consumes them. */
  readonly invalid: number[] = [];
  /** The same offsets, for mapping stream offsets back to the source (consumed separately). */
  readonly replaced: number[] = [];
  #carry: Buffer | undefined;
  #offset = 0;

  write(chunk: Buffer): Buffer {
    const bytes = this.#carry === undefined ? chunk : Buffer.concat([this.#carry, chunk]);
    this.#carry = undefined;
    const cut = incompleteTail(bytes);
    const body = cut === 0 ? bytes : bytes.subarray(0, bytes.length - cut);
    if (cut > 0) this.#carry = Buffer.from(bytes.subarray(bytes.length - cut));
    const out = isUtf8(body) ? body : this.#replace(body, invalidUtf8Offsets(body));
    this.#offset += out.length;
    return out;
  }

  /** `bytes` with each invalid byte replaced by U+FFFD, noting where each replacement lands. */
  #replace(bytes: Buffer, bad: number[]): Buffer {
    const out = Buffer.allocUnsafe(bytes.length + 2 * bad.length);
    let from = 0;
    let to = 0;
    for (const at of bad) {
      to += bytes.copy(out, to, from, at);
      this.invalid.push(this.#offset + to);
      this.replaced.push(this.#offset + to);
      out[to++] = 0xef;
      out[to++] = 0xbf;
      out[to++] = 0xbd;
      from = at + 1;
    }
    bytes.copy(out, to, from);
    return out;
  }

  /** The held bytes at the end of input: a character cut off by the end of the file is invalid. */
  end(): Buffer {
    const tail = this.#carry ?? Buffer.alloc(0);
    this.#carry = undefined;
    const out = this.#replace(tail, [...tail.keys()]);
    this.#offset += out.length;
    return out;
  }
}
