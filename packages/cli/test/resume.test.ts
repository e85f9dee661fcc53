import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Db } from 'mongodb';
import { openTestDb } from '@anti-oom/testing/test-db';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { runInProcess, spawnCli as spawnExecutable, type CliRun } from './helpers.js';
import { CHECKPOINTS_COLLECTION, resumeKey } from '../src/resume.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let uri: string;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-cli-resume-'));

beforeAll(async () => {
  t = await openTestDb('cliresume');
  db = t.db;
  uri = inject('mongoUri');
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The real executable; `crash` sets the SIGKILL test hook (see src/crash-hook.ts). */
const spawnCli = (argv: string[], crash?: string): Promise<CliRun> =>
  spawnExecutable(argv, {
    uri,
    // A checkpoint after every acknowledged batch, so kills land on every side of one.
    env: { ANTI_OOM_CHECKPOINT_MS: '0', ...(crash ? { ANTI_OOM_TEST_CRASH: crash } : {}) },
  });
const cli = (argv: string[], stdin?: Readable): Promise<CliRun> => runInProcess(argv, { uri, ...(stdin ? { stdin } : {}) });

/** A small seeded generator (mulberry32), so the kill moments are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const target = (c: string) => ['--db', db.databaseName, '--collection', c];

describe('anti-oom import --resume', () => {
  it('SIGKILLed at 10 seeded moments (first batch, mid-batch, between a write and its checkpoint, right after a checkpoint, last batch) and run again with --resume each time: every good row exactly once, and the report of an uninterrupted run', async () => {
    const c = reliabilityCase({
      area: 'fault',
      name: 'the CLI process is SIGKILLed at 10 seeded moments of one import (during the first batch, mid-batch, after a write before its checkpoint, right after a checkpoint, during the last batch) and restarted with --resume until it finishes',
      checked: 'the collection (unique index on sku) holds exactly the good rows once each (no duplicate sku, same documents as an uninterrupted run); rowsRead, rowsWritten, rowsFailed, rowsSkipped and the failures equal the uninterrupted run; the report says resumed 10 times',
    });
    const ROWS = 16_000;
    let csv = 'sku,name,price\n';
    for (let i = 0; i < ROWS; i++) {
      if (i % 3001 === 1000) csv += '\n';
      csv += `sku-${i},"Product ${i}",${i % 157 === 3 ? 'bad' : (i % 1000) / 10}\n`;
    }
    const path = join(dir, 'orders.csv');
    writeFileSync(path, csv);
    const args = ['--types', 'price:number', '--batch-size', '400', '--json'];

    const reference = await cli(['import', path, ...target('reference'), ...args]);
    expect(reference.code).toBe(1);
    const expected = reference.events.at(-1)!;
    const batches = Math.ceil(expected['rowsWritten'] / 400);

    const collection = db.collection('orders');
    await collection.createIndex({ sku: 1 }, { unique: true });
    const checkpoints = db.collection(CHECKPOINTS_COLLECTION);
    const key = resumeKey(path, db.databaseName, 'orders');

    // Ten kills: the first during the very first batch, the last during the last batch, and
    // eight drawn from the other kinds, each a few batches past where the import stands.
    const random = seeded(11);
    const kills: string[] = ['batch:0'];
    const kinds = ['batch', 'rows', 'checkpoint'] as const;
    for (let i = 0; i < 8; i++) kills.push(kinds[Math.floor(random() * kinds.length)]!);
    kills.push(`rows:${expected['rowsWritten']}`);

    const moments: string[] = [];
    let resumes = 0;
    let last: CliRun | undefined;
    for (let i = 0; i <= kills.length; i++) {
      const stored = (await checkpoints.findOne({ _id: key as never })) as { counters: { rowsWritten: number }; line: number; offset: number } | null;
      let crash = kills[i];
      if (crash === 'rows') crash = `rows:${(stored?.counters.rowsWritten ?? 0) + Math.ceil((0.3 + random() * 2) * 400)}`;
      else if (crash === 'batch') crash = `batch:${1 + Math.floor(random() * 3)}`;
      else if (crash === 'checkpoint') crash = `checkpoint:${2 + Math.floor(random() * 2)}`;
      const run = await spawnCli(['import', path, ...target('orders'), ...args, '--resume'], crash);
      if (stored !== null) {
        resumes++;
        // Every run after the first says where it resumes, before reading anything: where the
        // killed run's last checkpoint stands. A checkpoint write the killed process had already
        // sent can still land after the read above, so that point is at or past what was read
        // here, never before it (checkpoints only move forward).
        const at = run.events[0]!;
        expect(at).toMatchObject({ event: 'resume' });
        expect(at['line']).toBeGreaterThanOrEqual(stored.line);
        expect(at['byte']).toBeGreaterThanOrEqual(stored.offset);
        expect(at['rowsWritten']).toBeGreaterThanOrEqual(stored.counters.rowsWritten);
        if (at['line'] === stored.line) expect(at).toMatchObject({ byte: stored.offset, rowsWritten: stored.counters.rowsWritten });
      }
      if (crash !== undefined) {
        expect(run.signal, `run ${i} (${crash}) should have been killed: ${run.stderr}`).toBe('SIGKILL');
        moments.push(crash);
      }
      last = run;
    }

    const report = last!.events.at(-1)!;
    expect(report).toMatchObject({ event: 'report', state: 'done', exitCode: 1 });
    for (const k of ['rowsRead', 'rowsWritten', 'rowsFailed', 'rowsSkipped']) expect(report[k]).toBe(expected[k]);
    expect(report['failures']).toEqual(expected['failures']);
    expect(report['resumed']).toMatchObject({ times: 10 });
    const duplicates = await collection.aggregate([{ $group: { _id: '$sku', n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }]).toArray();
    expect(duplicates).toEqual([]);
    const project = { projection: { _id: 0 }, sort: { sku: 1 } } as const;
    const docs = await collection.find({}, project).toArray();
    expect(docs.length).toBe(expected['rowsWritten']);
    expect(docs).toEqual(await db.collection('reference').find({}, project).toArray());
    c.outcome(
      `${moments.length} kills (${moments.join(', ')}), ${resumes} resumes; ${report['rowsRead']} rows read, ${report['rowsWritten']} written, ${report['rowsFailed']} failed, ${report['rowsSkipped']} skipped in ${batches} batches, as the uninterrupted run; duplicates found: ${duplicates.length}`,
    );
  }, 300_000);

  it('a finished import is not run again (E_ALREADY_DONE, exit 2, says --restart); --restart --drop starts over', async () => {
    const path = join(dir, 'done.csv');
    writeFileSync(path, 'sku,price\na,1\nb,2\n');
    const first = await cli(['import', path, ...target('done'), '--resume']);
    expect(first.code).toBe(0);
    const again = await cli(['import', path, ...target('done'), '--resume']);
    expect(again.code).toBe(2);
    expect(again.events.at(-1)).toMatchObject({ event: 'report', error: { code: 'E_ALREADY_DONE' } });
    expect(again.events.at(-1)!['error'].message).toContain('--restart');
    expect(await db.collection('done').countDocuments()).toBe(2);
    const restarted = await cli(['import', path, ...target('done'), '--restart', '--drop']);
    expect(restarted.code).toBe(0);
    expect(await db.collection('done').countDocuments()).toBe(2);
  });

  it('stdin and gzip cannot be resumed: E_NOT_SEEKABLE, exit 2, before anything is read', async () => {
    let reads = 0;
    const stdin = new Readable({
      read() {
        reads++;
        this.push(null);
      },
    });
    const piped = await cli(['import', '-', ...target('nope'), '--resume'], stdin);
    expect(piped.code).toBe(2);
    expect(piped.events.at(-1)).toMatchObject({ event: 'error', code: 'E_NOT_SEEKABLE' });
    expect(reads).toBe(0);
    const gz = join(dir, 'data.csv.gz');
    writeFileSync(gz, gzipSync('sku\na\n'));
    const zipped = await cli(['import', gz, ...target('nope'), '--resume']);
    expect(zipped.code).toBe(2);
    expect(zipped.events.at(-1)).toMatchObject({ event: 'error', code: 'E_NOT_SEEKABLE' });
    expect(zipped.events.at(-1)!['message']).toContain('gunzip');
    expect(await db.collection('nope').countDocuments()).toBe(0);
  });

  it('a changed file under the same path and target is refused (E_RESUME_MISMATCH), nothing written', async () => {
    const path = join(dir, 'changed.csv');
    writeFileSync(path, 'sku,price\n' + Array.from({ length: 3000 }, (_, i) => `s${i},${i}\n`).join(''));
    const killed = await spawnCli(['import', path, ...target('changed'), '--batch-size', '100', '--json', '--resume'], 'rows:1000');
    expect(killed.signal).toBe('SIGKILL');
    writeFileSync(path, 'sku,price\n' + Array.from({ length: 3000 }, (_, i) => `t${i},${i}\n`).join(''));
    const run = await cli(['import', path, ...target('changed'), '--resume']);
    expect(run.code).toBe(2);
    expect(run.events.at(-1)).toMatchObject({ error: { code: 'E_RESUME_MISMATCH' } });
    // (A batch the killed run had sent may still land after it died; none of the new file's rows can.)
    expect(await db.collection('changed').countDocuments({ sku: /^t/ })).toBe(0);
    expect(await db.collection('changed').countDocuments({ sku: /^s/ })).toBeGreaterThan(0);
  }, 60_000);
});
