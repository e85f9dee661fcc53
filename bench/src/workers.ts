// `pnpm --filter anti-oom-bench workers`: one thread against 1 and 2 worker threads, paired runs
// (A, B, C, A, B, C, ...) in one script, each in a fresh process. Prints a markdown table and
// writes bench/results/workers.json. The built package is measured (run `pnpm build` first).
//   --size 30MB      file size per shape (generated once under bench/data)
//   --runs 3         paired runs
//   --db             also into the test database (FerretDB, started here) on a smaller file
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dataFile, parseSize, type Shape } from './data.js';
import { round, spread } from './stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { size: { type: 'string', default: '30MB' }, runs: { type: 'string', default: '3' }, db: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const TYPES: Record<Shape, Record<string, string>> = { narrow: { price: 'number' }, wide: { price: 'number', cost: 'number', qty: 'int', weight: 'number', active: 'boolean', created: 'date' } };

interface Sample { wallMs: number; cpuMs: number; rows: number; peakRssMB: number }
function measure(options: Record<string, unknown>): Sample {
  const out = execFileSync(process.execPath, [join(ROOT, 'src', 'workers-run.mjs'), JSON.stringify(options)], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Sample;
}

const VARIANTS = [
  { name: 'one thread', workers: 0 },
  { name: 'workers: 1', workers: 1 },
  { name: 'workers: 2', workers: 2 },
];

interface Row { target: string; shape: Shape; variant: string; rowsPerS: { median: number; min: number; max: number }; cpuUsPerRow: { median: number; min: number; max: number }; cpuCores: number; peakRssMB: number }
const rows: Row[] = [];

async function scenario(target: string, shape: Shape, bytes: number, extra: (i: number, v: number) => Record<string, unknown>): Promise<void> {
  const file = await dataFile(shape, bytes);
  const samples: Sample[][] = VARIANTS.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    VARIANTS.forEach((v, i) => samples[i]!.push(measure({ file, workers: v.workers, types: TYPES[shape], ...extra(r, i) })));
  }
  VARIANTS.forEach((v, i) => {
    const s = samples[i]!;
    const rate = spread(s.map((x) => (x.rows * 1000) / x.wallMs));
    const cpu = spread(s.map((x) => (x.cpuMs * 1000) / x.rows));
    rows.push({
      target,
      shape,
      variant: v.name,
      rowsPerS: { median: Math.round(rate.median), min: Math.round(rate.min), max: Math.round(rate.max) },
      cpuUsPerRow: { median: round(cpu.median, 2), min: round(cpu.min, 2), max: round(cpu.max, 2) },
      cpuCores: round(spread(s.map((x) => x.cpuMs / x.wallMs)).median, 2),
      peakRssMB: Math.round(spread(s.map((x) => x.peakRssMB)).median),
    });
  });
}

const size = parseSize(values.size!);
for (const shape of ['narrow', 'wide'] as const) await scenario('ack-only sink', shape, size, () => ({}));
if (values.db) {
  const { startMongo } = await import('@anti-oom/testing');
  const server = await startMongo();
  try {
    let n = 0;
    await scenario('FerretDB (same machine)', 'narrow', Math.min(size, 8 * 1024 * 1024), () => ({ uri: server.uri, db: 'bench_workers', collection: `c${n++}` }));
  } finally {
    await server.stop();
  }
}

const header = `| target | shape | variant | rows/s (median, min–max) | CPU µs/row (median, min–max) | cores busy | peak RSS MB |\n|---|---|---|---|---|---|---|`;
const lines = rows.map((r) => `| ${r.target} | ${r.shape} | ${r.variant} | ${r.rowsPerS.median.toLocaleString('en')} (${r.rowsPerS.min.toLocaleString('en')}–${r.rowsPerS.max.toLocaleString('en')}) | ${r.cpuUsPerRow.median} (${r.cpuUsPerRow.min}–${r.cpuUsPerRow.max}) | ${r.cpuCores} | ${r.peakRssMB} |`);
const table = `${header}\n${lines.join('\n')}`;
console.log(`${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, ${values.size} per shape, ${RUNS} paired runs\n`);
console.log(table);
mkdirSync(join(ROOT, 'results'), { recursive: true });
writeFileSync(join(ROOT, 'results', 'workers.json'), JSON.stringify({ cores: cpus().length, node: process.version, size: values.size, runs: RUNS, rows }, null, 2) + '\n');
