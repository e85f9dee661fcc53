// The clients comparison: `anti-oom import` vs mongoimport vs the hand-rolled loop, whole processes,
// same file, same workers, on a server that only acknowledges (the clients' own cost) and on the
// test database. Runs are paired: every round runs each client once, in alternating order.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import type { MongoServer } from '@anti-oom/testing';
import type { ScenarioResult, VariantResult } from './report.js';
import { round, spread } from './stats.js';
import { runTimed, type ProcessFigures } from './timed.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = join(ROOT, '..');
const CLI = join(REPO, 'packages', 'cli', 'dist', 'bin.js');
/** Bulk writes in flight for every client: mongoimport's -j, anti-oom's -j (concurrency). */
export const WORKERS = 2;
/** What mongoimport's type guessing makes of the clients file's columns. */
const MONGOIMPORT_TYPES = 'id:int,price:number,qty:int';

/** Where the clients write, and how to tell what arrived. */
export interface Target {
  name: 'ack' | 'db';
  uri: string;
  description: string;
  /** Rows the server received for `collection` in the last run (then forgets them). */
  arrived(collection: string): Promise<number>;
  /** Forgets what earlier runs left (before a run). */
  clear(collection: string): Promise<void>;
  /** The server's own CPU time in µs since the last clear, when it can tell. */
  serverCpuMicros?(): Promise<number>;
  stop(): Promise<void>;
}

async function withClient<T>(uri: string, fn: (client: MongoClient) => Promise<T>): Promise<T> {
  // A fresh connection for every check: this process is blocked while a client runs, and a pooled
  // connection would come back with its heartbeats overdue.
  const client = await MongoClient.connect(uri);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** The acknowledge-only server (packages/testing) in a process of its own. */
export async function startAckTarget(): Promise<Target> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'packages', 'testing', 'src', 'cli.ts'), 'ack'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const [uri] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => { throw new Error('the acknowledge-only server exited before it listened'); })])) as [string];
  const stats = (): Promise<{ inserted: number; updated: number; cpuMicros: number; unknown: Record<string, number> }> =>
    withClient(uri, (c) => c.db('admin').command({ ackStats: 1 }) as never);
  return {
    name: 'ack',
    uri,
    description: 'an acknowledge-only MongoDB-wire server (stores nothing)',
    async arrived() {
      const s = await stats();
      if (Object.keys(s.unknown).length) throw new Error(`a client sent commands the acknowledge-only server does not know: ${JSON.stringify(s.unknown)}`);
      return s.inserted + s.updated;
    },
    clear: () => withClient(uri, (c) => c.db('admin').command({ ackReset: 1 })).then(() => undefined),
    serverCpuMicros: async () => (await stats()).cpuMicros,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/**
 * The test database, a fresh server for every run (`start` is called before each): one server
 * kept for a whole round got slower run after run (the same client took 19 s first in a round and
 * 30 s last), which fell on whichever client ran later. Rows are counted in the collection.
 */
export async function databaseTarget(start: () => Promise<MongoServer>): Promise<Target> {
  let server = await start();
  let fresh = true;
  return {
    name: 'db',
    get uri() {
      return server.uri;
    },
    description: server.description ?? server.kind,
    arrived: (collection) => withClient(server.uri, (c) => c.db('anti_oom_bench').collection(collection).countDocuments()),
    async clear() {
      if (fresh) {
        fresh = false;
        return;
      }
      await server.stop();
      server = await start();
    },
    stop: () => server.stop(),
  };
}

/** One client, as a whole command line. */
export interface Client {
  label: string;
  variant: string;
  command(target: Target, file: string, collection: string): { command: string; args: string[] };
}

/** mongoimport at `path`, `--type csv --headerline`, with the same number of workers as every client. */
export function mongoimportClient(path: string): Client {
  return {
    label: `mongoimport --type csv --headerline -j ${WORKERS}`,
    variant: 'mongoimport',
    command: (t, file, collection) => ({
      command: path,
      args: ['--uri', t.uri, '-d', 'anti_oom_bench', '-c', collection, '--type', 'csv', '--headerline', '--file', file, '--numInsertionWorkers', String(WORKERS), '--quiet'],
    }),
  };
}

export function clients(mongoimport: string | undefined): Client[] {
  const list: Client[] = [];
  if (mongoimport) list.push(mongoimportClient(mongoimport));
  list.push(
    {
      label: `anti-oom import -j ${WORKERS} (default engine)`,
      variant: 'anti-oom-cli',
      command: (t, file, collection) => ({ command: process.execPath, args: [CLI, 'import', file, '--uri', t.uri, '-d', 'anti_oom_bench', '-c', collection, '-j', String(WORKERS), '--json'] }),
    },
    {
      // The documents mongoimport writes: it guesses a type for every field, and on this file
      // those three columns come out as numbers (the dates and booleans stay strings).
      label: `anti-oom import -j ${WORKERS} --types ${MONGOIMPORT_TYPES}`,
      variant: 'anti-oom-cli-typed',
      command: (t, file, collection) => ({
        command: process.execPath,
        args: [CLI, 'import', file, '--uri', t.uri, '-d', 'anti_oom_bench', '-c', collection, '-j', String(WORKERS), '--json', '--types', MONGOIMPORT_TYPES],
      }),
    },
    {
      label: `anti-oom import -j ${WORKERS} --engine csv-parse`,
      variant: 'anti-oom-cli-csv-parse',
      command: (t, file, collection) => ({
        command: process.execPath,
        args: [CLI, 'import', file, '--uri', t.uri, '-d', 'anti_oom_bench', '-c', collection, '-j', String(WORKERS), '--json', '--engine', 'csv-parse'],
      }),
    },
    {
      label: 'hand-rolled (csv-parse columns+trim, insertMany of 1000, one in flight)',
      variant: 'hand-rolled-db',
      command: (t, file, collection) => ({ command: process.execPath, args: ['src/worker.mjs', 'hand-rolled-db', file, JSON.stringify({ uri: t.uri, collection, keep: true })] }),
    },
  );
  return list;
}

interface Run extends ProcessFigures {
  rows: number;
  serverCpuMicros?: number;
}

async function runOnce(client: Client, target: Target, file: string, expectedRows: number, index: number): Promise<Run> {
  const collection = `${client.variant}_${process.pid}_${index}`;
  await target.clear(collection);
  const { command, args } = client.command(target, file, collection);
  const r = runTimed(command, args, ROOT);
  if (r.exitCode !== 0) throw new Error(`${client.label} on ${target.name} exited with ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
  const rows = await target.arrived(collection);
  if (rows !== expectedRows) throw new Error(`${client.label} on ${target.name}: the server received ${rows} rows, the file holds ${expectedRows}`);
  return { ...r, rows, serverCpuMicros: await target.serverCpuMicros?.() };
}

/**
 * Every client once to warm up (unless `warmUp` is false), then `runs` rounds; each round runs every client once, the order
 * reversed every other round, so drifts in the machine's load fall on all of them alike.
 */
export async function measureClients(target: Target, list: Client[], file: string, bytes: number, expectedRows: number, runs: number, warmUp = true): Promise<VariantResult[]> {
  const byVariant = new Map<string, Run[]>(list.map((c) => [c.variant, []]));
  let index = 0;
  for (const c of warmUp ? list : []) {
    process.stdout.write(`  warm-up: ${c.label}\n`);
    await runOnce(c, target, file, expectedRows, index++);
  }
  for (let round = 0; round < runs; round++) {
    const order = round % 2 === 0 ? list : [...list].reverse();
    for (const c of order) byVariant.get(c.variant)!.push(await runOnce(c, target, file, expectedRows, index++));
    process.stdout.write(`  round ${round + 1}/${runs}: ${order.map((c) => `${c.variant} ${round_(byVariant.get(c.variant)!.at(-1)!.wallSeconds)} s`).join(', ')}\n`);
  }
  const base = byVariant.get('mongoimport');
  return list.map((c) => {
    const rs = byVariant.get(c.variant)!;
    const perRow = rs.map((r) => (r.cpuSeconds * 1e6) / r.rows);
    const result: VariantResult = {
      label: c.label,
      variant: c.variant,
      rows: expectedRows,
      bytes,
      runs,
      mbps: spread(rs.map((r) => bytes / 1048576 / r.wallSeconds)),
      rowsPerSecond: spread(rs.map((r) => r.rows / r.wallSeconds)),
      peakRssMB: spread(rs.map((r) => r.maxRssBytes / 1048576)),
      wallSeconds: spread(rs.map((r) => r.wallSeconds)),
      cpuSeconds: spread(rs.map((r) => r.cpuSeconds)),
      cpuMicrosPerRow: spread(perRow),
    };
    if (rs[0]!.serverCpuMicros !== undefined) result.serverCpuMicrosPerRow = spread(rs.map((r) => r.serverCpuMicros! / r.rows));
    if (base) {
      // Ratios within each round: the pairs share the machine's state at that moment.
      result.vsMongoimport = {
        rowsPerSecond: spread(rs.map((r, i) => base[i]!.wallSeconds / r.wallSeconds)),
        cpuPerRow: spread(rs.map((r, i) => r.cpuSeconds / base[i]!.cpuSeconds)),
      };
    }
    console.log(
      `  ${c.label.padEnd(72).slice(0, 72)} wall ${round_(result.wallSeconds!.median)} s, ${Math.round(result.rowsPerSecond.median)} rows/s, CPU ${round_(result.cpuSeconds!.median)} s (${round_(result.cpuMicrosPerRow!.median)} µs/row), peak RSS ${round_(result.peakRssMB.max)} MB` +
        (result.vsMongoimport ? `, × mongoimport: rows/s ${round(result.vsMongoimport.rowsPerSecond.median, 2)}, CPU/row ${round(result.vsMongoimport.cpuPerRow.median, 2)}` : ''),
    );
    return result;
  });
}

const round_ = (n: number) => round(n, 2);

/** The scenario's result for one target, with its conditions in the notes. */
export function clientsScenario(target: Target, variants: VariantResult[], rows: number, bytes: number, mongoimport: { path: string } | { error: string }, conditions: { startedAt: Date; loadAverage: number[] }): ScenarioResult {
  const notes = [
    `Whole processes, each started fresh: wall time measured around the process; CPU time (user + system) and peak RSS from the kernel's rusage of the child (GNU time); rows checked on the server after every run (${rows.toLocaleString('en')} each time). Every round runs each client once, in alternating order; the "× mongoimport" columns are medians of the ratios within each round.`,
    `mongoimport guesses a type for every field (numbers become int/double); \`anti-oom import\` without \`--types\` keeps every field a string, as the hand-rolled loop does; with \`--types ${MONGOIMPORT_TYPES}\` it writes the documents mongoimport writes.`,
    `Started ${conditions.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC; load average (1, 5, 15 min) then: ${conditions.loadAverage.map((l) => l.toFixed(2)).join(', ')} on ${cpus().length} cores. The machine is shared with other work and noisy, so wall times (and rows/s) vary a lot from round to round; CPU per row is the steadier figure. Compare within this table only.`,
  ];
  if ('error' in mongoimport) notes.push(`mongoimport: not available here. ${mongoimport.error}`);
  else notes.push(`mongoimport: ${mongoimport.path} (built from mongo-tools' source, Apache-2.0).`);
  const server = variants.filter((v) => v.serverCpuMicrosPerRow).map((v) => v.serverCpuMicrosPerRow!.median);
  if (server.length) notes.push(`The acknowledge-only server (Node, in a process of its own) spent ${round(Math.min(...server), 2)}–${round(Math.max(...server), 2)} µs of CPU per row (median per client), against the clients' figures above: it is not the bottleneck.`);
  if (target.name === 'db') notes.push(`Into ${target.description}, the database is the bottleneck: every client waits on it, so these figures say little about the clients themselves (the acknowledge-only table does). No warm-up run here (a run takes minutes); every run gets a freshly started server, and its rows are counted there.`);
  return {
    name: `clients-${target.name}`,
    title: `Clients, whole processes: ${rows.toLocaleString('en')} rows × 10 columns (${Math.round(bytes / 1048576)} MB, quoted fields, UTF-8), ${WORKERS} workers, into ${target.description}`,
    variants,
    notes,
  };
}
