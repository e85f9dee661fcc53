// `pnpm --filter anti-oom-bench backends`: FerretDB's two backends side by side in one run, on what
// the test database is judged by: plain inserts, and keyed upserts into a collection that already
// holds the rows (a re-imported price list), with and without a unique index on the key.
// Writes bench/results/backends.json and regenerates bench/RESULTS.md.
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient, type AnyBulkWriteOperation, type Collection } from 'mongodb';
import { postgresReachable, startFerretdb, type FerretdbBackend } from '@anti-oom/testing';
import { renderResults, type ScenarioResult, type VariantResult } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '20000' },
    'budget-s': { type: 'string', default: '40' },
  },
});
const ROWS = Number(values.rows);
const BUDGET_MS = Number(values['budget-s']) * 1000;
const BATCH = 1000;
// Upserts go in small batches, FerretDB's best case: on both backends the time of one bulkWrite of
// upserts grows much faster than its size (on PostgreSQL, 10 took 0.25 s and 50 did not return within 15 s).
const UPSERT_BATCH = 10;
const notes: string[] = [];

interface Doc {
  sku: string;
  name: string;
  price: number;
}
const doc = (i: number, pass: number): Doc => ({ sku: `SKU-${i}`, name: `item ${i} v${pass}`, price: (i % 1000) + pass / 100 });

/** Writes batches until every row is written or the time budget is spent; rows/s over what was written. */
async function timed(write: (from: number, to: number) => Promise<unknown>, batch = BATCH): Promise<{ rows: number; seconds: number; complete: boolean }> {
  const start = performance.now();
  let rows = 0;
  while (rows < ROWS && performance.now() - start < BUDGET_MS) {
    const to = Math.min(rows + batch, ROWS);
    await write(rows, to);
    rows = to;
  }
  return { rows, seconds: (performance.now() - start) / 1000, complete: rows === ROWS };
}

const upserts = (from: number, to: number, pass: number): AnyBulkWriteOperation<Doc>[] =>
  Array.from({ length: to - from }, (_, k) => ({ replaceOne: { filter: { sku: `SKU-${from + k}` }, replacement: doc(from + k, pass), upsert: true } }));

// The same rows with the key as `_id`: the one filter FerretDB 1.x answers from an index on SQLite
// (it pushes down only `{ _id: <string or ObjectId> }`); every other key scans the collection.
type IdDoc = Doc & { _id: string };
const idUpserts = (from: number, to: number, pass: number): AnyBulkWriteOperation<IdDoc>[] =>
  Array.from({ length: to - from }, (_, k) => ({ replaceOne: { filter: { _id: `SKU-${from + k}` }, replacement: { _id: `SKU-${from + k}`, ...doc(from + k, pass) }, upsert: true } }));

/** `work`, or `undefined` when it has not settled within 1.5 time budgets (a batch FerretDB never answers). */
function bounded<T>(work: Promise<T>): Promise<T | undefined> {
  work.catch(() => {});
  return Promise.race([work, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), BUDGET_MS * 1.5).unref())]);
}

function noReturn(name: string, what: string): void {
  console.log(`  ${name}: ${what}: no batch returned within ${(BUDGET_MS * 1.5) / 1000} s`);
  notes.push(`${name}: ${what}: no batch returned within ${(BUDGET_MS * 1.5) / 1000} s.`);
}

async function measure(backend: FerretdbBackend): Promise<VariantResult[]> {
  const server = await startFerretdb(() => {}, backend);
  const client = await MongoClient.connect(server.uri);
  const results: VariantResult[] = [];
  const record = (label: string, variant: string, r: { rows: number; seconds: number; complete: boolean }) => {
    const rps = r.rows / r.seconds;
    const one = { median: rps, min: rps, max: rps };
    console.log(`  ${label}: ${Math.round(rps).toLocaleString('en')} rows/s (${r.rows} rows in ${r.seconds.toFixed(1)} s${r.complete ? '' : ', stopped at the time budget'})`);
    results.push({ label, variant, rows: r.rows, bytes: 0, runs: 1, mbps: { median: 0, min: 0, max: 0 }, rowsPerSecond: one, peakRssMB: { median: 0, min: 0, max: 0 }, extra: r });
  };
  try {
    const name = server.description ?? backend;
    console.log(`» ${name}`);
    const db = client.db('bench');
    const plain: Collection<Doc> = db.collection('plain');
    record(`${name}: insert`, `insert-${backend}`, await timed((f, t) => plain.insertMany(Array.from({ length: t - f }, (_, k) => doc(f + k, 0)), { ordered: false })));
    // Upsert over the rows already there, without an index on the key, then with a unique one.
    record(`${name}: upsert by sku, no index`, `upsert-noindex-${backend}`, await timed((f, t) => plain.bulkWrite(upserts(f, t, 1), { ordered: false }), UPSERT_BATCH));
    await plain.createIndex({ sku: 1 }, { unique: true });
    record(`${name}: upsert by sku, unique index`, `upsert-index-${backend}`, await timed((f, t) => plain.bulkWrite(upserts(f, t, 2), { ordered: false }), UPSERT_BATCH));
    const byId: Collection<IdDoc> = db.collection('byid');
    await byId.insertMany(Array.from({ length: ROWS }, (_, i) => ({ _id: `SKU-${i}`, ...doc(i, 0) })), { ordered: false });
    record(`${name}: upsert by _id (the key as _id)`, `upsert-id-${backend}`, await timed((f, t) => byId.bulkWrite(idUpserts(f, t, 1), { ordered: false }), UPSERT_BATCH));
    // What an import with the default batch size (1000) sends; bounded, since SQLite may not return.
    const big = await bounded(timed((f, t) => plain.bulkWrite(upserts(f, t, 3), { ordered: false }), BATCH));
    if (big) record(`${name}: upsert by sku, unique index, batches of ${BATCH}`, `upsert-index-1000-${backend}`, big);
    else noReturn(name, `upserts by sku in batches of ${BATCH} (the default batch size)`);
  } finally {
    await client.close();
    await server.stop();
  }
  return results;
}

const variants: VariantResult[] = [];
notes.unshift(`${ROWS.toLocaleString('en')} narrow documents (sku, name, price) inserted in batches of ${BATCH}, upserted in batches of ${UPSERT_BATCH} (bulkWrite of replaceOne with upsert), one client, awaited; each case stops at ${BUDGET_MS / 1000} s and reports rows/s over what it wrote. The upserts replace documents that are already in the collection (a re-imported file).`);
variants.push(...(await measure('sqlite')));
if (await postgresReachable()) variants.push(...(await measure('postgresql')));
else notes.push('PostgreSQL backend: not measured (no PostgreSQL answered at ANTI_OOM_POSTGRES_URL or 127.0.0.1:5432).');

const result: ScenarioResult = { name: 'backends', title: 'FerretDB v1.24.2: SQLite and PostgreSQL backends, insert and keyed upsert', variants, notes };
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  database: 'FerretDB v1.24.2, both backends',
  date: new Date().toISOString().slice(0, 10),
  command: `pnpm --filter anti-oom-bench backends ${process.argv.slice(2).join(' ')}`.trim(),
};
mkdirSync(join(ROOT, 'results'), { recursive: true });
writeFileSync(join(ROOT, 'results', 'backends.json'), `${JSON.stringify({ machine, ...result }, null, 2)}\n`);
writeFileSync(join(ROOT, 'RESULTS.md'), renderResults(undefined, join(ROOT, 'results')));
console.log('» wrote bench/results/backends.json and bench/RESULTS.md');
