// `pnpm bench`: every scenario, side by side in one run, several times after a warm-up.
// Options: --scenarios parse,pipeline,database,memory,memory-driver,backpressure,checkpoint,clients  --sizes 10MB,100MB,1GB
//          --runs 5  --db-size 10MB  --shapes narrow,wide  --clients-rows 500000  --clients-targets ack,db  --clients-db-runs 2
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startMongo, type MongoServer } from '@anti-oom/testing';
import { clientsFile, dataFile, parseSize, sizeLabel, sizeOf, type Shape } from './data.js';
import { clients, clientsScenario, databaseTarget, measureClients, startAckTarget, type Target } from './clients.js';
import { memoryDriverScenario } from './memory-driver.js';
import { timedUnavailable } from './timed.js';
import { renderMemoryDoc, renderMongoimportDoc, renderReadmeBench, renderResults, renderTargets, type ScenarioResult, type VariantResult } from './report.js';
import { round, spread } from './stats.js';
import { findMongoimport } from './tools.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MEMORY_DOC = join(ROOT, '..', 'docs', 'memory.md');
const README = join(ROOT, '..', 'README.md');
const MONGOIMPORT_DOC = join(ROOT, '..', 'docs', 'from-mongoimport.md');

/** The memory guide and the README show the same figures as RESULTS.md, put back between their markers. */
function writeMemoryDoc(): void {
  writeFileSync(MEMORY_DOC, renderMemoryDoc(readFileSync(MEMORY_DOC, 'utf8'), join(ROOT, 'results')));
  writeFileSync(README, renderReadmeBench(readFileSync(README, 'utf8'), join(ROOT, 'results')));
  writeFileSync(MONGOIMPORT_DOC, renderMongoimportDoc(readFileSync(MONGOIMPORT_DOC, 'utf8'), join(ROOT, 'results')));
}
const { values } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'parse,pipeline,database,memory,memory-driver,backpressure,checkpoint,clients' },
    sizes: { type: 'string', default: '10MB,100MB' },
    runs: { type: 'string', default: '5' },
    'db-size': { type: 'string', default: '10MB' },
    shapes: { type: 'string', default: 'narrow,wide' },
    'clients-rows': { type: 'string', default: '500000' },
    'clients-targets': { type: 'string', default: 'ack,db' },
    'clients-db-runs': { type: 'string', default: '2' },
    render: { type: 'boolean', default: false },
  },
});
if (values.render) {
  // Only regenerate RESULTS.md from the results already in bench/results.
  writeFileSync(join(ROOT, 'RESULTS.md'), renderResults(undefined, join(ROOT, 'results')));
  writeMemoryDoc();
  console.log('» wrote bench/RESULTS.md and the tables of docs/memory.md, docs/from-mongoimport.md and README.md');
  console.log(`» targets:\n${renderTargets(join(ROOT, 'results'))}`);
  process.exit(0);
}
const scenarios = values.scenarios!.split(',');
const sizes = values.sizes!.split(',').map(parseSize).sort((a, b) => a - b);
const runs = Number(values.runs);
const shapes = values.shapes!.split(',') as Shape[];
const mainSize = sizes.includes(parseSize('100MB')) ? parseSize('100MB') : sizes.at(-1)!;

interface RunOutput {
  seconds: number;
  rows: number;
  maxRssBytes: number;
  [extra: string]: unknown;
}

/** Runs one worker process; `nodeFlags` go before the script (e.g. a heap limit). */
function runWorker(variant: string, file: string, options: object = {}, nodeFlags: string[] = []): { ok: true; out: RunOutput } | { ok: false; status: string; stderr: string } {
  const r = spawnSync(process.execPath, [...nodeFlags, 'src/worker.mjs', variant, file, JSON.stringify(options)], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) return { ok: false, status: r.signal ? `signal ${r.signal}` : `exit code ${r.status}`, stderr: r.stderr };
  return { ok: true, out: JSON.parse(r.stdout.trim().split('\n').at(-1)!) as RunOutput };
}

/** Warm-up, then `runs` measured runs, each in a fresh process. */
function measure(label: string, variant: string, file: string, options: object = {}, times = runs): VariantResult {
  const bytes = sizeOf(file);
  process.stdout.write(`  ${label.padEnd(50).slice(0, 50)} `);
  const warm = runWorker(variant, file, options);
  if (!warm.ok) throw new Error(`${variant} failed: ${warm.stderr}`);
  const outs: RunOutput[] = [];
  for (let i = 0; i < times; i++) {
    const r = runWorker(variant, file, options);
    if (!r.ok) throw new Error(`${variant} failed: ${r.stderr}`);
    outs.push(r.out);
  }
  const mbps = spread(outs.map((o) => bytes / 1048576 / o.seconds));
  const rowsPerSecond = spread(outs.map((o) => o.rows / o.seconds));
  const peakRssMB = spread(outs.map((o) => o.maxRssBytes / 1048576));
  console.log(`${round(mbps.median)} MB/s (${round(mbps.min)}–${round(mbps.max)}), ${Math.round(rowsPerSecond.median)} rows/s, peak RSS ${round(peakRssMB.max)} MB`);
  return { label, variant, rows: outs[0]!.rows, bytes, runs: times, mbps, rowsPerSecond, peakRssMB, extra: outs[0] };
}

async function parseScenario(): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const shape of shapes) {
    const file = await dataFile(shape, mainSize);
    console.log(`» parse, ${shape} ${sizeLabel(mainSize)}`);
    const variants = [
      measure('read + UTF-8 decode + count newlines', 'read-decode', file),
      measure('csv-parse, columns: true', 'csv-parse-columns', file),
      measure('csv-parse, arrays', 'csv-parse-arrays', file),
      measure('papaparse, header: true', 'papaparse', file),
      measure('udsv, string objects', 'udsv', file),
      measure('createCsvParser, csv-parse engine', 'anti-oom-parser', file, { engine: 'csv-parse' }),
      measure('createCsvParser, fast engine (default)', 'anti-oom-parser-fast', file, { engine: 'fast' }),
      measure('floor: indexOf + slice into the same records, no quotes, lines or errors', 'floor-minimal', file),
    ];
    // Each worker reports how long its imports took (worker.mjs, parseVariants), outside the clock.
    const importMs = (variant: string) => {
      const s = (variants.find((v) => v.variant === variant)?.extra as { importSeconds?: number } | undefined)?.importSeconds;
      return s === undefined ? '?' : String(Math.round(s * 1000));
    };
    out.push({
      name: `parse-${shape}`,
      title: `Parse: ${shape} file, ${sizeLabel(mainSize)}, 64 KiB chunks, to a counter`,
      baseline: 'hand-rolled: csv-parse columns',
      variants,
      notes: [
        'The floor is not a parser (bench/src/worker.mjs, `floor-minimal`): it makes the records createCsvParser hands on, each field found with `indexOf` and cut with `slice`, ' +
          'and handles no quotes, CR, bad bytes or errors' +
          (shape === 'wide' ? ' (here it splits quoted commas too, so its rows are wrong: it measures the work, not a parse)' : '') +
          '. It is how fast a JavaScript parser could be at best on this machine, for the fast engine to be compared with.',
        'Every variant is timed from after its imports, as the ceiling (read + decode) imports nothing: loading a module is paid once per process, not per byte, ' +
          `so it is left out of MB/s alike for all. Imports took (one run, wall): @anti-oom/core ${importMs('anti-oom-parser-fast')} ms, ` +
          `csv-parse ${importMs('csv-parse-arrays')} ms, papaparse ${importMs('papaparse')} ms, udsv ${importMs('udsv')} ms.`,
      ],
    });
  }
  return out;
}

async function pipelineScenario(): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const shape of shapes) {
    const file = await dataFile(shape, mainSize);
    console.log(`» pipeline to a null sink, ${shape} ${sizeLabel(mainSize)}`);
    out.push({
      name: `pipeline-${shape}`,
      title: `Pipeline to a sink that acknowledges at once: ${shape} file, ${sizeLabel(mainSize)}`,
      variants: [
        measure('hand-rolled (csv-parse columns+trim, batches of 1000, awaited writes)', 'hand-rolled-null', file),
        measure('createIngestPipeline, csv-parse engine', 'anti-oom-null', file, { engine: 'csv-parse' }),
        measure('createIngestPipeline, fast engine (default)', 'anti-oom-null-fast', file, { engine: 'fast' }),
      ],
    });
  }
  return out;
}

async function databaseScenario(server: MongoServer, mongoimport: ReturnType<typeof findMongoimport>): Promise<ScenarioResult[]> {
  const dbSize = parseSize(values['db-size']!);
  const file = await dataFile('narrow', dbSize);
  const dbRuns = Math.min(runs, 3);
  console.log(`» into ${server.kind}, narrow ${sizeLabel(dbSize)}, insert mode`);
  const variants = [
    measure('createIngestPipeline, concurrency 1', 'anti-oom-db', file, { uri: server.uri, concurrency: 1 }, dbRuns),
    measure('createIngestPipeline, concurrency 2', 'anti-oom-db', file, { uri: server.uri, concurrency: 2 }, dbRuns),
    measure('createIngestPipeline, concurrency 4', 'anti-oom-db', file, { uri: server.uri, concurrency: 4 }, dbRuns),
    measure('createIngestPipeline, concurrency 2, fast engine', 'anti-oom-db-fast', file, { uri: server.uri, concurrency: 2, engine: 'fast' }, dbRuns),
    measure('hand-rolled (batches of 1000, awaited insertMany)', 'hand-rolled-db', file, { uri: server.uri }, dbRuns),
    measure('naive (readFileSync + sync parse, full heap)', 'naive-db', file, { uri: server.uri }, dbRuns),
  ];
  // The naive approach under a 256 MB heap, on a file that size kills it.
  const big = await dataFile('narrow', parseSize('100MB'));
  const died = runWorker('naive-db', big, { uri: server.uri }, ['--max-old-space-size=256']);
  const naiveSmallHeap = died.ok
    ? `survived (${round(died.out.maxRssBytes / 1048576)} MB peak RSS)`
    : `died (${died.status}): ${/heap out of memory/i.test(died.stderr) ? 'JavaScript heap out of memory' : died.stderr.trim().split('\n').at(-1)}`;
  console.log(`  naive, --max-old-space-size=256, 100MB file: ${naiveSmallHeap}`);
  return [
    {
      name: 'database',
      title: `Into ${server.description ?? server.kind}: narrow file, ${sizeLabel(dbSize)}, insert mode`,
      variants,
      notes: [
        `naive approach with --max-old-space-size=256 on the 100MB file: ${naiveSmallHeap}`,
        'error' in mongoimport ? `mongoimport: not available here. ${mongoimport.error}` : '',
      ].filter(Boolean),
    },
  ];
}

async function checkpointScenario(server: MongoServer): Promise<ScenarioResult[]> {
  const file = await dataFile('narrow', mainSize);
  console.log(`» checkpoint cost, narrow ${sizeLabel(mainSize)}, null sink, checkpoints in ${server.kind}`);
  const out: ScenarioResult[] = [];
  for (const engine of ['csv-parse', 'fast'] as const) {
    const suffix = engine === 'fast' ? '-fast' : '';
    const opts = { uri: server.uri, engine };
    const without = measure(`fileSource, no resume (${engine} engine)`, `anti-oom-seekable-null${suffix}`, file, opts);
    const withResume = measure(`fileSource, resume: mongoCheckpoints (${engine} engine)`, `anti-oom-resume-null${suffix}`, file, opts);
    const checkpoints = (withResume.extra as { checkpoints?: number } | undefined)?.checkpoints;
    out.push({
      name: `checkpoint${suffix}`,
      title: `Checkpoint cost: ${sizeLabel(mainSize)} narrow file to a sink that acknowledges at once, ${engine} engine, with and without \`resume\``,
      variants: [without, withResume],
      notes: [
        `resume / no resume: ${round((withResume.rowsPerSecond.median / without.rowsPerSecond.median) * 100)}% of the rows/s (target ≥ 95%); ${checkpoints ?? '?'} checkpoints written (default interval 1000 ms) to ${server.kind === 'ferretdb' ? 'FerretDB' : server.kind}.`,
      ],
    });
  }
  return out;
}

async function memoryScenario(): Promise<ScenarioResult[]> {
  console.log(`» memory flatness, narrow ${sizes.map(sizeLabel).join(', ')}`);
  const variants: VariantResult[] = [];
  for (const size of sizes) variants.push(measure(`createIngestPipeline, ${sizeLabel(size)}`, 'anti-oom-null', await dataFile('narrow', size), {}, size >= 1024 ** 3 ? Math.min(runs, 3) : runs));
  return [{ name: 'memory', title: 'Peak RSS through the pipeline (null sink) by file size, narrow file', variants }];
}

async function backpressureScenario(): Promise<ScenarioResult[]> {
  const file = await dataFile('narrow', mainSize);
  // The null-sink pipeline reads ~300k rows/s here; 1000-row batches every 150 ms is ~50x slower.
  console.log('» backpressure: a sink ~50x slower than the source, 20 s');
  const r = runWorker('backpressure', file, { delayMs: 150, seconds: 20 });
  if (!r.ok) throw new Error(r.stderr);
  return [
    {
      name: 'backpressure',
      title: 'Backpressure: a sink ~50x slower than the source (1000-row batches, 150 ms each), sampled every second',
      variants: [],
      samples: r.out.samples as ScenarioResult['samples'],
      notes: [`peak RSS ${round(r.out.maxRssBytes / 1048576)} MB; ${r.out.rows} rows written in 20 s while the file holds ${sizeLabel(sizeOf(file))}`],
    },
  ];
}

/** The servers the clients scenario wrote to, for the machine line of the results. */
const clientsServers: string[] = [];

async function clientsScenarioRun(mongoimport: ReturnType<typeof findMongoimport>): Promise<ScenarioResult[]> {
  const unavailable = timedUnavailable();
  if (unavailable) {
    console.log(`» clients: not run. ${unavailable}`);
    return [];
  }
  const rows = Number(values['clients-rows']);
  const file = await clientsFile(rows);
  const bytes = sizeOf(file);
  const list = clients('path' in mongoimport ? mongoimport.path : undefined);
  const out: ScenarioResult[] = [];
  for (const name of values['clients-targets']!.split(',')) {
    const conditions = { startedAt: new Date(), loadAverage: loadavg() };
    let target: Target;
    // A server of its own, started just before it is used, for the minutes this takes.
    if (name === 'ack') target = await startAckTarget();
    else if (name === 'db') target = await databaseTarget(() => startMongo());
    else throw new Error(`--clients-targets: unknown target "${name}" (ack, db)`);
    clientsServers.push(target.description);
    console.log(`» clients, ${rows.toLocaleString('en')} rows (${sizeLabel(bytes)}), into ${target.description}`);
    try {
      // Into the database, which is the bottleneck there, a run takes minutes: fewer rounds, no
      // warm-up, and only the main clients (a client's own cost does not show through the database;
      // the documents do, so the variant writing mongoimport's documents stays).
      const variants =
        name === 'db'
          ? await measureClients(target, list.filter((c) => c.variant !== 'anti-oom-cli-csv-parse'), file, bytes, rows, Number(values['clients-db-runs']), false)
          : await measureClients(target, list, file, bytes, rows, runs);
      out.push(clientsScenario(target, variants, rows, bytes, mongoimport, conditions));
    } catch (err) {
      // One target failing (a server gone on a shared machine) leaves the other's results standing.
      console.log(`  clients into ${target.description} failed, its earlier results are kept: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    } finally {
      await target.stop();
    }
  }
  return out;
}

async function memoryDriverRun(mongoimport: ReturnType<typeof findMongoimport>): Promise<ScenarioResult[]> {
  const unavailable = timedUnavailable();
  if (unavailable) {
    console.log(`» memory-driver: not run. ${unavailable}`);
    return [];
  }
  const target = await startAckTarget();
  try {
    return [await memoryDriverScenario(target, sizes, runs, 'path' in mongoimport ? mongoimport.path : undefined)];
  } finally {
    await target.stop();
  }
}

const needsDb = scenarios.includes('database') || scenarios.includes('checkpoint');
const server = needsDb ? await startMongo() : undefined;
const mongoimport = scenarios.includes('database') || scenarios.includes('clients') || scenarios.includes('memory-driver') ? findMongoimport() : { error: 'not tried (neither the database nor the clients scenario ran)' };
const results: ScenarioResult[] = [];
try {
  if (scenarios.includes('parse')) results.push(...(await parseScenario()));
  if (scenarios.includes('pipeline')) results.push(...(await pipelineScenario()));
  if (server && scenarios.includes('database')) results.push(...(await databaseScenario(server, mongoimport)));
  if (scenarios.includes('memory')) results.push(...(await memoryScenario()));
  if (scenarios.includes('memory-driver')) results.push(...(await memoryDriverRun(mongoimport)));
  if (scenarios.includes('backpressure')) results.push(...(await backpressureScenario()));
  if (server && scenarios.includes('checkpoint')) results.push(...(await checkpointScenario(server)));
  if (scenarios.includes('clients')) results.push(...(await clientsScenarioRun(mongoimport)));
} finally {
  await server?.stop();
}

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  database: server ? (server.description ?? server.kind) : (clientsServers.length ? clientsServers.join('; ') : 'not used'),
  date: new Date().toISOString().slice(0, 10),
  command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
};
mkdirSync(join(ROOT, 'results'), { recursive: true });
for (const r of results) writeFileSync(join(ROOT, 'results', `${r.name}.json`), `${JSON.stringify({ machine, ...r }, null, 2)}\n`);
writeFileSync(join(ROOT, 'RESULTS.md'), renderResults(machine, join(ROOT, 'results')));
writeMemoryDoc();
console.log('» wrote bench/results/*.json, bench/RESULTS.md and the tables of docs/memory.md and README.md');
console.log(`» targets (this run's results, and earlier ones for scenarios it did not run):\n${renderTargets(join(ROOT, 'results'))}`);
