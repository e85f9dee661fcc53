// Usage: pnpm --filter example-postgres-sink start <file.csv>   (PG* variables or DATABASE_URL)
// Imports sku,name,price rows into the PostgreSQL table "products", created if missing.
import { createReadStream } from 'node:fs';
import pg from 'pg';
import { createIngestPipeline } from '@anti-oom/core';
import { postgresSink } from './postgres-sink.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: import <file.csv>');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
await pool.query('CREATE TABLE IF NOT EXISTS products (sku text PRIMARY KEY, name varchar(200) NOT NULL, price numeric)');
const pipeline = createIngestPipeline({
  sink: postgresSink(pool, { table: 'products', columns: ['sku', 'name', 'price'], key: ['sku'] }),
  types: { price: 'number' },
});
pipeline.on('progress', (p) => process.stdout.write(`\rwritten ${p.rowsWritten}, failed ${p.rowsFailed}`));
const report = await pipeline.run(createReadStream(file));
console.log(`\n${report.rowsRead} read = ${report.rowsWritten} written + ${report.rowsFailed} failed + ${report.rowsSkipped} skipped`);
for (const f of report.failures) console.log(`line ${f.line}: ${f.code} ${f.message}`);
await pool.end();
