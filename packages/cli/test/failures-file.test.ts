import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { ObjectId } from 'mongodb';
import { FailuresFile } from '../src/failures-file.js';

const dir = mkdtempSync(join(tmpdir(), 'anti-oom-failures-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FailuresFile', () => {
  it('writes line, code, column, message and the values under the input columns; typed values back as text', () => {
    const path = join(dir, 'a.csv');
    const file = new FailuresFile(path);
    file.setColumns(['sku', 'price', 'when', 'id', 'meta']);
    file.add({ line: 3, code: 'E_TYPE', column: 'price', message: 'Column "price": "x" is not a number.' }, { sku: 'B', price: 'x', when: '', id: '', meta: '' });
    file.add({ line: 9, code: 'E_DUPLICATE_KEY', message: 'dup, with "quotes"\nand a newline' }, { sku: 'A', price: 2.5, when: new Date(0), id: new ObjectId('64b000000000000000000001'), meta: { a: 1 }, _id: new ObjectId() });
    file.add({ line: 12, code: 'E_COLUMN_COUNT', message: 'Expected 5 fields' }, ['1', '2', '3', '4', '5', '6']);
    file.add({ line: 14, code: 'E_CSV_RECORD', message: 'not valid CSV' }, undefined);
    file.close();
    expect(parse(readFileSync(path), { relax_column_count: true })).toEqual([
      ['line', 'code', 'column', 'message', 'sku', 'price', 'when', 'id', 'meta'],
      ['3', 'E_TYPE', 'price', 'Column "price": "x" is not a number.', 'B', 'x', '', '', ''],
      ['9', 'E_DUPLICATE_KEY', '', 'dup, with "quotes"\nand a newline', 'A', '2.5', '1970-01-01T00:00:00.000Z', '64b000000000000000000001', '{"a":1}'],
      ['12', 'E_COLUMN_COUNT', '', 'Expected 5 fields', '1', '2', '3', '4', '5', '6'],
      ['14', 'E_CSV_RECORD', '', 'not valid CSV'],
    ]);
    expect(file.rows).toBe(4);
  });

  it('escapes cells that a spreadsheet would run as formulas', () => {
    const path = join(dir, 'formula.csv');
    const file = new FailuresFile(path);
    file.setColumns(['a', 'b', 'c', 'd', 'e']);
    file.add({ line: 2, code: 'E_TYPE', message: 'm' }, { a: '=HYPERLINK("http://x","y")', b: '+1', c: '-2', d: '@SUM(A1)', e: 'plain' });
    file.close();
    const rows = parse(readFileSync(path)) as string[][];
    expect(rows[1]!.slice(4)).toEqual(["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2", "'@SUM(A1)", 'plain']);
  });

  it('a file with no failures still has its header; one whose header never came has the fixed columns', () => {
    const a = new FailuresFile(join(dir, 'none.csv'));
    a.setColumns(['sku']);
    a.close();
    expect(readFileSync(join(dir, 'none.csv'), 'utf8')).toBe('line,code,column,message,sku\n');
    const b = new FailuresFile(join(dir, 'noheader.csv'));
    b.close();
    expect(readFileSync(join(dir, 'noheader.csv'), 'utf8')).toBe('line,code,column,message\n');
  });

  it('a path that cannot be written fails at once', () => {
    expect(() => new FailuresFile(join(dir, 'missing-dir', 'x.csv'))).toThrow(/ENOENT/);
  });
});
