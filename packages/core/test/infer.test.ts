import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createIngestPipeline, RowFailureCode, type ColumnTypes } from '../src/index.js';
import { TypeInference } from '../src/preview/infer.js';
import { INFER_SAMPLE_ROWS } from '../src/preview/infer-stream.js';
import { RowProcessor } from '../src/rows/row-processor.js';
import { expectBalanced, MemoryWriter, productCsv } from './helpers.js';

describe.each(['csv-parse', 'fast'] as const)("types: 'infer', %s engine", (engine) => {
  it('infers from the first rows, applies the types to every row, and a later misfit fails with E_TYPE and its line', async () => {
    const rows = INFER_SAMPLE_ROWS + 500;
    const writer = new MemoryWriter();
    const pipeline = createIngestPipeline({ sink: writer, csv: { engine }, types: 'infer', memory: false, ping: false });
    const seen: ColumnTypes[] = [];
    pipeline.on('typesInferred', (t) => seen.push(t));
    const source = productCsv(rows, {
      header: 'sku,zip,qty,price,active,created,big_id\n',
      chunkRows: 64,
      // line = i + 2; one row after the sample has a qty that is not a whole number
      row: (i) => `sku-${i},0${1000 + (i % 9)},${i === INFER_SAMPLE_ROWS + 100 ? 'lots' : i},${i % 7}.25,${i % 2 ? 'yes' : 'no'},2024-05-${String((i % 28) + 1).padStart(2, '0')},${9007199254740993n + BigInt(i)}\n`,
    });
    const report = await pipeline.run(source);
    const expected = { sku: 'string', zip: 'string', qty: 'int', price: 'number', active: 'boolean', created: 'date', big_id: 'string' };
    expect(report.inferredTypes).toEqual(expected);
    expect(seen).toEqual([expected]);
    expectBalanced(report);
    expect(report).toMatchObject({ rowsRead: rows, rowsWritten: rows - 1, rowsFailed: 1 });
    expect(report.failures).toEqual([{ line: INFER_SAMPLE_ROWS + 102, code: RowFailureCode.E_TYPE, message: 'Column "qty": "lots" is not a whole number.', column: 'qty' }]);
    const docs = writer.documents;
    expect(docs).toHaveLength(rows - 1);
    expect(docs.map((d) => d['sku'])).toEqual(Array.from({ length: rows }, (_, i) => `sku-${i}`).filter((_, i) => i !== INFER_SAMPLE_ROWS + 100));
    expect(docs[3]).toEqual({ sku: 'sku-3', zip: '01003', qty: 3, price: 3.25, active: true, created: new Date('2024-05-04'), big_id: '9007199254740996' });
  });

  it('works on a file smaller than the sample, a file with only a header, and with empty values', async () => {
    const small = createIngestPipeline({ sink: new MemoryWriter(), csv: { engine, delimiter: ';' }, types: 'infer', memory: false, ping: false });
    const report = await small.run(['a;b;c\n1;;1.234,56\n', '2;x;\n\n']);
    expect(report.inferredTypes).toEqual({ a: 'int', b: 'string', c: 'string' });
    expect(report).toMatchObject({ rowsRead: 3, rowsWritten: 2, rowsSkipped: 1 });
    const empty = await createIngestPipeline({ sink: new MemoryWriter(), csv: { engine }, types: 'infer', memory: false, ping: false }).run(['a,b\n']);
    expect(empty.inferredTypes).toEqual({ a: 'string', b: 'string' });
  });

  it('holds at most the sample while inferring, whatever the file size', async () => {
    const writer = new MemoryWriter();
    const pipeline = createIngestPipeline({ sink: writer, csv: { engine }, types: 'infer', memory: false, ping: false, batch: { size: 100 } });
    // rows reach the sink before the file ends: inference does not hold the whole input
    let writtenBeforeEnd = 0;
    const rows = 20_000;
    const source = productCsv(rows, { chunkRows: 100 });
    source.on('end', () => (writtenBeforeEnd = writer.documents.length));
    const report = await pipeline.run(source);
    expect(report.inferredTypes).toEqual({ sku: 'string', name: 'string', price: 'number' });
    expect(writtenBeforeEnd).toBeGreaterThan(0);
    expect(writtenBeforeEnd).toBeLessThan(rows);
    expectBalanced(report);
  });
});

describe('inference and conversion agree', () => {
  const tokens = ['0', '1', '00123', '-7', '+3', '1.5', '.5', '1e3', '1,5', '1.234,56', '0x1f', 'Infinity', ' 12 ', '9007199254740993', '123456789012345678901234',
    'yes', 'No', 'TRUE', 'f', 'ja', '2024-05-31', '2024-05-31T12:00:00Z', '2024-02-30', '31/05/2024', '65a1f0c2e4b0a1b2c3d4e5f6', '', ' ', 'NULL', 'N/A'];
  it('the inferred types convert every sampled row without an E_TYPE failure', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.constantFrom(...tokens), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 30 }), (table) => {
        const rows = table.map(([a, b, c]) => ({ a: a!, b: b!, c: c! }));
        const inference = new TypeInference(['a', 'b', 'c']);
        for (const row of rows) inference.add(row);
        const processor = new RowProcessor({ types: inference.types(), importId: 'x' });
        const failures: unknown[] = [];
        rows.forEach((row, i) => processor.process({ line: i + 2, row: { ...row }, bytes: 1, end: NaN, nextLine: i + 3 }, { document() {}, skip() {}, failure: (f) => failures.push(f) }));
        expect(failures).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
