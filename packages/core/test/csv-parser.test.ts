import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import iconv from 'iconv-lite';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCsvParser, IngestErrorCode, RowFailureCode, type CsvParserOptions, type CsvRecord, type RowFailure } from '../src/index.js';
import { chunksOf, MemoryWriter } from './helpers.js';

interface Parsed {
  records: CsvRecord[];
  failures: RowFailure[];
  skipped: number[];
}

/** The engine the tests of the current describe block run with. */
let engine: 'csv-parse' | 'fast' = 'csv-parse';

async function parse(chunks: Buffer[], options: CsvParserOptions = {}): Promise<Parsed> {
  const out: Parsed = { records: [], failures: [], skipped: [] };
  const parser = createCsvParser({ engine, ...options, onRowFailure: (f) => out.failures.push(f), onSkip: (l) => out.skipped.push(l) });
  await pipeline(
    Readable.from(chunks, { objectMode: false }),
    parser,
    new Writable({
      objectMode: true,
      write(record: CsvRecord, _e, cb) {
        out.records.push(record);
        cb();
      },
    }),
  );
  return out;
}

/** Parses whole, then replayed 1 byte at a time and at a few odd chunk sizes; all must agree. */
async function parseEverySplit(input: Buffer | string, options: CsvParserOptions = {}): Promise<Parsed> {
  const whole = await parse([typeof input === 'string' ? Buffer.from(input) : input], options);
  for (const size of [1, 2, 3, 7, 64]) {
    const split = await parse(chunksOf(input, size), options);
    expect(split, `chunk size ${size}`).toEqual(whole);
  }
  return whole;
}

const rows = (p: Parsed) => p.records.map((r) => [r.line, r.row]);

describe.each(['csv-parse', 'fast'] as const)('createCsvParser, %s engine', (name) => {
  beforeAll(() => {
    engine = name;
  });

  it('gives each record the physical line it starts on, across quoted line breaks and blank lines', async () => {
    const p = await parseEverySplit('id,text\n1,plain\n2,"two\nlines"\n\n3,"a\r\nb\r\nc"\n4,last');
    expect(rows(p)).toEqual([
      [2, { id: '1', text: 'plain' }],
      [3, { id: '2', text: 'two\nlines' }],
      [6, { id: '3', text: 'a\r\nb\r\nc' }],
      [9, { id: '4', text: 'last' }],
    ]);
    expect(p.skipped).toEqual([5]);
  });

  it('splits a file that mixes CR, LF and CRLF line ends', async () => {
    const p = await parseEverySplit('a,b\r\n1,2\n3,4\r5,6\r\n7,8');
    expect(rows(p)).toEqual([
      [2, { a: '1', b: '2' }],
      [3, { a: '3', b: '4' }],
      [4, { a: '5', b: '6' }],
      [5, { a: '7', b: '8' }],
    ]);
  });

  it('reports a row with the wrong number of fields as a failure and reads on', async () => {
    const p = await parseEverySplit('a,b,c\n1,2,3\n1,2\n1,2,3,4\n7,8,9\n');
    expect(p.records.map((r) => r.line)).toEqual([2, 5]);
    expect(p.failures.map((f) => [f.line, f.code])).toEqual([
      [3, RowFailureCode.E_COLUMN_COUNT],
      [4, RowFailureCode.E_COLUMN_COUNT],
    ]);
    expect(p.failures[0]!.message).toMatch(/Expected 3 fields.*got 2/);
  });

  it('with relaxColumnCount, keeps short and long rows', async () => {
    const p = await parseEverySplit('a,b,c\n1,2\n1,2,3,4\n', { relaxColumnCount: true });
    expect(rows(p)).toEqual([
      [2, { a: '1', b: '2' }],
      [3, { a: '1', b: '2', c: '3' }],
    ]);
  });

  it('turns a stray quote into a row failure with its line, and keeps line numbers right after it', async () => {
    const p = await parseEverySplit('a,b\n1,x"y\n2,ok\n3,"bad"z\n4,"two"""quotes"\n5,"multi\nline"oops\n6,fine\n');
    expect(p.failures.map((f) => [f.line, f.code])).toEqual([
      [2, RowFailureCode.E_CSV_RECORD],
      [4, RowFailureCode.E_CSV_RECORD],
      [5, RowFailureCode.E_CSV_RECORD],
      [6, RowFailureCode.E_CSV_RECORD],
    ]);
    expect(p.failures[0]!.message).toMatch(/quote/i);
    expect(rows(p)).toEqual([
      [3, { a: '2', b: 'ok' }],
      [8, { a: '6', b: 'fine' }],
    ]);
  });

  it('reports a quote left open to the end of the file as one failed row', async () => {
    const p = await parseEverySplit('a,b\n1,2\n3,"open\n4,5\n6,7\n');
    expect(rows(p)).toEqual([[2, { a: '1', b: '2' }]]);
    expect(p.failures).toHaveLength(1);
    expect(p.failures[0]).toMatchObject({ line: 3, code: RowFailureCode.E_CSV_RECORD });
    expect(p.failures[0]!.message).toMatch(/never closed/);
  });

  it('ends with E_ROW_TOO_LARGE and the line when a record passes maxRecordBytes', async () => {
    const input = `a,b\n1,2\n3,"${'x'.repeat(5000)}"\n5,6\n`;
    for (const size of [1, 100, input.length]) {
      await expect(parse(chunksOf(input, size), { maxRecordBytes: 1000 })).rejects.toMatchObject({
        code: IngestErrorCode.E_ROW_TOO_LARGE,
        context: { line: 3, limit: 1000 },
      });
    }
  });

  it('reads a line holding only "" as a record with one empty field, not as a blank line', async () => {
    // Two columns: the one empty field is a column-count failure, at every line end and at the end of input.
    const p = await parseEverySplit('a,b\n""\n1,2\n""\r\n\n""');
    expect(rows(p)).toEqual([[3, { a: '1', b: '2' }]]);
    expect(p.failures.map((f) => [f.line, f.code])).toEqual([
      [2, RowFailureCode.E_COLUMN_COUNT],
      [4, RowFailureCode.E_COLUMN_COUNT],
      [6, RowFailureCode.E_COLUMN_COUNT],
    ]);
    expect(p.skipped).toEqual([5]);
    // One column: a row whose value is the empty string.
    const one = await parseEverySplit('a\n""\n\nx\n');
    expect(rows(one)).toEqual([
      [2, { a: '' }],
      [4, { a: 'x' }],
    ]);
    expect(one.skipped).toEqual([3]);
  });

  it('measures maxRecordBytes as the bytes of the record in the file, line end included, whatever the chunks', async () => {
    // `1,"xx"\n` is 7 bytes: within a limit of 8 however the input is cut (the reproduction).
    const ok = await parse(['a,b\n1', ',"xx"', '\n2,3\n'].map((t) => Buffer.from(t)), { maxRecordBytes: 8 });
    expect(rows(ok)).toEqual([
      [2, { a: '1', b: 'xx' }],
      [3, { a: '2', b: '3' }],
    ]);
    expect(rows(await parseEverySplit('a,b\n1,"xx"\n2,3\n', { maxRecordBytes: 8 }))).toEqual(rows(ok));
    // Delimiters, quotes and the line end count: `1,"xxx"\r\n` is 9 bytes, one past a limit of 8.
    for (const size of [1, 2, 5, 64]) {
      await expect(parse(chunksOf('a,b\n1,"xx"\n1,"xxx"\r\n2,3\n', size), { maxRecordBytes: 8 })).rejects.toMatchObject({
        code: IngestErrorCode.E_ROW_TOO_LARGE,
        context: { line: 3, limit: 8 },
      });
    }
    // Multi-byte characters count in UTF-8 bytes: `é,é\n` is 6 bytes.
    expect(rows(await parseEverySplit('a,b\né,é\n', { maxRecordBytes: 6 }))).toEqual([[2, { a: 'é', b: 'é' }]]);
    await expect(parse([Buffer.from('a,b\né,é\n')], { maxRecordBytes: 5 })).rejects.toMatchObject({ code: IngestErrorCode.E_ROW_TOO_LARGE });
  });

  it('decides maxRecordBytes the same at 64 KB and 100 KB chunks: a 1 MB quoted record followed by 20,000 rows', async () => {
    const big = 'x'.repeat(1024 * 1024 - 16);
    let csv = `k,v\n1,"${big}"\n`;
    for (let i = 0; i < 20_000; i++) csv += `${i},y\n`;
    const bytes = Buffer.from(csv);
    for (const size of [64 * 1024, 100 * 1024]) {
      const p = await parse(chunksOf(bytes, size));
      expect(p.failures, `chunks of ${size}`).toEqual([]);
      expect(p.records.length, `chunks of ${size}`).toBe(20_001);
    }
  });

  it('emits the header event when csv.columns gives the names, as when the file does', async () => {
    const seen: (readonly string[])[] = [];
    const parser = createCsvParser({ engine, columns: ['a', 'b'], onHeader: (c) => seen.push(c) });
    const events: (readonly string[])[] = [];
    parser.on('header', (c: readonly string[]) => events.push(c));
    const records: CsvRecord[] = [];
    await pipeline(Readable.from([Buffer.from('1,2\n3,4\n')]), parser, new Writable({ objectMode: true, write: (r: CsvRecord, _e, cb) => (records.push(r), cb()) }));
    expect(seen).toEqual([['a', 'b']]);
    expect(events).toEqual([['a', 'b']]);
    expect(records.map((r) => r.row)).toEqual([{ a: '1', b: '2' }, { a: '3', b: '4' }]);
    // Also for an input with no rows at all, and once only when the file gives the header.
    const empty: (readonly string[])[] = [];
    await pipeline(Readable.from([Buffer.from('')]), createCsvParser({ engine, columns: ['a'], onHeader: (c) => empty.push(c) }), new Writable({ objectMode: true, write: (_r, _e, cb) => cb() }));
    expect(empty).toEqual([['a']]);
    const once: (readonly string[])[] = [];
    await pipeline(Readable.from([Buffer.from('\nx,y\n1,2\n')]), createCsvParser({ engine, onHeader: (c) => once.push(c) }), new Writable({ objectMode: true, write: (_r, _e, cb) => cb() }));
    expect(once).toEqual([['x', 'y']]);
  });

  it.each([
    ['a,$where\n1,2', '$where'],
    ['a,b.c\n1,2', 'b.c'],
    ['a,__proto__\n1,2', '__proto__'],
    ['a,constructor\n1,2', 'constructor'],
    ['a,prototype\n1,2', 'prototype'],
    ['a,,c\n1,2,3', ''],
    ['a,b,a\n1,2,3', 'a'],
  ])('rejects the header %j, naming column %j', async (input, column) => {
    await expect(parse([Buffer.from(input)])).rejects.toMatchObject({ code: IngestErrorCode.E_HEADER_INVALID, context: { column } });
  });

  it.each([
    ['a PNG image', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ['a ZIP archive', Buffer.from([0x50, 0x4b, 0x03, 0x04, 20, 0, 6, 0, 8, 0])],
    ['gzip data', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])],
  ])('refuses %s with E_CSV_MALFORMED naming what it is, at every chunk size', async (what, bytes) => {
    for (const size of [1, 3, bytes.length]) {
      await expect(parse(chunksOf(bytes, size))).rejects.toMatchObject({ code: IngestErrorCode.E_CSV_MALFORMED, message: expect.stringContaining(what) });
    }
  });

  it('refuses a header with control characters (E_HEADER_INVALID) or bytes that are not UTF-8 (E_ENCODING)', async () => {
    await expect(parse([Buffer.from('a,b\u0001c\n1,2\n')])).rejects.toMatchObject({ code: IngestErrorCode.E_HEADER_INVALID });
    await expect(parse([Buffer.from([0x61, 0x2c, 0xff, 0x0a, 0x31, 0x2c, 0x32, 0x0a])])).rejects.toMatchObject({ code: IngestErrorCode.E_ENCODING });
  });

  it('reads a 3 MB quoted field with line breaks across 64 KiB chunks, and the rows after it', async () => {
    const big = 'x'.repeat(1000).concat('\n').repeat(3000); // 3,003,000 characters, 3,000 line breaks
    const csv = `k,v\n1,"${big}"\n2,after\n`;
    const p = await parse(chunksOf(csv, 64 * 1024), { maxRecordBytes: 8 * 1024 * 1024 });
    expect(p.failures).toEqual([]);
    expect(p.records.map((r) => [r.line, r.row.k, r.row.v!.length])).toEqual([
      [2, '1', big.length],
      [3003, '2', 5],
    ]);
    expect(p.records[0]!.row.v).toBe(big);
  });

  it('keeps nothing of the buffers it is given: a source that rewrites one buffer after each write gets the same rows', async () => {
    // The fast engine holds the start of an unfinished record between writes; it must be a copy.
    const csv = Buffer.from('k,v\n1,"one, two"\n2,three\n3,"fo\nur"\n4,five\n');
    // Sniffing the charset and the delimiter holds the first bytes too.
    for (const options of [{}, { encoding: 'auto', delimiter: 'auto' }] as CsvParserOptions[]) {
      const expected = await parse([csv], options);
      const records: CsvRecord[] = [];
      const parser = createCsvParser({ engine, ...options });
      parser.on('data', (r: CsvRecord) => records.push(r));
      const shared = Buffer.alloc(5);
      for (let i = 0; i < csv.length; i += 5) {
        const n = csv.copy(shared, 0, i, i + 5);
        await new Promise<void>((resolve, reject) => parser.write(shared.subarray(0, n), (err) => (err ? reject(err) : resolve())));
        shared.fill(0x7c); // '|' everywhere: any byte still read from here would show
      }
      await new Promise<void>((resolve) => parser.end(resolve));
      expect(records, JSON.stringify(options)).toEqual(expected.records);
      expect(records).toHaveLength(4);
    }
  });

  it('reads rows after a record far larger than a chunk, with the memory it grew for that record given back', async () => {
    const csv = `k,v\n1,"${'y'.repeat(2_000_000)}"\n${Array.from({ length: 5000 }, (_, i) => `${i + 2},r${i}`).join('\n')}\n`;
    const p = await parse(chunksOf(csv, 64 * 1024), { maxRecordBytes: 4 * 1024 * 1024 });
    expect(p.failures).toEqual([]);
    expect(p.records).toHaveLength(5001);
    expect(p.records[0]!.row.v).toHaveLength(2_000_000);
    expect(p.records.at(-1)).toMatchObject({ line: 5002, row: { k: '5001', v: 'r4999' } });
  });

  it('reads a tiny file shorter than the signature check', async () => {
    expect(rows(await parseEverySplit('a\n1'))).toEqual([[2, { a: '1' }]]);
  });

  it('rejects a header with more columns than maxColumns', async () => {
    await expect(parse([Buffer.from('a,b,c,d\n1,2,3,4')], { maxColumns: 3 })).rejects.toMatchObject({ code: IngestErrorCode.E_TOO_MANY_COLUMNS });
  });

  it('rejects an empty input as having no header', async () => {
    await expect(parse([Buffer.from('')])).rejects.toMatchObject({ code: IngestErrorCode.E_HEADER_INVALID });
    await expect(parse([Buffer.from('\ufeff')])).rejects.toMatchObject({ code: IngestErrorCode.E_HEADER_INVALID });
  });

  it('uses given columns and reads the first line as data', async () => {
    const p = await parseEverySplit('1,2\n3,4\n', { columns: ['x', 'y'] });
    expect(rows(p)).toEqual([
      [1, { x: '1', y: '2' }],
      [2, { x: '3', y: '4' }],
    ]);
  });

  it('builds row objects that cannot reach a prototype', async () => {
    const p = await parseEverySplit('toString,valueOf\n1,2\n');
    const row = p.records[0]!.row;
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(row).toEqual({ toString: '1', valueOf: '2' });
  });

  it('trims fields when asked (csv-parse engine); the fast engine says it cannot, at construction', async () => {
    if (engine === 'fast') {
      expect(() => createCsvParser({ engine, trim: true })).toThrow(/csv.trim.*'csv-parse' engine to trim/);
      expect(() => createCsvParser({ engine, escape: '\\' })).toThrow(/csv.escape/);
      return;
    }
    const p = await parseEverySplit('a , b\n 1 , " 2 " \n', { trim: true });
    expect(rows(p)).toEqual([[2, { a: '1', b: ' 2 ' }]]);
  });

  describe('delimiters', () => {
    it.each([
      [';', 'name;city\nAna;Lisboa\n'],
      ['\t', 'name\tcity\nAna\tLisboa\n'],
      ['|', 'name|city\nAna|Lisboa\n'],
      [',', 'name,city\nAna,Lisboa\n'],
    ])('auto picks %j', async (_d, input) => {
      const p = await parseEverySplit(input, { delimiter: 'auto' });
      expect(rows(p)).toEqual([[2, { name: 'Ana', city: 'Lisboa' }]]);
    });

    it('auto ignores delimiters inside quoted header names and skips leading blank lines', async () => {
      const p = await parseEverySplit('\n\n"a,b";c\n1;2\n', { delimiter: 'auto' });
      expect(rows(p)).toEqual([[4, { 'a,b': '1', c: '2' }]]);
    });
  });

  describe('encodings', () => {
    const text = 'city,word\nSão Paulo,Ação\nZürich,naïve\n';
    const expected = [
      [2, { city: 'São Paulo', word: 'Ação' }],
      [3, { city: 'Zürich', word: 'naïve' }],
    ];

    it('strips a UTF-8 BOM', async () => {
      expect(rows(await parseEverySplit(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])))).toEqual(expected);
    });

    it('keeps multi-byte characters split across chunks', async () => {
      expect(rows(await parseEverySplit('k,v\n1,😀€ß\n'))).toEqual([[2, { k: '1', v: '😀€ß' }]]);
    });

    it('fails the rows that hold bytes that are not UTF-8, at every split, instead of writing U+FFFD', async () => {
      const bytes = Buffer.concat([
        Buffer.from('k,v\n1,😀 ok\n2,caf'),
        Buffer.from([0xe9]), // Latin-1 é in a UTF-8 file
        Buffer.from(',x\n3,"quoted\n'),
        Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate
        Buffer.from('"\n4,\uFFFD is fine when it is real UTF-8\n5,last '),
        Buffer.from([0xf0, 0x9f]), // a character cut off by the end of the file
      ]);
      const p = await parseEverySplit(bytes);
      expect(rows(p)).toEqual([
        [2, { k: '1', v: '😀 ok' }],
        [6, { k: '4', v: '\uFFFD is fine when it is real UTF-8' }],
      ]);
      expect(p.failures.map((f) => [f.line, f.code])).toEqual([
        [3, RowFailureCode.E_ENCODING],
        [4, RowFailureCode.E_ENCODING],
        [7, RowFailureCode.E_ENCODING],
      ]);
      expect(p.failures[0]!.message).toMatch(/not UTF-8 .*pass csv.encoding/);
    });

    it('refuses a header that is not UTF-8 with E_ENCODING, and reads it with encoding auto', async () => {
      const bytes = iconv.encode('café,b\n1,2\n', 'windows-1252');
      await expect(parse([bytes])).rejects.toMatchObject({ code: IngestErrorCode.E_ENCODING, message: expect.stringContaining("csv.encoding: 'auto'") });
      expect(rows(await parseEverySplit(bytes, { encoding: 'auto' }))).toEqual([[2, { café: '1', b: '2' }]]);
    });

    it('reads windows-1252 when told', async () => {
      expect(rows(await parseEverySplit(iconv.encode(text, 'windows-1252'), { encoding: 'windows-1252' }))).toEqual(expected);
    });

    it.each([
      ['UTF-8 with BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])],
      ['UTF-8 without BOM', Buffer.from(text)],
      ['UTF-16LE with BOM', iconv.encode(text, 'utf-16le', { addBOM: true })],
      ['UTF-16BE with BOM', iconv.encode(text, 'utf-16be', { addBOM: true })],
      ['windows-1252 (no BOM, not valid UTF-8)', iconv.encode(text, 'windows-1252')],
    ])('auto reads %s', async (_name, bytes) => {
      expect(rows(await parseEverySplit(bytes, { encoding: 'auto' }))).toEqual(expected);
    });

    it('auto with a ; delimiter in UTF-16LE', async () => {
      const bytes = iconv.encode('a;b\r\n1;Ação\r\n', 'utf-16le', { addBOM: true });
      expect(rows(await parseEverySplit(bytes, { encoding: 'auto', delimiter: 'auto' }))).toEqual([[2, { a: '1', b: 'Ação' }]]);
    });

    it('rejects an encoding iconv-lite does not know, at construction', () => {
      expect(() => createCsvParser({ encoding: 'klingon-8' })).toThrow(expect.objectContaining({ code: IngestErrorCode.E_ENCODING }));
    });
  });

  it('rejects bad options at construction, naming them', () => {
    expect(() => createCsvParser({ maxRecordBytes: -1 })).toThrow(/csv.maxRecordBytes/);
    expect(() => createCsvParser({ delimiter: '' })).toThrow(/csv.delimiter/);
    expect(() => createCsvParser({ columns: ['a', '$b'] })).toThrow(expect.objectContaining({ code: IngestErrorCode.E_HEADER_INVALID }));
  });

  it('emits arrays of records in chunk mode', async () => {
    const seen: unknown[] = [];
    await pipeline(
      Readable.from([Buffer.from('a\n1\n2\n'), Buffer.from('3\n')]),
      createCsvParser({ emit: 'chunk' }),
      new Writable({
        objectMode: true,
        write(chunk, _e, cb) {
          seen.push(chunk);
          cb();
        },
      }),
    );
    expect(seen.every((c) => Array.isArray(c))).toBe(true);
    expect((seen as CsvRecord[][]).flat().map((r) => r.row.a)).toEqual(['1', '2', '3']);
  });

  it('is released when destroyed mid-stream', async () => {
    const parser = createCsvParser();
    parser.write('a,b\n1,2\n');
    parser.destroy();
    await new Promise((r) => parser.once('close', r));
    expect(parser.destroyed).toBe(true);
  });
});

describe('the default engine', () => {
  /** The engine the import reports in its start message, for these csv options. */
  async function engineOf(csv: CsvParserOptions): Promise<string | undefined> {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const { createIngestPipeline, IngestChannel } = await import('../src/index.js');
    let seen: string | undefined;
    const listener = (m: unknown) => void (seen = (m as { settings: { engine: string } }).settings.engine);
    subscribe(IngestChannel.importStart, listener);
    try {
      const report = await createIngestPipeline({ sink: new MemoryWriter(), csv, memory: false, ping: false }).run(['a,b\n1,2\n']);
      expect(report.rowsWritten).toBe(1);
    } finally {
      unsubscribe(IngestChannel.importStart, listener);
    }
    return seen;
  }

  it("is 'fast'; trim, another escape or a longer quote pick 'csv-parse' by themselves; naming 'fast' with them is refused", async () => {
    expect(await engineOf({})).toBe('fast');
    expect(await engineOf({ trim: true })).toBe('csv-parse');
    expect(await engineOf({ escape: '\\' })).toBe('csv-parse');
    expect(await engineOf({ quote: "''" })).toBe('csv-parse');
    expect(await engineOf({ engine: 'csv-parse' })).toBe('csv-parse');
    expect(() => createCsvParser({ engine: 'fast', trim: true })).toThrow(/csv.trim/);
    // Without naming an engine, trim works: csv-parse does it.
    const records: CsvRecord[] = [];
    await pipeline(Readable.from([Buffer.from('a, b\n 1 ,  2\n')]), createCsvParser({ trim: true }), new Writable({ objectMode: true, write: (r: CsvRecord, _e, cb) => (records.push(r), cb()) }));
    expect(records.map((r) => r.row)).toEqual([{ a: '1', b: '2' }]);
  });
});

describe('reading while parsing', () => {
  it('asks the source for its next chunk before parsing the one it was given, so a file read overlaps the parse', async () => {
    // A source that, like a file stream, delivers each chunk on a later turn of the event loop.
    const chunks = [Buffer.from('a,b\n1,2\n'), Buffer.from('3,4\n5,6\n'), Buffer.from('7,8\n')];
    const events: string[] = [];
    let next = 0;
    const source = new Readable({
      highWaterMark: 8,
      read() {
        const i = next++;
        events.push(`read ${i}`);
        setImmediate(() => this.push(i < chunks.length ? chunks[i] : null));
      },
    });
    const parser = createCsvParser({ emit: 'chunk' });
    const lines: number[] = [];
    await pipeline(
      source,
      parser,
      new Writable({
        objectMode: true,
        write(records: CsvRecord[], _e, cb) {
          events.push(`rows ${records.map((r) => r.line).join(',')}`);
          lines.push(...records.map((r) => r.line));
          cb();
        },
      }),
    );
    expect(lines).toEqual([2, 3, 4, 5]);
    // Each chunk's rows come after the read of the chunk that follows it was started.
    expect(events.indexOf('read 1')).toBeLessThan(events.indexOf('rows 2'));
    expect(events.indexOf('read 2')).toBeLessThan(events.indexOf('rows 3,4'));
    expect(events.indexOf('read 3')).toBeLessThan(events.indexOf('rows 5'));
  });
});
