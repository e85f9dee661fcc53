#!/usr/bin/env node
// Peak RSS and CPU of `anti-oom import` (the CLI, whole process, default settings), side by side:
// A and B are two builds of the CLI (e.g. main's and a branch's), run alternately, several paired
// runs, on a generated 10-column file (quoted fields, UTF-8, ~100 bytes a row).
//
//   node scripts/rss-compare.mjs --a ../main/packages/cli/dist/bin.js --b packages/cli/dist/bin.js \
//     --sizes 10MB,100MB --runs 3 [--uri mongodb://…] [--dry-run] [--node-flags=--max-old-space-size=48]
//
// With --lib, A and B are @anti-oom/core package directories (e.g. ../main/packages/core and
// packages/core) and each run is scripts/rss-lib-child.mjs: createIngestPipeline + mongoSink in a
// plain `node` process, the way a library user runs an import (a 64 KiB read stream, no V8 flags).
//
// Peak RSS is the child's VmHWM, from GNU time's %M (getrusage ru_maxrss of the child); CPU is its
// user+sys time. Without --uri (or MONGODB_URI) the imports run with --dry-run (the null sink: the
// client's cost without a database). Generated files go to bench/data/ (ignored by git).
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: v } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    sizes: { type: 'string', default: '10MB,100MB' },
    runs: { type: 'string', default: '3' },
    uri: { type: 'string', default: process.env.MONGODB_URI },
    'dry-run': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
    lib: { type: 'boolean', default: false },
    breakdown: { type: 'boolean', default: false },
  },
});

const MB = 1024 * 1024;
function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)(KB|MB|GB)$/i.exec(text.trim());
  if (!m) throw new Error(`bad size ${text}; use 10MB, 1GB`);
  return Math.round(Number(m[1]) * { KB: 1024, MB, GB: 1024 * MB }[m[2].toUpperCase()]);
}

/** mulberry32: the same bytes on every machine. */
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const WORDS = ['steel', 'oak', 'blue', 'large', 'compact', 'pro', 'classic', 'eco', 'ultra', 'mini', 'deluxe', 'basic'];
const HEADER = 'sku,name,category,brand,price,cost,qty,weight,active,created';

/** A 10-column file of about `bytes` (about 100 bytes a row, three quoted fields), made once. */
async function tenColumnFile(bytes) {
  const dir = join(root, 'bench', 'data');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `ten-${bytes}.csv`);
  if (existsSync(path)) return path;
  const r = rng(10);
  const w = () => WORDS[Math.floor(r() * WORDS.length)];
  const out = createWriteStream(`${path}.partial`);
  out.write(`${HEADER}\n`);
  let written = 0;
  for (let i = 0; written < bytes; ) {
    let chunk = '';
    for (const end = i + 2000; i < end; i++) {
      chunk += `SKU-${i},"${w()} ${w()}, model ${i}",cat-${Math.floor(r() * 40)},"${w()} & co",${(r() * 1000).toFixed(2)},${(r() * 500).toFixed(2)},${Math.floor(r() * 10000)},${(r() * 30).toFixed(3)},${r() > 0.5 ? 'true' : 'false'},${new Date(1.6e12 + Math.floor(r() * 1e11)).toISOString()}\n`;
    }
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  renameSync(`${path}.partial`, path);
  return path;
}

let collectionSeq = 0;
function runOnce(bin, file) {
  const flags = v['node-flags'] ? v['node-flags'].split(/\s+/) : [];
  const toDb = !v['dry-run'] && v.uri;
  const target = toDb ? ['--uri', v.uri, '--db', 'rss', '--collection', `c${process.pid}_${collectionSeq++}`, '--drop'] : ['--dry-run'];
  const command = v.lib ? [join(root, 'scripts', 'rss-lib-child.mjs'), bin, file, ...(toDb ? [v.uri] : [])] : [bin, 'import', file, ...target, '--json'];
  const sampler = v.breakdown ? ['--import', pathToFileURL(join(root, 'scripts', 'rss-sampler.mjs')).href] : [];
  const args = ['-f', '%M %U %S %e', process.execPath, ...flags, ...sampler, ...command];
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8', maxBuffer: 64 * MB });
  const lines = r.stderr.trim().split('\n');
  const m = /^(\d+) ([\d.]+) ([\d.]+) ([\d.]+)$/.exec(lines[lines.length - 1] ?? '');
  if (r.status !== 0 || !m) throw new Error(`${bin} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  let rows = NaN;
  const report = r.stdout.trim().split('\n').reverse().find((l) => l.includes('rowsWritten'));
  if (report) rows = JSON.parse(report).rowsWritten ?? JSON.parse(report).report?.rowsWritten ?? NaN;
  const breakdown = /RSS-BREAKDOWN (\{.*\})/.exec(r.stderr)?.[1];
  return { rssMB: Number(m[1]) / 1024, cpuS: Number(m[2]) + Number(m[3]), wallS: Number(m[4]), rows, breakdown: breakdown && JSON.parse(breakdown) };
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '?');

v.b ??= v.lib ? join(root, 'packages/core') : join(root, 'packages/cli/dist/bin.js');
const builds = v.a ? [['A', resolve(v.a)], ['B', resolve(v.b)]] : [['B', resolve(v.b)]];
const runs = Number(v.runs);
const results = [];
console.log(
  `# ${v.lib ? 'library (createIngestPipeline in a plain node process)' : 'anti-oom import (CLI)'}; ${v['dry-run'] || !v.uri ? 'null sink' : `database ${v.uri.replace(/\?.*/, '')}`}; node ${process.version}; node flags: ${v['node-flags'] || 'none'}`,
);
for (const builds_ of builds) console.log(`# ${builds_[0]} = ${builds_[1]}`);
for (const size of v.sizes.split(',')) {
  const file = await tenColumnFile(parseSize(size));
  const per = Object.fromEntries(builds.map(([k]) => [k, []]));
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so neither always runs on a warmer page cache.
    const order = i % 2 === 0 ? builds : [...builds].reverse();
    for (const [k, bin] of order) per[k].push(runOnce(bin, file));
  }
  for (const [k] of builds) {
    const rs = per[k];
    const rows = rs[0].rows;
    const row = {
      size,
      build: k,
      fileMB: statSync(file).size / MB,
      rows,
      rssMB: rs.map((r) => r.rssMB),
      cpuUsPerRow: rs.map((r) => (r.cpuS * 1e6) / r.rows),
      wallS: rs.map((r) => r.wallS),
      breakdown: rs.map((r) => r.breakdown).filter(Boolean),
    };
    results.push(row);
    console.log(
      `${size.padEnd(6)} ${k}  peak RSS MB median ${fmt(median(row.rssMB))} (min ${fmt(Math.min(...row.rssMB))}, max ${fmt(Math.max(...row.rssMB))})  ` +
        `CPU µs/row median ${fmt(median(row.cpuUsPerRow), 2)} (${row.cpuUsPerRow.map((x) => fmt(x, 2)).join(' ')})  wall s median ${fmt(median(row.wallS), 2)}  rows ${rows}`,
    );
    // At the largest sample: young and old generation (resident), the rest of V8's heap, and
    // everything else: node itself, compiled code, Buffers and the driver's native side, malloc.
    // ArrayBuffers are given apart: their 17 MB include bson's serialization buffer, allocated
    // when the driver loads and mostly never touched (so mostly not resident).
    for (const b of row.breakdown) {
      console.log(
        `         at the largest sample: RSS ${b.rss} = young gen ${b.young} + old gen ${b.old} + other heap ${b.otherHeap} + outside the heap ${fmt(b.rss - b.young - b.old - b.otherHeap)} (heap used ${b.heapUsed}; ArrayBuffers allocated ${b.arrayBuffers})`,
      );
    }
  }
}
if (v.json) console.log(JSON.stringify(results));
