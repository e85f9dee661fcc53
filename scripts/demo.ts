// `pnpm demo`: generate a CSV of about a million rows, find or start the test database, stream the
// file in with heartbeat lines, and print the final report. Uses the built @anti-oom/core, as a user would.
import { createWriteStream, createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { createIngestPipeline, isIngestError, mongoSink, type IngestLogger } from '@anti-oom/core';
import { startMongo } from '@anti-oom/testing';

const ROWS = Number(process.env.DEMO_ROWS ?? 1_000_000);
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

/** Seeded, so every run makes the same file: ~1 row in 20 000 has a price that is not a number. */
async function writeCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  out.write('sku,name,category,price,qty,active\n');
  for (let i = 0; i < rows; ) {
    let chunk = '';
    for (const end = Math.min(rows, i + 5000); i < end; i++) {
      const price = i % 20_000 === 19_999 ? 'n/a' : (rand() * 500).toFixed(2);
      chunk += `SKU-${String(i).padStart(7, '0')},"Product ${i}, size ${1 + (i % 9)}",cat-${i % 37},${price},${Math.floor(rand() * 1000)},${i % 3 ? 'true' : 'false'}\n`;
    }
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Prints the pipeline's info lines as `key=value` heartbeats. */
const logger: IngestLogger = {
  debug() {},
  info(obj, msg) {
    const fields = Object.entries(obj)
      .filter(([k]) => k !== 'importId')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    console.log(`  ${msg ?? ''}: ${fields}`);
  },
  warn: (obj, msg) => console.warn(`  warn ${msg}`, obj),
  error: (obj, msg) => console.error(`  error ${msg}`, obj),
};

const dir = mkdtempSync(join(tmpdir(), 'anti-oom-demo-'));
const file = join(dir, 'products.csv');
console.log(`» generating ${ROWS.toLocaleString('en')} rows`);
await writeCsv(file, ROWS);
console.log(`  ${file}: ${mb(statSync(file).size)}`);

console.log('» finding a database');
const server = await startMongo({ log: (m) => console.log(`  ${m}`) });
console.log(`  ${server.description ?? server.kind} at ${server.uri}`);
const client = await MongoClient.connect(server.uri);
const collection = client.db('anti_oom_demo').collection('products');
await collection.drop().catch(() => {});

const rssBefore = process.memoryUsage().rss;
console.log(`» importing (process RSS before the import: ${mb(rssBefore)})`);
const pipeline = createIngestPipeline({
  sink: mongoSink(collection, { mode: 'insert' }),
  types: { price: 'number', qty: 'int', active: 'boolean' },
  batch: { size: 2000 },
  concurrency: 2,
  logger,
  heartbeatMs: 2000,
});
try {
  const report = await pipeline.run(createReadStream(file));
  console.log('» done');
  console.log(
    `  state=${report.state} read=${report.rowsRead} written=${report.rowsWritten} failed=${report.rowsFailed} skipped=${report.rowsSkipped}`,
  );
  console.log(
    `  ${report.rowsPerSecond.toLocaleString('en')} rows/s, ${(report.elapsedMs / 1000).toFixed(1)} s, ` +
      `peak heap ${mb(report.peakHeapUsedBytes)}, peak RSS ${mb(report.peakRssBytes)} (${mb(rssBefore)} before the import)`,
  );
  for (const f of report.failures.slice(0, 3)) console.log(`  line ${f.line}: ${f.code} ${f.message}`);
  console.log(`  documents in the collection: ${await collection.countDocuments()}`);
} catch (err) {
  if (!isIngestError(err)) throw err;
  console.error(`import ended early: ${err.code}: ${err.message}`);
  process.exitCode = 1;
} finally {
  await client.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
