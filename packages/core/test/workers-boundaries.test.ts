import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { normalizeCsvOptions } from '../src/csv/options.js';
import { CsvReader } from '../src/csv/reader.js';
import { lineStart, RecordBoundaries } from '../src/workers/boundaries.js';
import { RangeLedger } from '../src/workers/ledger.js';
import { RangeSplitter } from '../src/workers/split.js';

/** Record ends and next lines as an engine reads them: every record, failure and skip. */
function engineEnds(input: Buffer, engine: 'fast' | 'csv-parse', delimiter: string): { end: number; nextLine: number }[] {
  const out: { end: number; nextLine: number }[] = [];
  const reader = new CsvReader(normalizeCsvOptions({ engine, delimiter, columns: ['a', 'b', 'c'], maxRecordBytes: 1 << 20 }), {
    record: (r) => out.push({ end: r.end, nextLine: r.nextLine }),
    failure: (_f, _v, end, nextLine) => out.push({ end: end!, nextLine: nextLine! }),
    skip: (_line, end, nextLine) => out.push({ end: end!, nextLine: nextLine! }),
  });
  reader.write(input);
  reader.end();
  return out;
}

/** The same from the boundary scanner, fed in the given pieces; the input's end closes the last record. */
function scannerEnds(input: Buffer, pieces: number[], delimiter: string): { end: number; nextLine: number }[] {
  const scan = new RecordBoundaries(0x22, delimiter.charCodeAt(0), 0, 1);
  const out: { end: number; nextLine: number }[] = [];
  let last = 0;
  const note = (): void => {
    if (scan.lastEnd !== last) {
      out.push({ end: scan.lastEnd, nextLine: scan.lastEndLine });
      last = scan.lastEnd;
    }
  };
  // One byte at a time (pieces of 1) shows every end; larger pieces show the last end of each.
  let at = 0;
  for (const size of pieces) {
    if (at >= input.length) break;
    scan.scan(input.subarray(at, at + size));
    at += size;
    note();
  }
  if (at < input.length) scan.scan(input.subarray(at));
  note();
  scan.finish();
  note();
  return out;
}

const PIECE = fc.constantFrom('a', 'bc', ',', ';', '"', '""', '\n', '\r', '\r\n', 'é', '😀', ' ');
const INPUT = fc.array(PIECE, { maxLength: 60 }).map((p) => Buffer.from(p.join('')));

describe('RecordBoundaries', () => {
  it('finds the same record ends and lines as both engines, for any text, however it is fed', () => {
    fc.assert(
      fc.property(INPUT, fc.constantFrom(',', ';'), fc.constantFrom('fast' as const, 'csv-parse' as const), (input, delimiter, engine) => {
        // Every record end before the end of input, with the line the next record starts on; the
        // last record ends with the input, however it ends.
        const expected = engineEnds(input, engine, delimiter).filter((e) => e.end < input.length);
        const bytewise = scannerEnds(input, Array.from({ length: input.length }, () => 1), delimiter).filter((e) => e.end < input.length);
        expect(bytewise).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('stands at the same record end and line after any prefix, however the prefix was cut (the quote-free jump included)', () => {
    fc.assert(
      fc.property(INPUT, fc.array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 40 }), fc.constantFrom(',', ';'), (input, pieces, delimiter) => {
        const cut = new RecordBoundaries(0x22, delimiter.charCodeAt(0), 0, 1);
        const bytewise = new RecordBoundaries(0x22, delimiter.charCodeAt(0), 0, 1);
        let at = 0;
        for (const size of [...pieces, input.length]) {
          if (at >= input.length) break;
          const piece = input.subarray(at, at + size);
          cut.scan(piece);
          for (let k = 0; k < piece.length; k++) bytewise.scan(piece.subarray(k, k + 1));
          at += piece.length;
          expect([cut.lastEnd, cut.lastEndLine]).toEqual([bytewise.lastEnd, bytewise.lastEndLine]);
        }
        cut.finish();
        bytewise.finish();
        expect([cut.lastEnd, cut.lastEndLine]).toEqual([bytewise.lastEnd, bytewise.lastEndLine]);
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same last end whatever the chunking', () => {
    fc.assert(
      fc.property(INPUT, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 40 }), (input, pieces) => {
        const whole = scannerEnds(input, [input.length], ',');
        const cut = scannerEnds(input, pieces, ',');
        expect(cut[cut.length - 1]).toEqual(whole[whole.length - 1]);
      }),
    );
  });

  it('lineStart counts CRLF, CR and LF once each', () => {
    const b = Buffer.from('a\r\nb\rc\nd');
    expect([1, 2, 3, 4].map((l) => lineStart(b, l))).toEqual([0, 3, 5, 7]);
    expect(lineStart(Buffer.from('a\r'), 2)).toBeUndefined();
  });
});

describe('RangeSplitter', () => {
  const csv = normalizeCsvOptions({ maxRecordBytes: 64 });
  const head = { charset: 'utf8', delimiter: ',', header: ['a', 'b'] };

  it('cuts only between records, with each range on its first line', () => {
    const text = Buffer.from('1,"x\ny"\r\n2,é\n3,3\r4,"a""b"\n5,5');
    const split = new RangeSplitter(csv, head, 100, 7, 6);
    const ranges = [];
    for (let i = 0; i < text.length; i += 3) ranges.push(...split.push(text.subarray(i, i + 3)));
    ranges.push(...split.end());
    expect(Buffer.concat(ranges.map((r) => r.bytes)).equals(text)).toBe(true);
    expect(ranges.map((r) => Buffer.from(r.bytes).toString())).toEqual(['1,"x\ny"\r\n', '2,é\n3,3\r', '4,"a""b"\n', '5,5']);
    expect(ranges.map((r) => [r.offset, r.line])).toEqual([
      [100, 7],
      [109, 9],
      [118, 11],
      [127, 12],
    ]);
  });

  it('cuts a chunk larger than a range into several ranges', () => {
    const rows = Array.from({ length: 200 }, (_, i) => `${i},"v\n${i}"\n`).join('');
    const split = new RangeSplitter(normalizeCsvOptions({}), head, 0, 2, 64);
    const ranges = [...split.push(Buffer.from(rows)), ...split.end()];
    expect(ranges.length).toBeGreaterThan(20);
    expect(Buffer.concat(ranges.map((r) => r.bytes)).toString()).toBe(rows);
    // Every range starts on a record: its first line is 2 + 2 × (records before it).
    for (const r of ranges) expect(r.line).toBe(2 + 2 * Buffer.from(rows).subarray(0, r.offset).toString().split('"\n').length - 2);
  });

  it('ends the import when one unfinished record passes csv.maxRecordBytes', () => {
    const split = new RangeSplitter(csv, head, 0, 2, 1024);
    split.push(Buffer.from('1,ok\n2,"never closed'));
    expect(() => split.push(Buffer.alloc(64, 'x'))).toThrow(expect.objectContaining({ code: 'E_ROW_TOO_LARGE', context: expect.objectContaining({ line: 3 }) }));
  });
});

describe('RangeLedger', () => {
  it('moves the frontier past a range once all its rows, and every earlier range, are settled', () => {
    const l = new RangeLedger(10);
    l.add(2, 50);
    l.add(5, 90);
    l.settle(5);
    l.parsed(5, 1);
    expect(l.frontier).toBe(10);
    l.settle(2);
    l.settle(3);
    l.parsed(2, 2);
    expect(l.frontier).toBe(90);
  });
});
