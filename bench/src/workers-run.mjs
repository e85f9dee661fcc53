// One measurement of the workers bench in a fresh process: node src/workers-run.mjs <json>.
// Prints one JSON line: wall and CPU time of the whole process (every thread), rows, peak RSS.
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { file, workers, types, uri, db, collection } = JSON.parse(process.argv[2]);
const core = await import('@anti-oom/core');
const ack = fileURLToPath(new URL('./workers-ack.mjs', import.meta.url));
let sink;
let client;
if (uri && workers === 0) {
  const { MongoClient } = await import('mongodb');
  client = await MongoClient.connect(uri);
  sink = core.mongoSink(client.db(db).collection(collection));
} else if (workers === 0) {
  sink = { async write(b) { const n = b.items.length; return { written: n, inserted: n, upserted: 0, matched: 0, modified: 0, failures: [] }; } };
}
const target = workers === 0 ? { sink } : { workers: uri ? { count: workers, mongo: { uri, db, collection } } : { count: workers, module: ack } };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const report = await core.createIngestPipeline({ ...target, types, memory: false }).run(createReadStream(file, { highWaterMark: 64 * 1024 }));
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await client?.close();
console.log(JSON.stringify({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, rows: report.rowsWritten, failed: report.rowsFailed, peakRssMB: process.resourceUsage().maxRSS / 1024 }));
