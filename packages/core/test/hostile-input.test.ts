// Hostile and broken files, written by the test, through the whole pipeline into the real server.
// Each must end with its documented error or row failures, a message that says what to do,
// bounded memory, and nothing in the database but the rows that are right.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Db } from 'mongodb';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { createIngestPipeline, isIngestError, mongoSink, type IngestPipelineOptions, type IngestReport, type MongoSinkMode, type RowFailure } from '../src/index.js';
import { expectBalanced, openTestDb } from './helpers.js';

let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;
let n = 0;
const fresh = (): Collection => db.collection(`h${n++}`);
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-hostile-'));
const MB = 1024 * 1024;
/** Heap an import may add over the test process's own, whatever the input. */
const HEAP_BOUND = 64 * MB;

beforeAll(async () => {
  t = await openTestDb('hostile');
  db = t.db;
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

type Content = string | Buffer | ((path: string) => Promise<void>);

async function writeInput(name: string, content: Content): Promise<string> {
  const path = join(dir, name);
  if (typeof content === 'function') await content(path);
  else writeFileSync(path, content);
  return path;
}

/** Streams `parts()` to a file without holding it in memory. */
const streamed = (parts: () => Iterable<string>) => async (path: string) => {
  const ws = createWriteStream(path);
  for (const part of parts()) if (!ws.write(part)) await new Promise<void>((r) => ws.once('drain', () => r()));
  await new Promise<void>((r) => ws.end(() => r()));
};

interface Outcome {
  report: IngestReport;
  error?: { code: string; message: string };
  failures: RowFailure[];
  heapGrowth: number;
  count: number;
}

async function importFile(path: string, collection: Collection, options: Partial<IngestPipelineOptions> = {}, preexisting = 0): Promise<Outcome> {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  const failures: RowFailure[] = [];
  const pipeline = createIngestPipeline({ sink: mongoSink(collection), memory: { intervalMs: 20 }, csv: { engine }, ...options });
  pipeline.on('rowFailure', (f) => failures.push(f));
  let report: IngestReport;
  let error: Outcome['error'];
  try {
    report = await pipeline.run(createReadStream(path));
  } catch (err) {
    if (!isIngestError(err) || !err.report) throw err;
    report = err.report;
    error = { code: err.code, message: err.message };
  }
  expectBalanced(report);
  const count = (await collection.countDocuments()) - preexisting;
  // Nothing in the database but what the report says was written.
  expect(count).toBe(report.rowsWritten);
  return { report, error, failures: failures.sort((a, b) => a.line - b.line), heapGrowth: report.peakHeapUsedBytes - before, count };
}

const mb = (bytes: number) => `${Math.max(0, Math.round(bytes / MB))} MB`;
const failureList = (fs: RowFailure[]) => fs.map((f) => `line ${f.line} ${f.code}`).join(', ');

interface FatalCase {
  name: string;
  file: Content;
  code: string;
  message: RegExp;
}

const fatal: FatalCase[] = [
  { name: 'an empty file', file: '', code: 'E_HEADER_INVALID', message: /no header row/ },
  { name: 'a file of only a UTF-8 BOM', file: Buffer.from([0xef, 0xbb, 0xbf]), code: 'E_HEADER_INVALID', message: /no header row/ },
  {
    name: 'a PNG image uploaded as CSV',
    file: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2048, 7)]),
    code: 'E_CSV_MALFORMED',
    message: /PNG image/,
  },
  { name: 'a header of 100,000 columns', file: Array.from({ length: 100_000 }, (_, i) => `c${i}`).join(',') + '\n1\n', code: 'E_TOO_MANY_COLUMNS', message: /100000 columns; the limit is 10000/ },
  { name: 'a 1 MB header line', file: streamed(function* () { yield 'x'.repeat(MB + 16) + ',b\n1,2\n'; }), code: 'E_ROW_TOO_LARGE', message: /line 1 is larger than 1048576 bytes/ },
  {
    name: 'a 10 MB single field',
    file: streamed(function* () {
      yield 'sku,blob\nA,';
      for (let i = 0; i < 10; i++) yield 'x'.repeat(MB);
      yield '\nB,ok\n';
    }),
    code: 'E_ROW_TOO_LARGE',
    message: /line 2 is larger than 1048576 bytes.*quote that is never closed.*csv.maxRecordBytes/,
  },
  { name: 'a NUL byte in the header', file: 'sku,na\0me\nA,1\n', code: 'E_HEADER_INVALID', message: /not text/ },
  { name: 'a header that is not UTF-8 (Latin-1 é)', file: Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a, 0x31, 0x0a]), code: 'E_ENCODING', message: /csv.encoding: 'auto'/ },
  ...(
    [
      ['$where', /"\$where"/],
      ['a.b', /"a.b"/],
      ['__proto__', /"__proto__".*prototype/],
      ['constructor', /"constructor".*prototype/],
      ['', /\(""\) is empty/],
      ['sku', /"sku".*(repeat|duplicate|twice|more than once)/i],
    ] as const
  ).map(([column, message]) => ({ name: `a header naming a column ${JSON.stringify(column)}`, file: `sku,${column}\nA,1\n`, code: 'E_HEADER_INVALID', message })),
];

/** The parser engine of the describe block running. */
let engine: 'csv-parse' | 'fast' = 'csv-parse';

describe.each(['csv-parse', 'fast'] as const)('hostile input through the pipeline into the real server, %s engine', (name) => {
  beforeAll(() => {
    engine = name;
  });

  it.each(fatal)('$name: ends with $code before writing anything', async ({ name, file, code, message }) => {
    const c = reliabilityCase({ area: 'input', name: `${name} (${engine} engine)`, checked: `import fails with ${code} and a message saying what to do; nothing written; heap growth < ${mb(HEAP_BOUND)}` });
    const o = await importFile(await writeInput(`fatal-${n}.csv`, file), fresh());
    expect(o.error?.code).toBe(code);
    expect(o.error?.message).toMatch(message);
    expect(o.count).toBe(0);
    expect(o.heapGrowth).toBeLessThan(HEAP_BOUND);
    c.outcome(`${code}: "${o.error!.message.slice(0, 90)}${o.error!.message.length > 90 ? '…' : ''}"; 0 written; heap +${mb(o.heapGrowth)}`);
  });

  interface RowCase {
    name: string;
    file: Content;
    written: number;
    failures: [number, string][];
    skipped?: number;
    message?: RegExp;
    options?: Partial<IngestPipelineOptions>;
  }
  const rowCases: RowCase[] = [
    {
      name: 'a quote never closed before the end of the file',
      file: 'sku,name\nA,ok\nB,"never closed\nC,swallowed\n',
      written: 1,
      failures: [[3, 'E_CSV_RECORD']],
      message: /never closed.*Close the quote/,
    },
    { name: 'a quote inside an unquoted field', file: 'sku,name\nA,te"st\nB,ok\n', written: 1, failures: [[2, 'E_CSV_RECORD']], message: /quote appears inside an unquoted field/ },
    { name: 'a quoted field followed by junk ("4"x), then a good row', file: 'sku,qty\nA,"4"x\nB,5\n', written: 1, failures: [[2, 'E_CSV_RECORD']] },
    { name: 'mixed CR, LF and CRLF line ends', file: 'sku,qty\r1,2\n3,4\r\n5,6\r', written: 3, failures: [] },
    { name: 'a header and no rows', file: 'sku,name\n', written: 0, failures: [] },
    { name: 'blank lines between rows', file: 'sku\nA\n\n\nB\n', written: 2, failures: [], skipped: 2 },
    { name: 'a NUL byte inside a value (kept: a BSON string may hold it)', file: 'sku,name\nA,a\0b\n', written: 1, failures: [] },
    {
      name: 'bytes that are not UTF-8 in a row (Latin-1 é in a UTF-8 file)',
      file: Buffer.concat([Buffer.from('sku,name\nA,caf'), Buffer.from([0xe9]), Buffer.from('\nB,ok\n')]),
      written: 1,
      failures: [[2, 'E_ENCODING']],
      message: /not UTF-8.*csv.encoding/,
    },
    { name: 'a row with more fields than the header', file: 'sku,name\nA,b,c\nB,ok\n', written: 1, failures: [[2, 'E_COLUMN_COUNT']], message: /Expected 2 fields/ },
  ];

  it.each(rowCases)('$name: the bad rows fail with their lines, the rest is written', async ({ name, file, written, failures, skipped, message, options }) => {
    const c = reliabilityCase({
      area: 'input',
      name: `${name} (${engine} engine)`,
      checked: failures.length ? `import completes; ${failures.map(([l, code]) => `line ${l} ${code}`).join(', ')}; the other rows written` : 'import completes; every row written',
    });
    const o = await importFile(await writeInput(`rows-${n}.csv`, file), fresh(), options);
    expect(o.error).toBeUndefined();
    expect(o.report.rowsWritten).toBe(written);
    expect(o.failures.map((f) => [f.line, f.code])).toEqual(failures);
    if (skipped !== undefined) expect(o.report.rowsSkipped).toBe(skipped);
    if (message) expect(o.failures[0]!.message).toMatch(message);
    c.outcome(`done: ${o.report.rowsWritten} written${o.failures.length ? `, failed ${failureList(o.failures)}` : ''}${o.report.rowsSkipped ? `, ${o.report.rowsSkipped} skipped` : ''}`);
  });

  it.each<MongoSinkMode>(['insert', 'upsert', 'merge'])(
    'json values with $ keys (%s mode) fail their rows and never reach the server as operators',
    async (mode) => {
      const c = reliabilityCase({ area: 'input', name: `a json column holding {"$set": …} and nested {"$gt": …}, ${mode} mode (${engine} engine)`, checked: 'the rows fail with E_TYPE; the documents in the database are exactly the good rows, untouched by any operator' });
      const collection = fresh();
      await collection.insertOne({ sku: 'victim', role: 'user', meta: { ok: true } });
      const file = [
        'sku,role,meta',
        'A,user,"{""plan"":""basic""}"',
        'victim,user,"{""$set"":{""role"":""admin""}}"',
        'B,user,"{""deep"":{""$gt"":""""}}"',
        'C,user,"{""list"":[{""$where"":""sleep(1000)""}]}"',
      ].join('\n');
      const o = await importFile(await writeInput(`json-${mode}.csv`, file), collection, {
        sink: mongoSink(collection, mode === 'insert' ? {} : { mode, key: 'sku' }),
        types: { meta: 'json' },
      }, 1);
      expect(o.failures.map((f) => [f.line, f.code])).toEqual([
        [3, 'E_TYPE'],
        [4, 'E_TYPE'],
        [5, 'E_TYPE'],
      ]);
      expect(o.failures[0]!.message).toMatch(/\$/);
      expect(await collection.find({}, { projection: { _id: 0 } }).sort({ sku: 1 }).toArray()).toEqual([
        { sku: 'A', role: 'user', meta: { plan: 'basic' } },
        { sku: 'victim', role: 'user', meta: { ok: true } },
      ]);
      c.outcome(`${failureList(o.failures)}; "victim" unchanged; message: "${o.failures[0]!.message}"`);
    },
  );
});
