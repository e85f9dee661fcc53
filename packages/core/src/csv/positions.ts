/**
 * Maps offsets in the UTF-8 stream the engines read back to offsets in the source's own bytes,
 * so a checkpoint can say where, in the file, the next record starts. Offsets are asked for in
 * increasing order (records come in file order), which keeps every mapper O(bytes) overall.
 * @internal
 */
export interface SourcePositions {
  /** The source offset of UTF-8 stream offset `out`; `out` never decreases between calls. */
  at(out: number): number;
}

/**
 * UTF-8 read as UTF-8: the same bytes, except that each byte that is not UTF-8 became U+FFFD
 * (three bytes) in the stream. `replaced` is where those replacements start in the stream.
 * @internal
 */
export class Utf8Positions implements SourcePositions {
  #base: number;
  #replaced: number[];
  #seen = 0;

  constructor(base: number, replaced: number[]) {
    this.#base = base;
    this.#replaced = replaced;
  }

  /** A BOM was dropped before the stream started. */
  skip(bytes: number): void {
    this.#base += bytes;
  }

  at(out: number): number {
    const r = this.#replaced;
    // The common case, a valid file: the list is empty and this is one comparison.
    if (r.length > 0) {
      while (this.#seen < r.length && r[this.#seen]! < out) this.#seen++;
      if (this.#seen > 1024) {
        r.splice(0, this.#seen);
        this.#base -= 2 * this.#seen;
        this.#seen = 0;
      }
    }
    return this.#base + out - 2 * this.#seen;
  }
}

/**
 * A charset decoded by iconv-lite and re-encoded as UTF-8. The UTF-8 bytes of each stretch are
 * walked once: in a single-byte charset each character was one source byte; in UTF-16 each was
 * one code unit (two bytes), or two for a character outside the BMP (a 4-byte UTF-8 sequence).
 * Only the stream bytes not yet mapped are kept.
 * @internal
 */
export class DecodedPositions implements SourcePositions {
  readonly #unit: number;
  #src: number;
  #out = 0;
  readonly #chunks: Buffer[] = [];
  /** Offset inside #chunks[0] that #out stands at. */
  #inChunk = 0;

  constructor(base: number, unit: 1 | 2) {
    this.#src = base;
    this.#unit = unit;
  }

  /** A BOM was dropped by the decoder. */
  skip(bytes: number): void {
    this.#src += bytes;
  }

  /** UTF-8 bytes the transcoder produced, in order. */
  push(bytes: Buffer): void {
    if (bytes.length > 0) this.#chunks.push(bytes);
  }

  at(out: number): number {
    const unit = this.#unit;
    while (this.#out < out && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const stop = Math.min(chunk.length, this.#inChunk + (out - this.#out));
      let src = this.#src;
      for (let i = this.#inChunk; i < stop; i++) {
        const b = chunk[i]!;
        if ((b & 0xc0) !== 0x80) src += b >= 0xf0 ? 2 * unit : unit;
      }
      this.#src = src;
      this.#out += stop - this.#inChunk;
      if (stop === chunk.length) {
        this.#chunks.shift();
        this.#inChunk = 0;
      } else this.#inChunk = stop;
    }
    return this.#src;
  }
}
