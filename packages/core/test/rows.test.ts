import * as v from 'valibot';
import { ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createIngestPipeline, RowFailureCode, type IngestPipelineOptions } from '../src/index.js';
import { expectBalanced, MemoryWriter } from './helpers.js';

async function ingest(csv: string, options: Omit<IngestPipelineOptions, 'sink'> = {}) {
  const writer = new MemoryWriter();
  const report = await createIngestPipeline({ sink: writer, ...options }).run([csv]);
  expectBalanced(report);
  return { report, docs: writer.documents };
}

describe('types', () => {
  it('converts each typed column and leaves the rest as strings', async () => {
    const id = new ObjectId().toHexString();
    const { docs, report } = await ingest(`price,qty,active,created,id,meta,name\n9.5,3,yes,2024-05-31T12:00:00Z,${id},"{""a"":[1,2]}",x\n`, {
      types: { price: 'number', qty: 'int', active: 'boolean', created: 'date', id: 'objectId', meta: 'json' },
    });
    expect(report.rowsWritten).toBe(1);
    expect(docs[0]).toEqual({
      price: 9.5,
      qty: 3,
      active: true,
      created: new Date('2024-05-31T12:00:00Z'),
      id: new ObjectId(id),
      meta: { a: [1, 2] },
      name: 'x',
    });
  });

  it('turns an empty typed value into null', async () => {
    const { docs } = await ingest('price,name\n,x\n', { types: { price: 'number' } });
    expect(docs[0]).toEqual({ price: null, name: 'x' });
  });

  it.each([
    ['number', 'abc'],
    ['int', '1.5'],
    ['int', '99999999999999999999'],
    ['boolean', 'maybe'],
    ['date', 'not a date'],
    ['objectId', 'xyz'],
    ['json', '{oops'],
    ['json', '{"$where":"sleep(1000)"}'],
    ['json', '{"a":{"$gt":1}}'],
  ] as const)('a %s column with %j is a row failure E_TYPE with line and column', async (type, value) => {
    const csv = `v,n\nok,1\n"${value.replaceAll('"', '""')}",2\n`;
    const { report } = await ingest(csv, { types: { v: type } });
    const bad = report.failures.find((f) => f.line === 3);
    expect(bad).toMatchObject({ code: RowFailureCode.E_TYPE, column: 'v' });
    expect(bad!.message).toContain('"v"');
  });

  it('rejects an unknown type at construction', () => {
    expect(() => createIngestPipeline({ sink: new MemoryWriter(), types: { a: 'float' as never } })).toThrow(/types.a/);
  });
});

describe('schema (Standard Schema)', () => {
  const csv = 'sku,price\nA,10\nB,-1\nC,abc\n';

  it('with zod: issues become E_VALIDATION failures with the path', async () => {
    const schema = z.object({ sku: z.string(), price: z.coerce.number().positive() });
    const { report, docs } = await ingest(csv, { schema });
    expect(docs).toEqual([{ sku: 'A', price: 10 }]);
    expect(report.failures.map((f) => [f.line, f.code, f.column])).toEqual([
      [3, RowFailureCode.E_VALIDATION, 'price'],
      [4, RowFailureCode.E_VALIDATION, 'price'],
    ]);
    expect(report.failures[0]!.message).toMatch(/^price: /);
  });

  it('with valibot, async', async () => {
    const schema = v.pipeAsync(
      v.objectAsync({ sku: v.string(), price: v.pipe(v.string(), v.transform(Number), v.number(), v.minValue(0)) }),
      v.checkAsync(async () => true),
    );
    const { report, docs } = await ingest(csv, { schema });
    expect(docs).toEqual([{ sku: 'A', price: 10 }]);
    expect(report.rowsFailed).toBe(2);
  });
});

describe('map', () => {
  it('shapes documents, skips on undefined, fails on throw, and keeps file order when async', async () => {
    const csv = 'n\n1\n2\n3\n4\n5\n';
    const { report, docs } = await ingest(csv, {
      map: async (row, ctx) => {
        await new Promise((r) => setTimeout(r, Number(row.n) % 2));
        if (row.n === '2') return undefined;
        if (row.n === '4') throw new Error('four is not allowed');
        return { n: Number(row.n), line: ctx.line };
      },
    });
    expect(docs).toEqual([
      { n: 1, line: 2 },
      { n: 3, line: 4 },
      { n: 5, line: 6 },
    ]);
    expect(report.rowsSkipped).toBe(1);
    expect(report.failures).toEqual([{ line: 5, code: RowFailureCode.E_MAP, message: 'map threw: four is not allowed' }]);
  });

  it('fails a row when map returns something that is not a document', async () => {
    const { report } = await ingest('n\n1\n', { map: () => 42 as never });
    expect(report.failures[0]).toMatchObject({ line: 2, code: RowFailureCode.E_MAP });
  });

  it('runs after types and schema', async () => {
    const seen: unknown[] = [];
    await ingest('price\n5\n', {
      types: { price: 'int' },
      schema: z.object({ price: z.number().transform((p) => p * 2) }),
      map: (row) => (seen.push(row), row),
    });
    expect(seen).toEqual([{ price: 10 }]);
  });
});
