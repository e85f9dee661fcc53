// The custom-sink recipe of docs/recipes.md, run against the PostgreSQL server on this machine
// (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createIngestPipeline, RowFailureCode } from '@anti-oom/core';
import { postgresSink } from '../src/postgres-sink.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 4 });
const table = `products_${randomUUID().replaceAll('-', '').slice(0, 10)}`;

beforeAll(async () => {
  await pool.query(`CREATE TABLE ${table} (sku text PRIMARY KEY, name varchar(20) NOT NULL, price numeric CHECK (price >= 0))`);
});
afterAll(async () => {
  await pool.query(`DROP TABLE IF EXISTS ${table}`);
  await pool.end();
});

function csv(n: number): string {
  let s = 'sku,name,price\n';
  for (let i = 0; i < n; i++) {
    if (i === 1234) s += `s${i},${'a name far too long for twenty characters'},1\n`;
    else if (i === 2345) s += `s${i},negative,-5\n`;
    else s += `s${i},Product ${i},${i % 100}\n`;
  }
  return s + 's7,Product seven again,7.5\n'; // a later row for a key already in the file
}

describe('the PostgreSQL sink recipe', () => {
  const sink = () => postgresSink(pool, { table, columns: ['sku', 'name', 'price'], key: ['sku'] });

  it('lands every row, fails only the rows PostgreSQL refuses (with their lines), and a later row wins', async () => {
    const report = await createIngestPipeline({ sink: sink(), types: { price: 'number' }, batch: { size: 500 } }).run([csv(5000)]);
    expect(report).toMatchObject({ state: 'done', rowsRead: 5001, rowsWritten: 4999, rowsFailed: 2 });
    expect(report.failures.map((f) => [f.line, f.code])).toEqual([
      [1236, RowFailureCode.E_WRITE],
      [2347, RowFailureCode.E_WRITE],
    ]);
    expect(report.failures[0]!.message).toMatch(/value too long/);
    expect(report.failures[1]!.message).toMatch(/check constraint/);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${table}`);
    expect(rows[0].n).toBe(4998);
    const seven = await pool.query(`SELECT name, price FROM ${table} WHERE sku = 's7'`);
    expect(seven.rows[0]).toEqual({ name: 'Product seven again', price: '7.5' });
  });

  it('importing the same file again changes nothing', async () => {
    const report = await createIngestPipeline({ sink: sink(), types: { price: 'number' } }).run([csv(5000)]);
    expect(report).toMatchObject({ rowsWritten: 4999, rowsFailed: 2 });
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${table}`);
    expect(rows[0].n).toBe(4998);
  });
});
