// What a person meets at the command line: usage errors, messages in terms of flags, dry-run
// wording, keyed writes and their index, and stopping with Ctrl-C or SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Db } from 'mongodb';
import { openTestDb } from '@anti-oom/testing/test-db';
import { HELP } from '../src/index.js';
import { bin, runInProcess, tsconfig, type CliRun } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let uri: string;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-cli-ux-'));

beforeAll(async () => {
  t = await openTestDb('cliux');
  db = t.db;
  uri = inject('mongoUri');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (argv: string[], tty = false): Promise<CliRun> => runInProcess(argv, { uri, tty });

let fileNo = 0;
function file(content: string): string {
  const path = join(dir, `ux${fileNo++}.csv`);
  writeFileSync(path, content);
  return path;
}
function products(n: number, from = 0): string {
  let s = 'sku,name,price\n';
  for (let i = from; i < from + n; i++) s += `sku-${i},Product ${i},${i % 100}\n`;
  return s;
}
const target = (c: string) => ['--db', db.databaseName, '--collection', c];

describe('anti-oom messages', () => {
  it('no arguments: the usage on stderr and exit 2, like any other usage error', async () => {
    const run = await cli([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('anti-oom: name a command.');
    expect(run.stderr).toContain('anti-oom import <file | -> --db <name> --collection <name>');
  });

  it('a bad header names the --fields flag, not the library option', async () => {
    const run = await cli(['import', file('sku,$where\nA,1\n'), ...target('header')], true);
    expect(run.code).toBe(2);
    expect(run.stdout + run.stderr).toContain('pass --fields with safe names');
    expect(run.stdout + run.stderr).not.toContain('csv.columns');
    const json = await cli(['import', file('sku,$where\nA,1\n'), ...target('header'), '--json']);
    expect(json.report['error'].message).toContain('--fields');
  });

  it('a dry run\'s progress says the rows were checked and would be written, never that they were written', async () => {
    const run = await cli(['import', file(products(3000)), '--dry-run', '--batch-size', '100'], true);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/checked, would write [\d,]+/);
    expect(run.stderr).not.toMatch(/ {2}written \d/);
    const json = await cli(['import', file(products(300)), '--dry-run', '--batch-size', '100', '--json']);
    expect(json.stdout.split('\n')[0]).toContain('"dryRun":true');
  });

  it('--help says what --max-failures 0 does to the good rows of the batch, and what --stop-timeout bounds', () => {
    expect(HELP).toContain('with 0, the first bad row ends the');
    expect(HELP).toMatch(/good rows of its batch \(up to --batch-size, 1000\) are\s+not written/);
    expect(HELP).toContain('--stop-timeout <seconds>');
    expect(HELP).toContain('--create-index');
  });
});

describe('keyed writes and their index, against the real server', () => {
  it('upsert by a key without a unique index warns (slow, duplicates possible) and still imports', async () => {
    const run = await cli(['import', file(products(20)), ...target('noindex'), '--mode', 'upsert', '--key', 'sku']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`warning: ${db.databaseName}.noindex has no unique index on sku`);
    expect(run.stderr).toContain('Add --create-index');
    expect(await db.collection('noindex').countDocuments()).toBe(20);
    // Insert mode has no key: nothing to warn about.
    const insert = await cli(['import', file(products(5)), ...target('noindex_insert')]);
    expect(insert.stderr).toBe('');
  });

  it('--create-index creates the unique index, so the next import does not warn; merge counts too', async () => {
    const run = await cli(['import', file(products(20)), ...target('withindex'), '--mode', 'merge', '--key', 'sku', '--create-index']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`created the unique index sku_1 on ${db.databaseName}.withindex`);
    const indexes = await db.collection('withindex').listIndexes().toArray();
    expect(indexes.find((i) => i['name'] === 'sku_1')).toMatchObject({ key: { sku: 1 }, unique: true });
    const again = await cli(['import', file(products(20)), ...target('withindex'), '--mode', 'upsert', '--key', 'sku']);
    expect(again.stderr).toBe('');
    expect(await db.collection('withindex').countDocuments()).toBe(20);
  });

  it('--create-index over existing duplicates of the key: exit 2 with what to do, nothing imported', async () => {
    await db.collection('dups').insertMany([{ sku: 'x' }, { sku: 'x' }]);
    const run = await cli(['import', file(products(3)), ...target('dups'), '--mode', 'upsert', '--key', 'sku', '--create-index'], true);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('already holds duplicates of the key');
    expect(await db.collection('dups').countDocuments()).toBe(2);
  });

  it('--drop empties the collection but keeps its index definitions, and says so', async () => {
    const c = db.collection('dropkeep');
    await c.insertOne({ sku: 'stale', region: 'x' });
    await c.createIndex({ sku: 1 }, { unique: true });
    await c.createIndex({ name: 1 }, { name: 'by_name' });
    const run = await cli(['import', file(products(10)), ...target('dropkeep'), '--mode', 'upsert', '--key', 'sku', '--drop']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`dropped ${db.databaseName}\\.dropkeep; its indexes were created again: (sku_1, by_name|by_name, sku_1)\\n`));
    expect(run.stderr).not.toContain('warning');
    expect(await c.countDocuments()).toBe(10);
    expect(await c.findOne({ sku: 'stale' })).toBeNull();
    const indexes = await c.listIndexes().toArray();
    expect(indexes.map((i) => [i['name'], i['unique'] ?? false]).sort()).toEqual([['_id_', false], ['by_name', false], ['sku_1', true]]);
  });
});


/** The real executable; `stopWhen` decides, from what it printed so far, when to send `signal`. */
function stopped(argv: string[], signal: NodeJS.Signals, stopWhen: (out: string, err: string) => boolean, delayMs = 0): Promise<{ code: number | null; stdout: string; stderr: string; report: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...argv], { env: { ...process.env, MONGODB_URI: uri, TSX_TSCONFIG_PATH: tsconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sent = false;
    const check = (): void => {
      if (sent || !stopWhen(out, err)) return;
      sent = true;
      setTimeout(() => child.kill(signal), delayMs);
    };
    child.stdout.on('data', (c: Buffer) => ((out += c.toString()), check()));
    child.stderr.on('data', (c: Buffer) => ((err += c.toString()), check()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      resolve({ code, stdout: out, stderr: err, report: last.startsWith('{') ? JSON.parse(last) : {} });
    });
  });
}

describe('stopping the executable', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s: the import stops, the report comes, exit 2, and the database holds what the report says', async (signal) => {
    const collection = `stop_${signal.toLowerCase()}`;
    const run = await stopped(['import', file(products(300_000)), ...target(collection), '--json'], signal, (out) => out.includes('"event":"progress"'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Stopping: settling the batches in flight');
    expect(run.report).toMatchObject({ event: 'report', state: 'aborted', error: { code: 'E_ABORTED' }, exitCode: 2 });
    expect(run.report['error'].message).toContain(signal);
    expect(run.report['rowsRead']).toBe(run.report['rowsWritten'] + run.report['rowsFailed'] + run.report['rowsSkipped']);
    expect(await db.collection(collection).countDocuments()).toBe(run.report['rowsWritten']);
  }, 120_000);

  it('a database that does not acknowledge after the stop: the wait is bounded by --stop-timeout, the rows in flight are unconfirmed, the report still comes', async () => {
    // Keyed upserts in batches of 1000 over a collection with no index: FerretDB does not answer
    // such a batch for minutes; a real mongod may finish first, which the test also accepts.
    const c = db.collection('stop_slow');
    await c.insertMany(Array.from({ length: 5000 }, (_, i) => ({ sku: `sku-${i}`, name: 'old', price: 0 })));
    const run = await stopped(
      ['import', file(products(20_000)), ...target('stop_slow'), '--mode', 'upsert', '--key', 'sku', '--stop-timeout', '1', '--json'],
      'SIGTERM',
      (_out, err) => err.includes('has no unique index'),
      1500,
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Stopping: settling the batches in flight: reading stopped; waiting at most 1s for the database to acknowledge the batches in flight \([\d,]+ rows read and not yet written; send the signal again, or Ctrl-C, to quit at once\)/);
    expect(run.report).toMatchObject({ event: 'report', state: 'aborted', exitCode: 2 });
    expect(run.report['rowsRead']).toBe(run.report['rowsWritten'] + run.report['rowsFailed'] + run.report['rowsSkipped']);
    if (run.stderr.includes('did not acknowledge within 1s')) {
      expect(run.report['failures'].some((f: { code: string }) => f.code === 'E_UNCONFIRMED')).toBe(true);
    }
  }, 120_000);
});
