import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import type { Db } from 'mongodb';
import { openTestDb } from '@anti-oom/testing/test-db';
import { bin, cliResult, runInProcess, spawnCli as spawnExecutable, tsconfig, type CliRun } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let uri: string;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-cli-'));

beforeAll(async () => {
  t = await openTestDb('cli');
  db = t.db;
  uri = inject('mongoUri');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (argv: string[], options: { stdin?: Readable; tty?: boolean } = {}): Promise<CliRun> => runInProcess(argv, { uri, ...options });
const spawnCli = (argv: string[], stdin?: Buffer): Promise<CliRun> => spawnExecutable(argv, { uri, ...(stdin ? { stdin } : {}) });

function products(n: number, row = (i: number) => `sku-${i},Product ${i},${(i % 1000) / 10}\n`): string {
  let s = 'sku,name,price\n';
  for (let i = 0; i < n; i++) s += row(i);
  return s;
}

let fileNo = 0;
function file(content: string | Buffer, name = `in${fileNo++}.csv`): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const target = (c: string) => ['--db', db.databaseName, '--collection', c];

describe('anti-oom import against the real server', () => {
  it('imports a file: NDJSON progress and report when stdout is not a terminal, exit 0, every row in the database', async () => {
    const run = await cli(['import', file(products(5000)), ...target('file'), '--types', 'price:number', '--batch-size', '500']);
    expect(run.code).toBe(0);
    expect(run.events.slice(0, -1).every((e) => e['event'] === 'progress')).toBe(true);
    expect(run.report).toMatchObject({ event: 'report', state: 'done', rowsRead: 5000, rowsWritten: 5000, rowsFailed: 0, exitCode: 0, dryRun: false });
    expect(await db.collection('file').countDocuments()).toBe(5000);
    expect(await db.collection('file').findOne({ sku: 'sku-1234' }, { projection: { _id: 0 } })).toEqual({ sku: 'sku-1234', name: 'Product 1234', price: 23.4 });
  });

  it('--engine fast gives the same import: rows, failures and their lines', async () => {
    const csv = 'sku,name,price\nA,"quoted, with comma",1\nB,te"st,2\nC,ok,x\n';
    const runs = [];
    for (const engine of ['csv-parse', 'fast']) {
      const run = await cli(['import', file(csv), ...target(`engine_${engine.replace('-', '_')}`), '--types', 'price:number', '--engine', engine]);
      runs.push([run.code, run.report['rowsWritten'], run.report['failures'].map((f: { line: number; code: string }) => [f.line, f.code])]);
    }
    expect(runs[0]).toEqual([1, 1, [[3, 'E_CSV_RECORD'], [4, 'E_TYPE']]]);
    expect(runs[1]).toEqual(runs[0]);
  });

  it('on a terminal: a live progress line on stderr, the report as text on stdout', async () => {
    const run = await cli(['import', file(products(3000)), ...target('tty'), '--batch-size', '100'], { tty: true });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/\r\x1b\[2K {0,2}\d+\.\d%  (ETA \S+  )?[\d,]+ rows\/s  written [\d,]+  failed 0  heap \d+ MB/);
    expect(run.stdout).toMatch(/^Done: 3,000 rows read, 3,000 written, 0 failed, 0 skipped in \d+s \([\d,]+ rows\/s, peak heap \d+ MB, peak RSS \d+ MB\)\n$/);
  });

  it('reads standard input with -', async () => {
    const run = await cli(['import', '-', ...target('stdin')], { stdin: Readable.from([products(1000)]) });
    expect(run.report).toMatchObject({ state: 'done', rowsWritten: 1000 });
    expect(run.events[0]).toMatchObject({ event: 'progress', inputBytes: null });
    expect(await db.collection('stdin').countDocuments()).toBe(1000);
  });

  it('recognises gzip by its first bytes, in a file whatever its name and on stdin', async () => {
    const gz = gzipSync(products(2000));
    const fromFile = await cli(['import', file(gz, 'looks-plain.csv'), ...target('gz')]);
    expect(fromFile.report).toMatchObject({ state: 'done', rowsWritten: 2000 });
    const fromStdin = await cli(['import', '-', ...target('gz')], { stdin: Readable.from([gz.subarray(0, 1), gz.subarray(1)]) });
    expect(fromStdin.report).toMatchObject({ state: 'done', rowsWritten: 2000 });
    expect(await db.collection('gz').countDocuments()).toBe(4000);
  });

  it('upsert replaces by key and merge sets only the file\'s fields', async () => {
    const c = db.collection('modes');
    await cli(['import', file('sku,name,price\nA,Apple,1\nB,Bean,2\n'), ...target('modes'), '--mode', 'upsert', '--key', 'sku', '--types', 'price:number']);
    await c.updateOne({ sku: 'A' }, { $set: { stock: 5 } });
    const upsert = await cli(['import', file('sku,name,price\nA,Apricot,3\nC,Corn,4\n'), ...target('modes'), '--mode', 'upsert', '--key', 'sku', '--types', 'price:number']);
    expect(upsert.report).toMatchObject({ rowsWritten: 2, upserted: 1, matched: 1 });
    expect(await c.findOne({ sku: 'A' }, { projection: { _id: 0 } })).toEqual({ sku: 'A', name: 'Apricot', price: 3 });
    await c.updateOne({ sku: 'A' }, { $set: { stock: 5 } });
    const merge = await cli(['import', file('sku,price\nA,9\n'), ...target('modes'), '--mode', 'merge', '--key', 'sku', '--types', 'price:number']);
    expect(merge.report).toMatchObject({ rowsWritten: 1, matched: 1 });
    expect(await c.findOne({ sku: 'A' }, { projection: { _id: 0 } })).toEqual({ sku: 'A', name: 'Apricot', price: 9, stock: 5 });
    expect(await c.countDocuments()).toBe(3);
  });

  it('some rows failed: exit 1, the report lists them, the failures file holds every one with its values', async () => {
    const out = join(dir, 'failures.csv');
    await db.collection('partial').createIndex({ sku: 1 }, { unique: true });
    await db.collection('partial').insertOne({ sku: 'taken' });
    const csv = 'sku,name,price\nA,ok,1\nB,=cmd|calc,oops\nC,three,3,extra\ntaken,dup,4\nD,ok,5\n';
    const run = await cli(['import', file(csv), ...target('partial'), '--types', 'price:number', '--failures-out', out], { tty: true });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Done: 5 rows read, 2 written, 3 failed, 0 skipped');
    expect(run.stdout).toMatch(/line 3 {2}E_TYPE \(price\) {2}Column "price": "oops" is not a number/);
    expect(run.stdout).toContain(`Every failed row, with its values: ${out}`);
    const rows = parse(readFileSync(out), { relax_column_count: true }) as string[][];
    // Rows come in the order they were found (parse errors before type errors of the same chunk).
    rows.sort((a, b) => (a[0] === 'line' ? -1 : b[0] === 'line' ? 1 : Number(a[0]) - Number(b[0])));
    expect(rows.map((r) => r.slice(0, 2).concat(r.slice(4)))).toEqual([
      ['line', 'code', 'sku', 'name', 'price'],
      ['3', 'E_TYPE', 'B', "'=cmd|calc", 'oops'],
      ['4', 'E_COLUMN_COUNT', 'C', 'three', '3', 'extra'],
      ['5', 'E_DUPLICATE_KEY', 'taken', 'dup', '4'],
    ]);
    expect(await db.collection('partial').countDocuments()).toBe(3);
  });

  it('--fields names the columns of a file without a header; --drop empties the collection first', async () => {
    const c = db.collection('headerless');
    await c.insertOne({ stale: true });
    const run = await cli(['import', file('A,1\nB,2\n'), ...target('headerless'), '-f', 'sku,qty', '--types', 'qty:int', '--drop']);
    expect(run.report).toMatchObject({ state: 'done', rowsRead: 2, rowsWritten: 2 });
    expect(await c.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray()).toEqual([{ sku: 'A', qty: 1 }, { sku: 'B', qty: 2 }]);
    // Dropping a collection that does not exist yet is not an error.
    const fresh = await cli(['import', file('A,1\n'), ...target('never-there'), '-f', 'sku,qty', '--drop']);
    expect(fresh.code).toBe(0);
  });

  it('--dry-run parses, types and validates every row and writes nothing', async () => {
    const run = await cli(['import', file('sku,price\nA,1\nB,x\n'), ...target('dry'), '--types', 'price:number', '--dry-run'], { tty: true });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Done: 2 rows read, 1 would be written, 1 failed');
    expect(await db.collection('dry').countDocuments()).toBe(0);
  });

  it.each([
    ['a bad header', () => ['import', file('sku,$where\nA,1\n'), ...target('bad')], 'E_HEADER_INVALID'],
    ['a missing file', () => ['import', join(dir, 'nope.csv'), ...target('bad')], 'E_INPUT'],
    ['an unknown encoding', () => ['import', file('a\n1\n'), ...target('bad'), '--encoding', 'klingon'], 'E_ENCODING'],
    ['an unwritable failures file', () => ['import', file('a\n1\n'), ...target('bad'), '--failures-out', join(dir, 'no', 'such', 'dir.csv')], 'E_FAILURES_OUT'],
    ['an unreachable database', () => ['import', file('a\n1\n'), ...target('bad'), '--uri', 'mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500'], 'E_SINK'],
    ['too many failures', () => ['import', file(products(100, (i) => `s${i},n,x\n`)), ...target('bad'), '--types', 'price:number', '--max-failures', '5'], 'E_TOO_MANY_FAILURES'],
  ])('the import did not finish (%s): exit 2 and the error code', async (_name, argv, code) => {
    const run = await cli(argv());
    expect(run.code).toBe(2);
    const last = run.report;
    expect(last['event'] === 'error' ? last['code'] : (last['error'] as { code: string } | undefined)?.code).toBe(code);
    const human = await cli(argv(), { tty: true });
    expect(human.code).toBe(2);
    expect(human.stdout + human.stderr).toContain(code);
  });

  it('the executable: --help exits 0; a usage error exits 2 with a hint; an import from piped stdin', async () => {
    const help = await spawnCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('anti-oom import <file | -> --db <name> --collection <name>');
    const usage = await spawnCli(['import', 'x.csv', '--db', 'a']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('anti-oom: --collection is required: the collection to import into.\nRun anti-oom --help for the options.\n');
    const piped = await spawnCli(['import', '-', ...target('spawned')], gzipSync(products(1500)));
    expect(piped.code).toBe(0);
    expect(piped.report).toMatchObject({ event: 'report', state: 'done', rowsWritten: 1500 });
    expect(await db.collection('spawned').countDocuments()).toBe(1500);
  });

  it('100,000 failed rows of 1 KB each go to the failures file while the process heap stays small', async () => {
    const path = join(dir, 'many-bad.csv');
    const ws = createWriteStream(path);
    const pad = 'x'.repeat(1000);
    ws.write('sku,note,price\n');
    for (let i = 0; i < 110_000; i++) ws.write(`s${i},${pad},${i % 11 === 0 ? i : 'bad'}\n`);
    await new Promise((r) => ws.end(r));
    const out = join(dir, 'many-failures.csv');
    const run = await spawnCli(['import', path, ...target('many'), '--types', 'price:number', '--failures-out', out, '--json']);
    expect(run.code).toBe(1);
    expect(run.report).toMatchObject({ rowsRead: 110_000, rowsWritten: 10_000, rowsFailed: 100_000, failuresTruncated: true });
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines.length).toBe(100_001);
    expect(lines[1]).toBe(`3,E_TYPE,price,"Column ""price"": ""bad"" is not a number.",s1,${pad},bad`);
    // 100 MB of failed rows went through; had they been kept, the heap would hold them.
    expect(run.report['peakHeapUsedBytes']).toBeLessThan(80 * 1024 * 1024);
  }, 180_000);

  it('Ctrl-C stops the import: batches in flight settle, exit 2 with E_ABORTED, and the database holds what the report says', async () => {
    const path = file(products(300_000));
    const child = spawn(process.execPath, ['--import', 'tsx', bin, 'import', path, ...target('interrupted'), '--json'], {
      env: { ...process.env, MONGODB_URI: uri, TSX_TSCONFIG_PATH: tsconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let sent = false;
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      // Interrupt once rows are landing, as a person watching the progress would.
      if (!sent && out.includes('"event":"progress"')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    const run = cliResult(code, null, out, err);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Stopping: settling the batches in flight');
    expect(run.report).toMatchObject({ event: 'report', state: 'aborted', error: { code: 'E_ABORTED' }, exitCode: 2 });
    expect(run.report['rowsWritten']).toBeLessThan(300_000);
    expect(run.report['rowsRead']).toBe(run.report['rowsWritten'] + run.report['rowsFailed'] + run.report['rowsSkipped']);
    expect(await db.collection('interrupted').countDocuments()).toBe(run.report['rowsWritten']);
  }, 120_000);
});
