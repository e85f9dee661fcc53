import { RowFailureCode, type Batch, type BatchWriter, type RowFailure, type WriteResult } from '@anti-oom/core';
import type { Pool, PoolClient } from 'pg';

/** Options of {@link postgresSink}. */
export interface PostgresSinkOptions {
  /** The table; it must have a unique index on `key`. */
  table: string;
  /** The document fields to write, one column each, by the same name. */
  columns: readonly string[];
  /** The columns that identify a row: a later row in the file replaces an earlier one. */
  key: readonly string[];
}

/** SQLSTATE classes that mean "this row's data", not "this connection": 22 data exception, 23 integrity. */
const isRowError = (err: unknown): err is Error & { code: string } => /^2[23]/.test((err as { code?: string }).code ?? '');

/** Connection-level failures worth retrying: the sink backs off and writes the batch again. */
const TRANSIENT = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006', '40001', '40P01']);

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Upserts each batch into PostgreSQL in one statement. When PostgreSQL refuses the statement for
 * a row's data (too long, wrong type, a check constraint), the batch is written again row by row
 * under savepoints, so only the rows at fault fail, each with its line. Upsert makes a retried
 * batch harmless.
 */
export function postgresSink(pool: Pool, options: PostgresSinkOptions): BatchWriter {
  const { table, columns, key } = options;
  const names = columns.map(ident).join(', ');
  const updates = columns.filter((c) => !key.includes(c)).map((c) => `${ident(c)} = excluded.${ident(c)}`);
  const onConflict = `ON CONFLICT (${key.map(ident).join(', ')}) ${updates.length ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
  const keyOf = (doc: Record<string, unknown>) => JSON.stringify(key.map((k) => doc[k]));

  const insert = (client: PoolClient, docs: Record<string, unknown>[]) => {
    const values: unknown[] = [];
    const rows = docs.map((doc) => `(${columns.map((c) => `$${values.push(doc[c] ?? null)}`).join(', ')})`);
    return client.query(`INSERT INTO ${ident(table)} (${names}) VALUES ${rows.join(', ')} ${onConflict}`, values);
  };

  return {
    async write(batch: Batch): Promise<WriteResult> {
      // One statement may not touch a key twice; the later row in the file wins, as in mongoSink.
      const last = new Map<string, Batch['items'][number]>();
      for (const item of batch.items) last.set(keyOf(item.document), item);
      const items = [...last.values()];
      const folded = batch.items.length - items.length;
      const client = await pool.connect();
      try {
        try {
          await client.query('BEGIN');
          await insert(client, items.map((i) => i.document));
          await client.query('COMMIT');
          return { written: batch.items.length, inserted: 0, upserted: items.length, matched: 0, modified: 0, failures: [] };
        } catch (err) {
          await client.query('ROLLBACK');
          if (!isRowError(err)) throw err;
        }
        const failures: RowFailure[] = [];
        await client.query('BEGIN');
        for (const item of items) {
          await client.query('SAVEPOINT row');
          try {
            await insert(client, [item.document]);
            await client.query('RELEASE SAVEPOINT row');
          } catch (err) {
            if (!isRowError(err)) throw err;
            await client.query('ROLLBACK TO SAVEPOINT row');
            failures.push({ line: item.line, code: RowFailureCode.E_WRITE, message: `PostgreSQL refused the row: ${err.message}` });
          }
        }
        await client.query('COMMIT');
        const upserted = items.length - failures.length;
        return { written: upserted + folded, inserted: 0, upserted, matched: 0, modified: 0, failures };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    keysOf: (batch) => new Set(batch.items.map((i) => keyOf(i.document))),
    isTransient: (err) => TRANSIENT.has((err as { code?: string }).code ?? ''),
    async ping() {
      await pool.query('SELECT 1');
    },
  };
}
