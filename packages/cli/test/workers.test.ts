import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Db } from 'mongodb';
import { openTestDb } from '@anti-oom/testing/test-db';
import { parseCommand } from '../src/args.js';
import { runInProcess, type CliRun } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let uri: string;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-cli-workers-'));

beforeAll(async () => {
  t = await openTestDb('cliw');
  db = t.db;
  uri = inject('mongoUri');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (argv: string[]): Promise<CliRun> => runInProcess(argv, { uri });

describe('anti-oom import --workers', () => {
  it('gives the same report, failures and rows as one thread', async () => {
    let csv = 'sku,name,price\n';
    for (let i = 0; i < 20_000; i++) csv += i % 997 === 5 ? `bad-${i},"unclosed"x,1\n` : `sku-${i},"Product\n${i} é",${i % 100}\n`;
    const path = join(dir, 'in.csv');
    writeFileSync(path, csv);
    const one = await cli(['import', path, '-d', db.databaseName, '-c', 'one', '--types', 'price:int', '--json']);
    const two = await cli(['import', path, '-d', db.databaseName, '-c', 'two', '--types', 'price:int', '--json', '--workers', '2']);
    expect(one.code).toBe(1);
    expect(two.code).toBe(1);
    const keep = (r: Record<string, any>) => ({ rowsRead: r.rowsRead, rowsWritten: r.rowsWritten, rowsFailed: r.rowsFailed, failures: r.failures, bytesAcknowledged: r.bytesAcknowledged });
    expect(keep(two.report)).toEqual(keep(one.report));
    // Row i starts on line 2 + 2i, less one for each one-line bad row before it.
    expect(two.report.failures.map((f: { line: number }) => f.line).slice(0, 3)).toEqual([12, 2005, 3998]);
    const rows = (c: string) => db.collection(c).find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray();
    expect(await rows('two')).toEqual(await rows('one'));
  });

  it('refuses what it cannot do exactly, as a usage error', () => {
    const base = ['import', 'x.csv', '-d', 'shop', '-c', 'p'];
    expect(parseCommand([...base, '--workers', '3'])).toMatchObject({ workers: 3 });
    expect(() => parseCommand([...base, '--workers', '2', '--mode', 'upsert', '--key', 'sku'])).toThrow(/--workers 1, or --mode insert/);
    expect(parseCommand([...base, '--workers', '1', '--mode', 'upsert', '--key', 'sku'])).toMatchObject({ workers: 1, mode: 'upsert' });
    expect(() => parseCommand([...base, '--workers', '2', '--resume'])).toThrow(/--resume/);
    expect(() => parseCommand([...base, '--workers', '2', '--dry-run'])).toThrow(/--dry-run/);
    expect(() => parseCommand([...base, '--workers', '0'])).toThrow(/--workers/);
  });

  it('--types infer with --workers fails before reading, in the CLI\'s terms', async () => {
    const path = join(dir, 'small.csv');
    writeFileSync(path, 'a,b\n1,2\n');
    const run = await cli(['import', path, '-d', db.databaseName, '-c', 'x', '--types', 'infer', '--workers', '2', '--json']);
    expect(run.code).toBe(2);
    expect(run.report).toMatchObject({ code: 'E_OPTIONS' });
    expect(run.report.message).toMatch(/--types infer cannot be used with --workers/);
  });
});
