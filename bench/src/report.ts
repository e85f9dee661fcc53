import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { round, type Spread } from './stats.js';

export interface VariantResult {
  label: string;
  variant: string;
  rows: number;
  bytes: number;
  runs: number;
  mbps: Spread;
  rowsPerSecond: Spread;
  peakRssMB: Spread;
  /** Whole-process figures (clients scenarios). */
  wallSeconds?: Spread;
  cpuSeconds?: Spread;
  cpuMicrosPerRow?: Spread;
  /** The acknowledge-only server's CPU per row, while this variant ran. */
  serverCpuMicrosPerRow?: Spread;
  /** Ratios to mongoimport within each round: rows/s (higher is faster), CPU per row (lower is cheaper). */
  vsMongoimport?: { rowsPerSecond: Spread; cpuPerRow: Spread };
  extra?: unknown;
}

export interface ScenarioResult {
  name: string;
  title: string;
  baseline?: string;
  variants: VariantResult[];
  notes?: string[];
  samples?: { t: number; rssMB: number; heapMB: number; bytesReadMB: number; rowsWritten: number }[];
}

type Machine = Record<string, string | number>;

const find = (r: ScenarioResult | undefined, variant: string, label?: RegExp) =>
  r?.variants.find((v) => v.variant === variant && (!label || label.test(v.label)));

const x = (s: Spread | undefined) => (s ? `${round(s.median, 2)}× (${round(s.min, 2)}–${round(s.max, 2)})` : '—');

/** Whole-process figures of each client, and its ratios to mongoimport within each round. */
function clientsTable(r: ScenarioResult): string {
  const lines = [
    '| Client | wall, s median (min–max) | rows/s median | CPU user+sys, s median | CPU µs/row median | peak RSS, MB (max) | rows/s × mongoimport, paired median (min–max) | CPU/row × mongoimport, paired median (min–max) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const v of r.variants) {
    const cells = [
      v.label,
      `${round(v.wallSeconds!.median, 2)} (${round(v.wallSeconds!.min, 2)}–${round(v.wallSeconds!.max, 2)})`,
      Math.round(v.rowsPerSecond.median).toLocaleString('en'),
      String(round(v.cpuSeconds!.median, 2)),
      String(round(v.cpuMicrosPerRow!.median, 2)),
      String(round(v.peakRssMB.max)),
      v.variant === 'mongoimport' ? '1×' : x(v.vsMongoimport?.rowsPerSecond),
      v.variant === 'mongoimport' ? '1×' : x(v.vsMongoimport?.cpuPerRow),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function table(r: ScenarioResult): string {
  if (r.name.startsWith('clients-')) return clientsTable(r);
  if (r.name === 'backends') {
    // Database-bound and time-boxed: rows/s and how much was written say it all.
    const lines = ['| Variant | rows/s | rows written | seconds |', '|---|---|---|---|'];
    for (const v of r.variants) {
      const e = v.extra as { rows: number; seconds: number; complete: boolean };
      lines.push(`| ${v.label} | ${Math.round(v.rowsPerSecond.median).toLocaleString('en')} | ${e.rows.toLocaleString('en')}${e.complete ? '' : ' (time budget spent)'} | ${round(e.seconds)} |`);
    }
    return lines.join('\n');
  }
  const base = r.name.startsWith('parse')
    ? find(r, 'read-decode')
    : r.name.startsWith('checkpoint')
      ? r.variants[0]
      : r.name === 'memory'
      ? undefined
      : r.variants.find((v) => v.variant.startsWith('hand-rolled'));
  const head = ['Variant', 'MB/s median (min–max)', 'rows/s median', 'peak RSS, MB (max)', base ? `× ${base.variant}` : ''].filter(Boolean);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const v of r.variants) {
    const cells = [
      v.label,
      `${round(v.mbps.median)} (${round(v.mbps.min)}–${round(v.mbps.max)})`,
      Math.round(v.rowsPerSecond.median).toLocaleString('en'),
      String(round(v.peakRssMB.max)),
    ];
    if (base) cells.push(`${round(v.mbps.median / base.mbps.median, 2)}×`);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function verdict(met: boolean | undefined, text: string): string {
  return `| ${text} | ${met === undefined ? 'not measured' : met ? '**met**' : '**not met**'} |`;
}

function targets(all: Map<string, ScenarioResult>): string {
  const rows: string[] = ['| Target | Result |', '|---|---|'];
  for (const shape of ['narrow', 'wide']) {
    const p = all.get(`pipeline-${shape}`);
    const ours = find(p, 'anti-oom-null-fast');
    const hand = find(p, 'hand-rolled-null');
    const ratio = ours && hand ? ours.mbps.median / hand.mbps.median : undefined;
    rows.push(verdict(ratio === undefined ? undefined : ratio >= 2, `pipeline to a null sink, default (fast) engine ≥ 2× hand-rolled (${shape}): ${ratio === undefined ? '—' : `${round(ratio, 2)}×`}`));
  }
  for (const shape of ['narrow', 'wide']) {
    const p = all.get(`parse-${shape}`);
    const fast = find(p, 'anti-oom-parser-fast');
    const ceiling = find(p, 'read-decode');
    const floor = find(p, 'floor-minimal');
    // The floor, where measured, is shown beside the figure: how far a parser could get at best.
    const floorText = floor && ceiling ? ` (the floor, no quotes, lines or errors: ${round((floor.mbps.median / ceiling.mbps.median) * 100)}%)` : '';
    rows.push(
      fast && ceiling
        ? verdict(fast.mbps.median >= ceiling.mbps.median * 0.4, `fast engine ≥ 40% of read+decode (${shape}): ${round((fast.mbps.median / ceiling.mbps.median) * 100)}%${floorText}`)
        : `| fast engine ≥ 40% of read+decode (${shape}) | not measured |`,
    );
  }
  const m = all.get('memory');
  if (m) {
    const peaks = m.variants.map((v) => [v.label, v.peakRssMB.max] as const);
    rows.push(verdict(peaks.every(([, p]) => p <= 100), `peak RSS ≤ 100 MB at every size: ${peaks.map(([l, p]) => `${l.split(', ').at(-1)} ${round(p)} MB`).join(', ')}`));
    const gb = m.variants.find((v) => v.label.endsWith('1GB'));
    const hundred = m.variants.find((v) => v.label.endsWith('100MB'));
    rows.push(
      gb && hundred
        ? verdict(gb.peakRssMB.max / hundred.peakRssMB.max <= 1.1, `RSS(1 GB) / RSS(100 MB) ≤ 1.1: ${round(gb.peakRssMB.max / hundred.peakRssMB.max, 2)}`)
        : '| RSS(1 GB) / RSS(100 MB) ≤ 1.1 | not measured (run with `--sizes 10MB,100MB,1GB`) |',
    );
  }
  for (const name of ['checkpoint', 'checkpoint-fast']) {
    const c = all.get(name);
    const [without, withResume] = c?.variants ?? [];
    if (without && withResume) {
      const ratio = withResume.rowsPerSecond.median / without.rowsPerSecond.median;
      rows.push(verdict(ratio >= 0.95, `checkpoints (resume) cost ≤ 5% of rows/s, null sink, ${name === 'checkpoint' ? 'csv-parse' : 'fast'} engine: ${ratio >= 1 ? `no measurable cost (${round((ratio - 1) * 100)}% faster, within the noise)` : `${round((1 - ratio) * 100)}% slower`}`));
    }
  }
  rows.push(...clientTargets(all));
  return rows.join('\n');
}

/** Issue 13's client-side targets: `anti-oom import` against mongoimport, same file and workers. */
function clientTargets(all: Map<string, ScenarioResult>): string[] {
  const rows: string[] = [];
  const missing = (r: ScenarioResult | undefined) =>
    !r ? 'not measured (run `pnpm bench --scenarios clients`)' : r.notes?.some((n) => n.startsWith('mongoimport: not available')) ? 'not measured: no mongoimport here (see bench/RESULTS.md)' : 'not measured';
  const ack = all.get('clients-ack');
  const ours = find(ack, 'anti-oom-cli');
  const speed = ours?.vsMongoimport?.rowsPerSecond;
  const cpu = ours?.vsMongoimport?.cpuPerRow;
  rows.push(speed ? verdict(speed.median >= 1.5, `acknowledge-only server: \`anti-oom import\` rows/s ≥ 1.5× mongoimport, ${ours.label.match(/-j \d+/)?.[0] ?? ''} both: ${round(speed.median, 2)}× (paired rounds ${round(speed.min, 2)}–${round(speed.max, 2)}×)`) : `| acknowledge-only server: \`anti-oom import\` rows/s ≥ 1.5× mongoimport | ${missing(ack)} |`);
  rows.push(cpu ? verdict(cpu.median <= 0.6, `acknowledge-only server: \`anti-oom import\` CPU per row ≤ 0.6× mongoimport's: ${round(cpu.median, 2)}× (${round(ours!.cpuMicrosPerRow!.median, 2)} vs ${round(find(ack, 'mongoimport')!.cpuMicrosPerRow!.median, 2)} µs/row)`) : `| acknowledge-only server: \`anti-oom import\` CPU per row ≤ 0.6× mongoimport's | ${missing(ack)} |`);
  if (ours) rows.push(verdict(ours.peakRssMB.max <= 110, `peak RSS of \`anti-oom import\` through the driver ≤ 110 MB, 10-column file of ${Math.round(ours.bytes / 1048576)} MB (acknowledge-only server; mongoimport ${round(find(ack, 'mongoimport')?.peakRssMB.max ?? NaN)} MB): ${round(ours.peakRssMB.max)} MB`));
  rows.push(...driverMemoryTargets(all.get('clients-memory')));
  const db = all.get('clients-db');
  const intoDb = find(db, 'anti-oom-cli')?.vsMongoimport?.rowsPerSecond;
  // The database's cost depends on the documents it is sent: mongoimport's numbers cost it less
  // than strings, so the same comparison is also given with the documents mongoimport writes.
  const sameDocs = find(db, 'anti-oom-cli-typed')?.vsMongoimport?.rowsPerSecond;
  if (sameDocs) rows.push(verdict(sameDocs.median >= 1, `into the test database, writing the documents mongoimport writes (\`--types\`): \`anti-oom import\` rows/s ≥ 1.0× mongoimport, same workers: ${round(sameDocs.median, 2)}× (paired rounds ${round(sameDocs.min, 2)}–${round(sameDocs.max, 2)}×)`));
  rows.push(intoDb ? verdict(intoDb.median >= 1, `into the test database: \`anti-oom import\` rows/s ≥ 1.0× mongoimport, same workers (the database is the bottleneck): ${round(intoDb.median, 2)}× (paired rounds ${round(intoDb.min, 2)}–${round(intoDb.max, 2)}×)`) : `| into the test database: \`anti-oom import\` rows/s ≥ 1.0× mongoimport, same workers | ${missing(db)} |`);
  return rows;
}

/** Peak RSS (max over runs) of `variant` at each size of the clients-memory scenario, in size order. */
function peaksBySize(r: ScenarioResult, variant: string): { size: string; mb: number }[] {
  return r.variants.filter((v) => v.variant.startsWith(`${variant}@`)).map((v) => ({ size: v.variant.split('@')[1]!, mb: v.peakRssMB.max }));
}

/** Issue 13, item 1: peak RSS through the real driver at every file size, CLI and library, and its flatness. */
function driverMemoryTargets(r: ScenarioResult | undefined): string[] {
  if (!r) return ['| peak RSS through the driver ≤ 110 MB at every file size (CLI and library) | not measured (run `pnpm bench --scenarios memory-driver --sizes 10MB,100MB,1GB`) |'];
  const rows: string[] = [];
  const who = { 'anti-oom-cli': '`anti-oom import`', 'anti-oom-lib': 'the library in plain node (no V8 flags)' } as const;
  for (const [variant, name] of Object.entries(who)) {
    const peaks = peaksBySize(r, variant);
    if (!peaks.length) continue;
    rows.push(verdict(peaks.every((p) => p.mb <= 110), `peak RSS through the driver ≤ 110 MB at every size, ${name}: ${peaks.map((p) => `${p.size} ${round(p.mb)} MB`).join(', ')}`));
    const gb = peaks.find((p) => p.size === '1GB');
    const hundred = peaks.find((p) => p.size === '100MB');
    if (gb && hundred) rows.push(verdict(gb.mb / hundred.mb <= 1.1, `through the driver, RSS(1 GB) / RSS(100 MB) ≤ 1.1, ${name}: ${round(gb.mb / hundred.mb, 2)}`));
  }
  return rows;
}

function loadResults(dir: string): { all: Map<string, ScenarioResult>; machines: Map<string, Machine> } {
  const all = new Map<string, ScenarioResult>();
  const machines = new Map<string, Machine>();
  const order = ['parse-narrow', 'parse-wide', 'pipeline-narrow', 'pipeline-wide', 'clients-ack', 'clients-db', 'database', 'backends', 'checkpoint', 'checkpoint-fast', 'memory', 'clients-memory', 'backpressure'];
  const rank = (f: string) => {
    const i = order.indexOf(f.replace(/\.json$/, ''));
    return i === -1 ? order.length : i;
  };
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort((a, b) => rank(a) - rank(b))) {
    const { machine: m, ...r } = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ScenarioResult & { machine: Machine };
    // queue.json and workers.json come from their own scripts, in their own shapes, with their own docs.
    if (typeof r.name !== 'string' || !Array.isArray(r.variants) || m === undefined) continue;
    all.set(r.name, r);
    machines.set(r.name, m);
  }
  return { all, machines };
}

function renderScenario(r: ScenarioResult, m: Machine, heading = '##'): string[] {
  const out: string[] = [`${heading} ${r.title}`, '', `_${m.date}, ${m.command}, ${r.variants[0]?.runs ?? 1} runs each_`, ''];
  if (r.variants.length) out.push(table(r), '');
  if (r.samples?.length) {
    out.push('| t (s) | RSS (MB) | heap (MB) | input read (MB) | rows written |', '|---|---|---|---|---|');
    for (const s of r.samples) out.push(`| ${s.t} | ${s.rssMB} | ${s.heapMB} | ${s.bytesReadMB} | ${s.rowsWritten.toLocaleString('en')} |`);
    out.push('');
  }
  for (const n of r.notes ?? []) out.push(`- ${n.split('\n').join('\n  ')}`);
  if (r.notes?.length) out.push('');
  return out;
}

/** The targets table alone, from every bench/results/*.json: what `pnpm bench` prints when it ends. */
export function renderTargets(dir: string): string {
  return targets(loadResults(dir).all);
}

/** RESULTS.md, regenerated from every bench/results/*.json: no figure is written by hand. */
export function renderResults(current: Machine | undefined, dir: string): string {
  const { all, machines } = loadResults(dir);
  // The machine line is this run's, or (when only re-rendering) that of the newest result.
  const machine = current ?? [...machines.values()].sort((a, b) => String(b.date).localeCompare(String(a.date)))[0] ?? {};
  // A run of scenarios that need no database (parse alone) names the one the other results used.
  const database = [machine, ...machines.values()].find((m) => m.database !== undefined && m.database !== 'not used')?.database ?? machine.database;
  const out = [
    '# Benchmark results',
    '',
    '<!-- Generated by `pnpm bench` from bench/results/*.json. Do not edit by hand. -->',
    '',
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGB} GB, Node ${machine.node}; database: ${database}; ${machine.date}.`,
    '',
    `Reproduce: \`corepack pnpm bench\` (all scenarios; options: \`--scenarios parse,pipeline,database,memory,memory-driver,backpressure,checkpoint,clients --sizes 10MB,100MB,1GB --runs 5 --db-size 10MB --shapes narrow,wide --clients-rows 500000 --clients-targets ack,db --clients-db-runs 2\`; \`--render\` only regenerates this file from bench/results).`,
    'Each variant runs once to warm up, then `--runs` times, each in a fresh process (peak RSS is the kernel\'s high-water mark for that process, `process.resourceUsage().maxRSS`, loader included). Inputs are generated, seeded, into bench/data/. The machine is shared and noisy: compare figures within one run.',
    '',
    '## Targets',
    '',
    targets(all),
    '',
  ];
  for (const r of all.values()) out.push(...renderScenario(r, machines.get(r.name)!));
  return `${out.join('\n')}\n`;
}

const GENERATED = /(<!-- bench:start -->\n)[\s\S]*?(<!-- bench:end -->)/;

function splice(doc: string, where: string, parts: string[]): string {
  if (!GENERATED.test(doc)) throw new Error(`${where} has lost its <!-- bench:start --> / <!-- bench:end --> markers`);
  return doc.replace(GENERATED, (_m, start: string, end: string) => `${start}${parts.join('\n')}\n${end}`);
}

/** The README's summary: the headline figures of every scenario side by side, and the targets. */
export function renderReadmeBench(doc: string, dir: string): string {
  const { all, machines } = loadResults(dir);
  const mbps = (scenario: string, variant: string) => {
    const v = find(all.get(scenario), variant);
    return v ? `${round(v.mbps.median)}` : '—';
  };
  const m = machines.get('parse-narrow') ?? machines.get('pipeline-narrow');
  // The parse and pipeline rows can come from different runs (a run of some scenarios only); each names its own.
  const parseRun = machines.get('parse-narrow')?.command;
  const pipelineRun = machines.get('pipeline-narrow')?.command;
  const commands = parseRun && pipelineRun && parseRun !== pipelineRun ? `parse rows: ${parseRun}; pipeline rows: ${pipelineRun}` : m?.command;
  const parts: string[] = [
    '<!-- Generated by `pnpm bench` from bench/results/*.json. Do not edit by hand. -->',
    '',
    m ? `Measured ${m.date} on ${m.cores} cores, Node ${m.node} (${commands}); medians of each variant run in a fresh process. Full tables: [bench/RESULTS.md](bench/RESULTS.md).` : '',
    '',
    '| MB/s, 100 MB file | narrow (3 columns) | wide (12 columns, quoted) |',
    '|---|---|---|',
  ];
  const rows: [string, string, string][] = [
    ['read + UTF-8 decode, no parsing (the ceiling)', 'parse', 'read-decode'],
    ['csv-parse, columns: true (what most code uses)', 'parse', 'csv-parse-columns'],
    ['udsv (fastest parser measured; no line numbers or row errors)', 'parse', 'udsv'],
    ['`createCsvParser`, csv-parse engine', 'parse', 'anti-oom-parser'],
    ['`createCsvParser`, fast engine', 'parse', 'anti-oom-parser-fast'],
    ['hand-rolled csv-parse + batches + awaited writes, null sink', 'pipeline', 'hand-rolled-null'],
    ['`createIngestPipeline`, csv-parse engine, null sink', 'pipeline', 'anti-oom-null'],
    ['`createIngestPipeline`, fast engine, null sink', 'pipeline', 'anti-oom-null-fast'],
  ];
  for (const [label, scenario, variant] of rows) parts.push(`| ${label} | ${mbps(`${scenario}-narrow`, variant)} | ${mbps(`${scenario}-wide`, variant)} |`);
  const db = all.get('database');
  if (db) {
    parts.push('', `Into ${machines.get('database')?.database ?? 'the database'} (insert mode, ${db.variants[0] ? `${round(db.variants[0].bytes / 1048576)} MB` : ''} narrow file):`, '', '| Variant | rows/s | peak RSS, MB |', '|---|---|---|');
    for (const v of db.variants) parts.push(`| ${v.label} | ${Math.round(v.rowsPerSecond.median).toLocaleString('en')} | ${round(v.peakRssMB.max)} |`);
  }
  for (const name of ['clients-ack', 'clients-db']) {
    const r = all.get(name);
    if (!r) continue;
    const m = machines.get(name)!;
    parts.push('', `${r.title} (${m.date}, \`${m.command}\`, medians of ${r.variants[0]?.runs ?? 1} paired rounds; a shared, noisy machine):`, '', '| Client | rows/s | CPU µs/row | peak RSS, MB |', '|---|---|---|---|');
    for (const v of r.variants) parts.push(`| ${v.label} | ${Math.round(v.rowsPerSecond.median).toLocaleString('en')} | ${round(v.cpuMicrosPerRow!.median, 2)} | ${round(v.peakRssMB.max)} |`);
  }
  const backends = all.get('backends');
  if (backends) parts.push('', ...backendsSummary(backends, machines.get('backends')!, 'bench/RESULTS.md'));
  parts.push('', targets(all));
  return splice(doc, 'README.md', parts);
}

/** The test database's backends side by side: what keyed upserts cost there. */
function backendsSummary(r: ScenarioResult, m: Machine, resultsLink: string): string[] {
  const out = [`Keyed upserts on the test database (${m.date}, \`${m.command}\`; [details](${resultsLink})):`, '', '| FerretDB v1.24.2 | rows/s |', '|---|---|'];
  for (const v of r.variants) out.push(`| ${v.label.replace('FerretDB v1.24.2 ', '')} | ${Math.round(v.rowsPerSecond.median).toLocaleString('en')} |`);
  return out;
}

/**
 * docs/from-mongoimport.md's speed figures, from the same results: the clients scenarios (both
 * programs side by side, on the acknowledge-only server and on the test database) and their targets,
 * the database scenario (with its date, command and server) and the backends scenario, between its
 * bench markers.
 */
export function renderMongoimportDoc(doc: string, dir: string): string {
  const { all, machines } = loadResults(dir);
  const parts: string[] = ['<!-- Generated by `pnpm bench` from bench/results/*.json. Do not edit by hand. -->', ''];
  for (const name of ['clients-ack', 'clients-db']) {
    const r = all.get(name);
    if (r) parts.push(...renderScenario(r, machines.get(name)!, '###'));
  }
  const targetRows = clientTargets(all);
  parts.push('Targets (issue 13):', '', '| Target | Result |', '|---|---|', ...targetRows, '');
  const db = all.get('database');
  const m = machines.get('database');
  if (db && m) {
    parts.push(
      `Measured ${m.date} on ${m.cores} cores (${m.cpu}), Node ${m.node}, into ${m.database}, insert mode, a ${round(db.variants[0]!.bytes / 1048576)} MB narrow file (\`${m.command}\`, medians of ${db.variants[0]!.runs} runs, each in a fresh process; the machine is shared, so compare figures within one run):`,
      '',
      '| Variant | rows/s | peak RSS, MB |',
      '|---|---|---|',
    );
    for (const v of db.variants) parts.push(`| ${v.label} | ${Math.round(v.rowsPerSecond.median).toLocaleString('en')} | ${round(v.peakRssMB.max)} |`);
    parts.push('');
  }
  const backends = all.get('backends');
  if (backends) parts.push(...backendsSummary(backends, machines.get('backends')!, '../bench/RESULTS.md'), '');
  return splice(doc, 'docs/from-mongoimport.md', parts);
}

/**
 * docs/memory.md with its benchmark tables (peak RSS by file size, the slow-sink samples, and the
 * targets) put back from the same results, between its `bench:start` and `bench:end` markers.
 */
export function renderMemoryDoc(doc: string, dir: string): string {
  const { all, machines } = loadResults(dir);
  const parts: string[] = ['<!-- Generated by `pnpm bench` from bench/results/*.json. Do not edit by hand. -->', ''];
  for (const name of ['memory', 'clients-memory', 'backpressure']) {
    const r = all.get(name);
    if (r) parts.push(...renderScenario(r, machines.get(name)!, '###'));
  }
  parts.push('### Targets', '', targets(all), '', 'Every scenario, parsers and database imports included: [bench/RESULTS.md](../bench/RESULTS.md).');
  return splice(doc, 'docs/memory.md', parts);
}
