import { SNIFFED_DELIMITERS } from './options.js';

const CR = 0x0d;
const LF = 0x0a;

/**
 * Index just past the first line break outside quotes, or -1 when `bytes` holds no whole line yet.
 * @internal
 */
export function endOfFirstLine(bytes: Uint8Array, quote: number): number {
  let quoted = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === quote) quoted = !quoted;
    else if (!quoted && (b === LF || b === CR)) return i + 1;
  }
  return -1;
}

/**
 * Picks the delimiter of a header line: the candidate of `, ; \t |` that occurs most often
 * outside quotes. Ties and a line with none of them go to the comma.
 */
export function sniffDelimiter(firstLine: Uint8Array, quote: string | null): string {
  const quoteByte = quote === null ? -1 : quote.charCodeAt(0);
  const counts = new Map<number, number>();
  let quoted = false;
  for (let i = 0; i < firstLine.length; i++) {
    const b = firstLine[i]!;
    if (b === quoteByte) quoted = !quoted;
    else if (!quoted) {
      if (b === LF || b === CR) break;
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
  }
  let best: string = ',';
  let bestCount = 0;
  for (const d of SNIFFED_DELIMITERS) {
    const c = counts.get(d.charCodeAt(0)) ?? 0;
    if (c > bestCount) {
      best = d;
      bestCount = c;
    }
  }
  return best;
}
