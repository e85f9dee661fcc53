import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db } from 'mongodb';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestPipeline, fileSource, IngestErrorCode, mongoCheckpoints, mongoSink, type IngestPipelineOptions } from '../src/index.js';
import { openTestDb } from './helpers.js';
import { crashable, crashAndResume, outcome } from './resume-helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let n = 0;
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-resume-'));

beforeAll(async () => {
  t = await openTestDb('resume');
  db = t.db;
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('resume: exactly once across crashes', () => {
  /**
   * Rows, some bad (price not a number), a few blank lines; skus repeat for keyed modes. Keyed
   * modes get fewer rows: FerretDB's SQLite backend scans the collection for each keyed write.
   */
  function dataset(repeatKeys: boolean): string {
    let s = 'sku,name,price\n';
    const rows = repeatKeys ? 400 : 3000;
    for (let i = 0; i < rows; i++) {
      if (i % 400 === 17) s += '\n';
      const sku = repeatKeys && i % 97 === 96 ? `sku-${i - 50}` : `sku-${i}`;
      const price = i % 131 === 7 ? 'n/a' : String(i % 1000);
      s += `${sku},"Product ${i}",${price}\n`;
    }
    return s;
  }

  for (const mode of ['insert', 'upsert', 'merge'] as const) {
    it(`${mode}: three crashes between a write and its checkpoint, concurrency 4: every good row once, and the report of an uninterrupted run`, async () => {
      const c = reliabilityCase({
        area: 'fault',
        name: `resumable import (${mode} mode, concurrency 4) "crashes" three times right after a batch is acknowledged and before its checkpoint is stored, and is resumed each time`,
        checked: 'the collection (unique index on sku) holds exactly the rows of an uninterrupted run; rowsRead, rowsWritten, rowsFailed, rowsSkipped and the failures equal that run; the report says resumed 3 times',
      });
      const keyed = mode !== 'insert';
      const path = file(`${mode}.csv`, dataset(keyed));
      const options = (collection: Collection): Omit<IngestPipelineOptions, 'resume'> => ({
        sink: mongoSink(collection, keyed ? { mode, key: 'sku' } : {}),
        types: { price: 'int' },
        batch: { size: keyed ? 20 : 100 },
        concurrency: 4,
      });
      const reference = db.collection(`ref${n++}`);
      await reference.createIndex({ sku: 1 }, { unique: true });
      const expected = await createIngestPipeline(options(reference)).run(fileSource(path));

      const target = db.collection(`res${n++}`);
      await target.createIndex({ sku: 1 }, { unique: true });
      const { report, runs } = await crashAndResume(options(target), path, `k-${mode}`, keyed ? [3, 4, 3] : [2, 6, 10], db.collection('checkpoints'));

      expect(runs).toBe(4);
      for (const k of ['rowsRead', 'rowsWritten', 'rowsFailed', 'rowsSkipped'] as const) expect(report[k]).toBe(expected[k]);
      expect(report.failures).toEqual(expected.failures);
      expect(report.resumed?.times).toBe(3);
      const project = { projection: { _id: 0 }, sort: { sku: 1 } } as const;
      const got = await target.find({}, project).toArray();
      expect(got).toEqual(await reference.find({}, project).toArray());
      expect(await target.countDocuments()).toBe(keyed ? new Set(got.map((d) => d.sku)).size : expected.rowsWritten);
      c.outcome(`${runs} runs (3 crashes); ${report.rowsWritten} written, ${report.rowsFailed} failed, ${report.rowsSkipped} skipped, as the uninterrupted run; ${got.length} documents, 0 duplicates`);
    });
  }

  it("types: 'infer' resumes with the types its first run inferred, not new ones from the middle of the file", async () => {
    // The first 1,500 refs look like integers, the rest do not: inferring again after a crash at
    // row ~1,400 would choose string and write rows the uninterrupted import fails.
    let s = 'sku,ref\n';
    for (let i = 0; i < 3000; i++) s += `sku-${i},${i < 1500 ? i : `A${i}`}\n`;
    const path = file('infer.csv', s);
    const options = (collection: Collection): Omit<IngestPipelineOptions, 'resume'> => ({ sink: mongoSink(collection), types: 'infer', batch: { size: 100 } });
    const expected = await createIngestPipeline(options(db.collection(`ref${n++}`))).run(fileSource(path));
    expect(expected.inferredTypes?.ref).toBe('int');
    expect(expected.rowsFailed).toBe(1500);

    const target = db.collection(`res${n++}`);
    const { report, runs } = await crashAndResume(options(target), path, 'k-infer', [14], db.collection('checkpoints'));
    expect(runs).toBe(2);
    expect(report.resumed?.times).toBe(1);
    expect(report.resumed!.fromLine).toBeGreaterThan(600);
    for (const k of ['rowsRead', 'rowsWritten', 'rowsFailed', 'rowsSkipped'] as const) expect(report[k]).toBe(expected[k]);
    expect(report.inferredTypes).toEqual(expected.inferredTypes);
    expect(await target.countDocuments()).toBe(1500);
  });

  it('a completed key is refused with E_ALREADY_DONE, nothing read; restart starts over', async () => {
    const path = file('done.csv', 'sku,price\na,1\nb,2\n');
    const store = mongoCheckpoints(db.collection('checkpoints'));
    const target = db.collection(`done${n++}`);
    const first = await createIngestPipeline({ sink: mongoSink(target), resume: { store, key: 'done' } }).run(fileSource(path));
    expect(first.rowsWritten).toBe(2);
    const again = await outcome(createIngestPipeline({ sink: mongoSink(target), resume: { store, key: 'done' } }).run(fileSource(path)));
    expect(again.code).toBe(IngestErrorCode.E_ALREADY_DONE);
    expect(again.report.rowsRead).toBe(0);
    expect(await target.countDocuments()).toBe(2);
    const restarted = await createIngestPipeline({ sink: mongoSink(db.collection(`done${n++}`)), resume: { store, key: 'done', restart: true } }).run(fileSource(path));
    expect(restarted.rowsWritten).toBe(2);
    expect(restarted.resumed).toBeUndefined();
  });

  it('a changed file under the same key is refused with E_RESUME_MISMATCH, nothing written', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => `s${i},${i}\n`).join('');
    const path = file('changing.csv', `sku,price\n${rows}`);
    const store = crashable(mongoCheckpoints(db.collection('checkpoints')));
    const p = createIngestPipeline({ sink: mongoSink(db.collection(`mm${n++}`)), batch: { size: 50 }, resume: { store, key: 'changing-2', intervalMs: 0 } });
    let batches = 0;
    p.on('progress', () => void (++batches === 3 && p.abort('stop')));
    await outcome(p.run(fileSource(path)));
    writeFileSync(path, `sku,price\n${rows}extra,1\n`);
    const other = db.collection(`mm${n++}`);
    const r = await outcome(createIngestPipeline({ sink: mongoSink(other), resume: { store, key: 'changing-2' } }).run(fileSource(path)));
    expect(r.code).toBe(IngestErrorCode.E_RESUME_MISMATCH);
    expect(await other.countDocuments()).toBe(0);
  });

  it('resume with a stream (stdin, an upload) is refused with E_NOT_SEEKABLE before anything is read', async () => {
    let reads = 0;
    const stream = new Readable({
      read() {
        reads++;
        this.push(null);
      },
    });
    const r = await outcome(
      createIngestPipeline({ sink: mongoSink(db.collection(`ns${n++}`)), resume: { store: mongoCheckpoints(db.collection('checkpoints')), key: 'stdin' } }).run(stream),
    );
    expect(r.code).toBe(IngestErrorCode.E_NOT_SEEKABLE);
    expect(reads).toBe(0);
    expect(await db.collection('checkpoints').findOne({ _id: 'stdin' as never })).toBeNull();
  });
});

describe('resume: at the right byte and line in every encoding and line ending', () => {
  /** Rows with quoted fields spanning lines, accents and an emoji; `eol` between records. */
  function text(eol: string): { csv: string; rows: { id: string; note: string }[] } {
    const rows: { id: string; note: string }[] = [];
    let csv = `id;note${eol}`;
    for (let i = 0; i < 60; i++) {
      const note = i % 3 === 0 ? `line one${eol}line two é ${i}` : i % 3 === 1 ? `café; "quoted" ${i}` : `plain ${i} ü€`;
      rows.push({ id: `r${i}`, note });
      csv += `r${i};"${note.replaceAll('"', '""')}"${eol}`;
    }
    return { csv, rows };
  }

  const cases = [
    { name: 'UTF-8 with BOM, LF', encoding: 'utf8', eol: '\n', encode: (s: string) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(s)]), width: (s: string) => Buffer.byteLength(s) },
    { name: 'UTF-8, CRLF', encoding: 'utf8', eol: '\r\n', encode: (s: string) => Buffer.from(s), width: (s: string) => Buffer.byteLength(s) },
    { name: 'windows-1252, CRLF', encoding: 'windows-1252', eol: '\r\n', encode: (s: string) => iconv.encode(s, 'windows-1252'), width: (s: string) => s.length },
    { name: 'UTF-16LE with BOM (auto), CRLF', encoding: 'auto', eol: '\r\n', encode: (s: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode(s, 'utf-16le')]), width: (s: string) => 2 * s.length },
  ];
  for (const engine of ['csv-parse', 'fast'] as const) {
    for (const k of cases) {
      it(`${k.name}, ${engine} engine: resumes at the byte and line where the next record starts, and every row lands once, intact`, async () => {
        const { csv, rows } = text(k.eol);
        const bom = k.encode('').length;
        const path = file(`enc-${n++}.csv`, k.encode(csv));
        const target = db.collection(`enc${n++}`);
        await target.createIndex({ id: 1 }, { unique: true });
        const options = { sink: mongoSink(target), csv: { encoding: k.encoding, delimiter: 'auto', engine }, batch: { size: 3 } };
        const key = `enc-${n++}`;
        const checkpoints = db.collection('checkpoints');
        const { report } = await crashAndResume(options, path, key, [4], checkpoints);
        expect(report.rowsWritten).toBe(60);
        expect(report.resumed?.times).toBe(1);
        // The resume started mid-file, at the start of a record: at the byte and line the text
        // says that record starts on.
        const starts = rows.map((r) => csv.slice(0, csv.indexOf(`${k.eol}${r.id};`) + k.eol.length));
        const at = starts.find((before) => before.split(k.eol).length === report.resumed?.fromLine);
        expect(at, `no record starts on line ${report.resumed?.fromLine}`).toBeDefined();
        expect(at!.length).toBeGreaterThan(20);
        expect(report.resumed?.fromByte).toBe(bom + k.width(at!));
        const got = await target.find({}, { projection: { _id: 0 }, sort: { id: 1 } }).toArray();
        expect(got).toEqual([...rows].sort((a, b) => (a.id < b.id ? -1 : 1)));
      });
    }
  }
});
