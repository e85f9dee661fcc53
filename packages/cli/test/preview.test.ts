import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Db } from 'mongodb';
import { openTestDb } from '@anti-oom/testing/test-db';
import { parseCommand, UsageError } from '../src/index.js';
import { runInProcess, spawnCli as spawnExecutable, type CliRun } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let uri: string;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-cli-preview-'));
beforeAll(async () => {
  t = await openTestDb('cli_preview');
  db = t.db;
  uri = inject('mongoUri');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

let fileNo = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `f${fileNo++}.csv`);
  writeFileSync(path, content);
  return path;
}

const cli = (argv: string[], tty = false): Promise<CliRun> => runInProcess(argv, { uri, tty });
const spawnCli = (argv: string[], stdin?: Buffer): Promise<CliRun> => spawnExecutable(argv, { uri, ...(stdin ? { stdin } : {}) });

/** An Excel-style export: windows-1252, `;`, decimal commas, leading zeros, ids past 2^53. */
function artikel(rows: number): Buffer {
  const lines = ['Nr;EAN;Bezeichnung;Preis;Bestand;Aktiv;Angelegt;PLZ'];
  for (let i = 0; i < rows; i++) {
    lines.push([i + 1, `${9007199254740993n + BigInt(i)}`, `Größe ${i}`, i % 2 ? `${i},50` : `${i}.25`, i % 10 ? String(i) : '', i % 3 ? 'ja' : 'no', `2024-05-${String((i % 28) + 1).padStart(2, '0')}`, `0${1000 + i}`].join(';'));
  }
  // latin1 and windows-1252 agree on every character used here
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
}

describe('anti-oom preview', () => {
  it('prints JSON through the real executable when stdout is not a terminal: charset and how, delimiter, header, rows, types', async () => {
    const run = await spawnCli(['preview', file(artikel(50))]);
    expect(run.code).toBe(0);
    const p = JSON.parse(run.stdout);
    expect(p).toMatchObject({ event: 'preview', encoding: 'windows-1252', encodingSource: 'fallback', delimiter: ';', complete: true, exitCode: 0 });
    expect(p.header).toEqual(['Nr', 'EAN', 'Bezeichnung', 'Preis', 'Bestand', 'Aktiv', 'Angelegt', 'PLZ']);
    expect(p.rows[0]).toEqual({ line: 2, values: { Nr: '1', EAN: '9007199254740993', Bezeichnung: 'Größe 0', Preis: '0.25', Bestand: '', Aktiv: 'no', Angelegt: '2024-05-01', PLZ: '01000' } });
    // 'ja' is not one of the boolean words, so Aktiv stays a string
    expect(Object.fromEntries(p.columns.map((c: { name: string; type: string }) => [c.name, c.type]))).toEqual({
      Nr: 'int',
      EAN: 'string',
      Bezeichnung: 'string',
      Preis: 'string',
      Bestand: 'int',
      Aktiv: 'string',
      Angelegt: 'date',
      PLZ: 'string',
    });
  });

  it('reads gzip and stdin, and says when the header would stop the import (exit 2)', async () => {
    const gz = await spawnCli(['preview', '-', '--max-rows', '5'], gzipSync('a,b\n1,x\n2,y\n'));
    expect(JSON.parse(gz.stdout)).toMatchObject({ gzip: true, header: ['a', 'b'], rows: [{ line: 2 }, { line: 3 }] });
    const bad = await cli(['preview', file('sku,a.b\n1,2\n')]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'E_HEADER_INVALID' }, exitCode: 2 });
  });

  it('prints a table on a terminal, with the near-miss types and the values that stop them', async () => {
    const run = await cli(['preview', file(artikel(20))], true);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^f\d+\.csv|windows-1252 \(not UTF-8, read as windows-1252\), delimiter ";", 8 columns, 20 rows sampled \(the whole file\)/m);
    expect(run.stdout).toMatch(/^ {2}Preis +string +0 +number 50%: "1,50", "3,50", "5,50"$/m);
    expect(run.stdout).toMatch(/^ {2}Aktiv +string +0 +boolean 35%: "ja"$/m);
    expect(run.stdout).toMatch(/^ {2}PLZ +string +0$/m);
    expect(run.stdout).toMatch(/^ {2}Bestand +int +2 of 20 *$/m);
    expect(run.stdout).toContain('--types Nr:int,Bestand:int,Angelegt:date');
  });

  it('keeps a hostile file from writing escape sequences to the terminal', async () => {
    const run = await cli(['preview', file('a,b\n\x1b]0;owned\x07,\x9b2J\n')], true);
    expect(run.stdout).not.toMatch(/[\x1b\x07\x9b]/);
  });

  it('stops reading a large file at --max-bytes', async () => {
    const big = 'a,b\n' + '1,2\n'.repeat(200_000);
    const p = JSON.parse((await cli(['preview', file(big), '--max-bytes', '1000', '--max-rows', '100000'])).stdout);
    expect(p).toMatchObject({ bytesRead: 1000, complete: false });
    expect(p.rows.length).toBeLessThan(250);
  });
});

describe('anti-oom import --types infer', () => {
  it('infers, converts, and reports the types it chose (NDJSON and text)', async () => {
    const path = file(artikel(30));
    const run = await spawnCli(['import', path, '--db', db.databaseName, '--collection', 'inferred', '--types', 'infer', '--encoding', 'auto', '--delimiter', 'auto']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(report.inferredTypes).toMatchObject({ Nr: 'int', EAN: 'string', Preis: 'string', Bestand: 'int', Angelegt: 'date', PLZ: 'string' });
    const doc = await db.collection('inferred').findOne({ Nr: 11 }, { projection: { _id: 0 } });
    expect(doc).toEqual({ Nr: 11, EAN: '9007199254741003', Bezeichnung: 'Größe 10', Preis: '10.25', Bestand: null, Aktiv: 'ja', Angelegt: new Date('2024-05-11'), PLZ: '01010' });
    const text = await cli(['import', path, '--dry-run', '--types', 'infer', '--encoding', 'auto', '--delimiter', 'auto'], true);
    expect(text.stdout).toContain('Types inferred: Nr:int,Bestand:int,Angelegt:date\n');
  });

  it('parses the commands', () => {
    expect(parseCommand(['import', 'a.csv', '--dry-run', '--types', 'infer'])).toMatchObject({ kind: 'import', types: 'infer' });
    expect(parseCommand(['preview', 'a.csv', '--max-rows', '10', '--delimiter', 'tab'])).toMatchObject({ kind: 'preview', input: 'a.csv', maxRows: 10, delimiter: '\t' });
    expect(() => parseCommand(['preview', 'a.csv', '--max-rows', '0'])).toThrow(UsageError);
    expect(() => parseCommand(['import', 'a.csv', '--dry-run', '--max-rows', '5'])).toThrow(/options of anti-oom preview/);
  });
});

describe('anti-oom import --log-level', () => {
  it('writes pino JSON lines on stderr, each with the import id, and errors as objects', async () => {
    const ok = await cli(['import', file('sku,qty\na,1\nb,x\n'), '--dry-run', '--types', 'qty:int', '--log-level', 'info', '--json']);
    const lines = ok.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.msg)).toEqual(['ingest started', 'ingest finished']);
    expect(new Set(lines.map((l) => l.importId)).size).toBe(1);
    expect(lines[1]).toMatchObject({ level: 30, name: 'anti-oom', state: 'done', rowsWritten: 1, rowsFailed: 1 });
    const failed = await cli(['import', file('sku,$x\n1,2\n'), '--dry-run', '--log-level', 'warn']);
    expect(failed.code).toBe(2);
    const error = JSON.parse(failed.stderr.trim().split('\n')[0]!);
    expect(error).toMatchObject({ level: 50, importId: expect.any(String), msg: 'import failed: E_HEADER_INVALID', err: { type: 'IngestError', code: 'E_HEADER_INVALID', message: expect.stringContaining('"$x"') } });
    expect(() => parseCommand(['import', 'a.csv', '--dry-run', '--log-level', 'loud'])).toThrow(UsageError);
  });
});
