// Queue mode, measured here: imports through Redis + GridFS + worker processes, 1 worker against
// 2, in alternating paired rounds (A B A B). Counts Redis commands, storage bytes and database
// writes per import, then prints the capacity model (docs/scaling.md) from the figures.
// Run: corepack pnpm --filter anti-oom-bench queue   (writes bench/results/queue.json)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { startMongo, startRedis } from '@anti-oom/testing';
import { createIngestQueue, gridfsStorage } from '@anti-oom/queue';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = fileURLToPath(new URL('../../packages/queue/test/fixtures/worker.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../packages/queue/tsconfig.json', import.meta.url));
const IMPORTS = Number(process.env.IMPORTS ?? 4);
const ROWS = Number(process.env.ROWS ?? 20_000);
const BATCH = 1000;
const ROUNDS = Number(process.env.ROUNDS ?? 2);

function csv(tag: string): string {
  const lines = ['sku,name,qty'];
  for (let i = 1; i <= ROWS; i++) lines.push(`${tag}-${i},"item ${i}, with a comma",${i % 1000}`);
  return `${lines.join('\n')}\n`;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function redisCalls(port: number): number {
  const info = execFileSync('redis-cli', ['-p', String(port), 'info', 'commandstats'], { encoding: 'utf8' });
  let calls = 0;
  for (const m of info.matchAll(/calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

const mongo = await startMongo({ log: () => {} });
const redis = await startRedis();
const client = await MongoClient.connect(mongo.uri);
const db = client.db('bench_queue');
await db.dropDatabase();
const queue = createIngestQueue({ connection: redis.url, storage: gridfsStorage(db), prefix: 'bench' });

async function round(workers: number, r: number): Promise<{ workers: number; seconds: number; rowsPerSecond: number; cpuPerWorker: number[]; redisCommands: number; batches: number }> {
  const children: ChildProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG, REDIS_URL: redis.url, MONGODB_URI: mongo.uri, TEST_DB: db.databaseName, PREFIX: 'bench', BATCH_SIZE: String(BATCH), CONCURRENCY: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += String(c)));
    while (!out.includes('ready')) await new Promise((res) => setTimeout(res, 50));
    children.push(child);
  }
  // The files are stored first: the round times the workers only.
  await queue.queue.pause();
  const ids: string[] = [];
  for (let i = 0; i < IMPORTS; i++) ids.push(await queue.add(Readable.from([csv(`r${r}w${workers}i${i}`)]), { collection: `w${workers}_r${r}_${i}` }));
  const cpu0 = children.map((c) => cpuSeconds(c.pid!));
  const calls0 = redisCalls(redis.port);
  const t0 = performance.now();
  await queue.queue.resume();
  let batches = 0;
  for (const id of ids) {
    for (;;) {
      const rec = await queue.get(id);
      if (rec?.report) {
        if (rec.report.state !== 'done') throw new Error(`import ${id} ended ${rec.report.state}`);
        batches += rec.report.batchesWritten;
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuPerWorker = children.map((c, i) => cpuSeconds(c.pid!) - cpu0[i]!);
  const redisCommands = redisCalls(redis.port) - calls0;
  for (const c of children) {
    c.kill('SIGTERM');
    await once(c, 'exit');
  }
  return { workers, seconds, rowsPerSecond: (IMPORTS * ROWS) / seconds, cpuPerWorker, redisCommands, batches };
}

const results: Awaited<ReturnType<typeof round>>[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const workers of [1, 2]) {
    const res = await round(workers, r);
    results.push(res);
    console.log(`round ${r + 1}, ${workers} worker(s): ${IMPORTS} x ${ROWS} rows in ${res.seconds.toFixed(1)} s = ${Math.round(res.rowsPerSecond)} rows/s; worker CPU ${res.cpuPerWorker.map((c) => c.toFixed(1)).join(' + ')} s; Redis ${res.redisCommands} commands (${(res.redisCommands / res.batches).toFixed(1)} per batch of ${BATCH})`);
  }
}
const bytesPerRow = Buffer.byteLength(csv('r0w1i0')) / ROWS;
const avg = (w: number, f: (x: (typeof results)[number]) => number) => {
  const xs = results.filter((x) => x.workers === w).map(f);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};
const one = avg(1, (x) => x.rowsPerSecond);
const two = avg(2, (x) => x.rowsPerSecond);
const commandsPerBatch = avg(1, (x) => x.redisCommands / x.batches);
const cpuPerMillionRows = avg(1, (x) => x.cpuPerWorker.reduce((a, b) => a + b, 0) / ((IMPORTS * ROWS) / 1e6));

console.log(`\n1 worker: ${Math.round(one)} rows/s; 2 workers: ${Math.round(two)} rows/s (x${(two / one).toFixed(2)}); ${cpus().length} cores shared with the database server`);
console.log(`worker CPU: ${cpuPerMillionRows.toFixed(1)} s per million rows; Redis: ${commandsPerBatch.toFixed(1)} commands per batch of ${BATCH} rows; ${bytesPerRow.toFixed(1)} bytes per row`);

// The capacity model: workers needed for a target, from the figures above. Each GB imported
// means rowsPerGB rows: stored once and read once (storage), rowsPerGB / BATCH batches (Redis,
// MongoDB bulk writes), rowsPerGB inserts. A worker is bounded by its database's write rate, so
// the per-worker rate measured here is a floor for a real MongoDB.
const rowsPerGB = 1e9 / bytesPerRow;
console.log(`\nper GB imported: ${(rowsPerGB / 1e6).toFixed(1)} M rows; storage: 1 GB written + 1 GB read; MongoDB: ${Math.round(rowsPerGB / BATCH).toLocaleString('en')} bulk writes of ${BATCH}; Redis: ~${Math.round((rowsPerGB / BATCH) * commandsPerBatch).toLocaleString('en')} commands`);
// A worker's own ceiling: one core's worth of its measured CPU per row (parse, map, batch,
// BSON); reached only when the database keeps up.
const cpuCeiling = 1e6 / cpuPerMillionRows;
console.log(`one worker's CPU ceiling (1 core): ${Math.round(cpuCeiling).toLocaleString('en')} rows/s`);
console.log('\n| target | rows/s needed | workers at the rate measured here (database-bound) | workers at their CPU ceiling (a database that keeps up) | Redis commands/s | storage MB/s (write + read) |');
console.log('|---|---|---|---|---|---|');
for (const gbPerHour of [1, 10, 50]) {
  const rowsPerSecond = (gbPerHour * rowsPerGB) / 3600;
  const mbPerSecond = ((gbPerHour * 1000) / 3600) * 2;
  console.log(`| ${gbPerHour} GB/hour | ${Math.round(rowsPerSecond).toLocaleString('en')} | ${Math.ceil(rowsPerSecond / one)} | ${Math.ceil(rowsPerSecond / cpuCeiling)} | ${Math.round((rowsPerSecond / BATCH) * commandsPerBatch).toLocaleString('en')} | ${mbPerSecond.toFixed(1)} |`);
}
mkdirSync(join(ROOT, 'results'), { recursive: true });
writeFileSync(join(ROOT, 'results', 'queue.json'), `${JSON.stringify({ imports: IMPORTS, rows: ROWS, batch: BATCH, database: mongo.kind, results, oneWorker: one, twoWorkers: two, commandsPerBatch, cpuPerMillionRows, cpuCeiling, bytesPerRow }, null, 2)}\n`);
await queue.close();
await client.close();
await redis.stop();
await mongo.stop();
