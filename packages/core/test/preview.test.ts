import iconv from 'iconv-lite';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IngestErrorCode, previewCsv, RowFailureCode, type CsvPreview } from '../src/index.js';
import { chunksOf } from './helpers.js';

const column = (p: CsvPreview, name: string) => p.columns.find((c) => c.name === name)!;

describe.each(['csv-parse', 'fast'] as const)('previewCsv, %s engine', (engine) => {
  const preview = (input: string | Buffer | Iterable<Buffer>, options: Parameters<typeof previewCsv>[1] = {}) =>
    previewCsv(typeof input === 'string' || Buffer.isBuffer(input) ? [Buffer.from(input)] : input, { ...options, csv: { engine, ...options.csv } });

  it('infers a type per column from the real-world cases, with shares and misfits', async () => {
    const csv = [
      'id;zip;price;price_de;active;flag;created;born;oid;big_id;note',
      '1;00123;12.5;1.234,56;yes;1;2024-05-31;31/05/2024;65a1f0c2e4b0a1b2c3d4e5f6;9007199254740993;',
      '2;04109;-3;12,5;no;0;2024-06-01T12:00:00Z;01/06/2024;65a1f0c2e4b0a1b2c3d4e5f7;12345678901234567890;N/A',
      '3;10115;1e3;7;true;1;2024-06-02 08:30;02/06/2024;65A1F0C2E4B0A1B2C3D4E5F8;1;',
      '4;;;;FALSE;;;;;;x',
    ].join('\n');
    const p = await preview(csv);
    expect(p.delimiter).toBe(';');
    expect(p.header).toEqual(['id', 'zip', 'price', 'price_de', 'active', 'flag', 'created', 'born', 'oid', 'big_id', 'note']);
    expect(p.rows).toHaveLength(4);
    expect(p.rows[0]).toEqual({ line: 2, values: expect.objectContaining({ zip: '00123', price_de: '1.234,56' }) });
    const types = Object.fromEntries(p.columns.map((c) => [c.name, c.type]));
    expect(types).toEqual({
      id: 'int',
      zip: 'string', // leading zeros: a code, not a quantity
      price: 'number',
      price_de: 'string', // decimal comma and thousands dot: not a number without a locale
      active: 'boolean',
      flag: 'int', // 0/1 alone is a number; it takes a word to make a boolean
      created: 'date',
      born: 'string', // not ISO 8601: day/month is ambiguous
      oid: 'objectId',
      big_id: 'string', // beyond 2^53: a double would change the digits
      note: 'string',
    });
    expect(column(p, 'zip').candidates.find((c) => c.type === 'int')).toEqual({ type: 'int', share: 1 / 3, misfits: ['00123', '04109'] });
    expect(column(p, 'price_de').candidates.find((c) => c.type === 'number')).toEqual({ type: 'number', share: 1 / 3, misfits: ['1.234,56', '12,5'] });
    expect(column(p, 'big_id').candidates.find((c) => c.type === 'int')?.misfits).toEqual(['9007199254740993', '12345678901234567890']);
    expect(column(p, 'note')).toMatchObject({ sampled: 4, empty: 2 });
    expect(column(p, 'flag')).toMatchObject({ sampled: 4, empty: 1 });
    expect(p).toMatchObject({ encoding: 'utf8', encodingSource: 'valid-utf8', complete: true, failures: [] });
  });

  it('says how the charset was found: BOM, valid UTF-8, or the windows-1252 fallback', async () => {
    expect(await preview(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a,b\n1,2\n')]))).toMatchObject({ encoding: 'utf8', encodingSource: 'bom', header: ['a', 'b'] });
    expect(await preview(iconv.encode('\ufeffa;b\n1;2\n', 'utf-16le', { addBOM: false }))).toMatchObject({ encoding: 'utf-16le', encodingSource: 'bom', header: ['a', 'b'], delimiter: ';' });
    const latin = await preview(iconv.encode('name,city\nJosé,Zürich\n', 'windows-1252'));
    expect(latin).toMatchObject({ encoding: 'windows-1252', encodingSource: 'fallback', rows: [{ line: 2, values: { name: 'José', city: 'Zürich' } }] });
    expect(await preview('a,b\n1,2\n', { csv: { encoding: 'utf8' } })).toMatchObject({ encodingSource: 'option' });
  });

  it('reports header problems exactly as the import does, and the rows the import would fail', async () => {
    const bad = await preview('sku,$where,price\n1,2,3\n');
    expect(bad.error).toMatchObject({ code: IngestErrorCode.E_HEADER_INVALID, line: 1 });
    expect(bad.error!.message).toContain('"$where"');
    expect(bad.rows).toEqual([]);
    const dup = await preview('a,a\n1,2\n');
    expect(dup.error?.code).toBe(IngestErrorCode.E_HEADER_INVALID);
    const rows = await preview('a,b\n1,2\n1,2,3\n4,5\n');
    expect(rows.failures).toEqual([expect.objectContaining({ line: 3, code: RowFailureCode.E_COLUMN_COUNT })]);
    expect(rows.rows.map((r) => r.line)).toEqual([2, 4]);
  });

  it('gives the same preview whatever the chunk boundaries', async () => {
    const csv = 'sku;"price";when\n"a;1";1.5;2024-01-01\nb;2;2024-01-02\n';
    const whole = await preview(csv);
    for (const size of [1, 2, 3, 7]) expect(await preview(chunksOf(csv, size))).toEqual(whole);
  });

  it('stops at maxRows and leaves out a row cut by maxBytes', async () => {
    const csv = 'a,b\n' + Array.from({ length: 50 }, (_, i) => `${i},row ${i}\n`).join('');
    const p = await preview(csv, { maxRows: 5 });
    expect(p.rows.map((r) => r.values['a'])).toEqual(['0', '1', '2', '3', '4']);
    expect(p.complete).toBe(false);
    const cut = await preview('a,b\n1,one\n2,"two\nlines"\n3,three\n', { maxBytes: 18 });
    expect(cut.rows).toEqual([{ line: 2, values: { a: '1', b: 'one' } }]);
    expect(cut.failures).toEqual([]);
    expect(cut.bytesRead).toBe(18);
  });
});

describe('previewCsv on a source it must not read to the end', () => {
  it('reads an endless source no further than maxBytes (plus the chunk in hand) and stops it', async () => {
    let pulled = 0;
    let stopped = false;
    function* endless(): Generator<Buffer> {
      try {
        yield Buffer.from('sku,qty\n');
        for (let i = 0; ; i++) {
          const chunk = Buffer.from(`sku-${i},${i}\n`.repeat(100));
          pulled += chunk.length;
          yield chunk;
        }
      } finally {
        stopped = true;
      }
    }
    const p = await previewCsv(endless(), { maxBytes: 64 * 1024, maxRows: 1_000_000 });
    expect(stopped).toBe(true);
    expect(pulled).toBeLessThan(64 * 1024 + 2000);
    expect(p.bytesRead).toBe(64 * 1024);
    expect(p.complete).toBe(false);
    expect(p.columns.map((c) => c.type)).toEqual(['string', 'int']);
  });

  it('destroys a Readable it stops reading', async () => {
    let i = 0;
    const source = new Readable({
      read() {
        this.push(i++ === 0 ? 'a,b\n' : '1,2\n'.repeat(1000));
      },
    });
    const p = await previewCsv(source, { maxRows: 10 });
    expect(p.rows).toHaveLength(10);
    expect(source.destroyed).toBe(true);
  });
});
