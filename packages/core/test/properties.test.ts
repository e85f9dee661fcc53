// Properties checked on generated inputs (fast-check; a failure prints the seed and the shrunk case).
import { isUtf8 } from 'node:buffer';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'csv-stringify/sync';
import type { Db } from 'mongodb';
import { reliabilityCase } from '@anti-oom/testing/reliability';
import { invalidUtf8Offsets, Utf8Checker } from '../src/csv/utf8-check.js';
import { createCsvParser, createIngestPipeline, isIngestError, mongoSink, type BatchWriter, type CsvParserOptions, type CsvRecord, type IngestReport } from '../src/index.js';
import { openTestDb } from './helpers.js';

/** The parser engines; every property runs against each. */
const ENGINES = ['csv-parse', 'fast'] as const;
type Engine = (typeof ENGINES)[number];

const NAME = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/);
/** Field values that stress CSV: quotes, delimiters, every line end, empties, astral characters. */
const VALUE = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
      { weight: 2, arbitrary: fc.constantFrom('"', '""', ',', ';', '\n', '\r', '\r\n', ' ', '', '😀', '𝄞', 'é', '\t') },
    ),
    { maxLength: 5 },
  )
  .map((parts) => parts.join(''));

const TABLE = fc
  .uniqueArray(NAME, { minLength: 1, maxLength: 5 })
  .chain((header) =>
    fc.record({
      header: fc.constant(header),
      // A one-column row of "" is a blank line in CSV, which is skipped rather than read.
      rows: fc.array(fc.array(header.length === 1 ? VALUE.filter((v) => v !== '') : VALUE, { minLength: header.length, maxLength: header.length }), { maxLength: 25 }),
      lineEnd: fc.constantFrom('\n', '\r\n', '\r'),
      quoted: fc.boolean(),
    }),
  );

/** Physical line breaks in `text`: CRLF, CR and LF each count once. */
const lineBreaks = (text: string) => (text.match(/\r\n|\r|\n/g) ?? []).length;

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out.filter((b) => b.length > 0);
}

interface Parsed {
  records: CsvRecord[];
  failures: [number, string, string | undefined][];
  skipped: number[];
  /** The code of the error that ended the input, if one did. */
  fatal: string | undefined;
  /** The line that error names. */
  fatalLine?: number | undefined;
}

async function parseChunks(chunks: Buffer[], engine: Engine, options: CsvParserOptions = {}): Promise<Parsed> {
  const records: CsvRecord[] = [];
  const failures: Parsed['failures'] = [];
  const skipped: number[] = [];
  let fatal: string | undefined;
  let fatalLine: number | undefined;
  await pipeline(
    Readable.from(chunks, { objectMode: false }),
    createCsvParser({ ...options, engine, onRowFailure: (f) => failures.push([f.line, f.code, f.column]), onSkip: (l) => skipped.push(l) }),
    new Writable({
      objectMode: true,
      write(r: CsvRecord, _e, cb) {
        records.push(r);
        cb();
      },
    }),
  ).catch((err: unknown) => {
    if (!isIngestError(err)) throw err;
    fatal = err.code;
    fatalLine = (err.context as { line?: number } | undefined)?.line;
  });
  return { records, failures, skipped, fatal, fatalLine };
}

describe.each(ENGINES)('properties of the %s engine', (engine) => {
  it('any table written by csv-stringify, cut into any chunks, parses back to the same records and line numbers', async () => {
    const c = reliabilityCase({ area: 'property', name: `CSV round trip (${engine} engine): random tables with quotes, delimiters, CR/LF/CRLF, empty fields and astral characters, written with csv-stringify, fed in random chunk splits`, checked: 'the parser returns exactly the rows written, each with the physical line it starts on, and no failures' });
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(TABLE, fc.array(fc.nat(), { maxLength: 8 }), async ({ header, rows, lineEnd, quoted }, cuts) => {
        runs++;
        // RFC 4180 quotes every field with a line break; csv-stringify quotes only those holding its
        // own record delimiter, which no reader accepting all three line ends could split right.
        const options = { record_delimiter: lineEnd, quoted, quoted_match: /[\r\n]/ };
        let text = stringify([header], options);
        const expected: { line: number; row: Record<string, string> }[] = [];
        for (const row of rows) {
          expected.push({ line: 1 + lineBreaks(text), row: Object.fromEntries(header.map((h, i) => [h, row[i]!])) });
          text += stringify([row], options);
        }
        const parsed = await parseChunks(splitAt(Buffer.from(text), cuts), engine);
        expect(parsed.failures).toEqual([]);
        expect(parsed.records.map((r) => ({ line: r.line, row: r.row }))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
    c.outcome(`${runs} generated tables, each in random chunks: all parsed back exactly`);
  });
});

describe('the two engines', () => {
  /** Text made of the characters that matter to CSV, in any order: well-formed or not. */
  const SOUP = fc
    .array(fc.constantFrom('a', 'b', 'é', '😀', ' ', ',', ';', '"', '""', '\n', '\r', '\r\n', '\n\n', '"a,b"', '"x\ny"', 'c', '\u0001', '\u0002'), { maxLength: 60 })
    .map((parts) => parts.join(''));
  const OPTIONS = fc.record({
    delimiter: fc.constantFrom(',', ';', 'auto', '::'),
    skipEmptyLines: fc.boolean(),
    relaxColumnCount: fc.boolean(),
    quote: fc.constantFrom<string | null>('"', '"', '"', null),
  });

  it('give the same records, lines, failures, skips and fatal errors on any text, in any chunks', async () => {
    const c = reliabilityCase({ area: 'property', name: 'differential: the fast engine against the csv-parse engine on random text built from CSV-significant characters (quotes, delimiters, every line end, multi-byte characters, bytes that are not UTF-8), well-formed or not, with random options and chunk splits', checked: 'records (line, fields, byte size), failures (line, code, column), skipped lines and the fatal error code are identical' });
    let runs = 0;
    let broken = 0;
    await fc.assert(
      fc.asyncProperty(SOUP, OPTIONS, fc.array(fc.nat(), { maxLength: 6 }), async (text, options, cuts) => {
        runs++;
        // \u0001 and \u0002 stand for bytes that are not UTF-8: a lone 0xFF and a Latin-1 é (0xE9).
        const bytes = Buffer.from(Buffer.from(`h1,h2\n${text}`).map((b) => (b === 1 ? 0xff : b === 2 ? 0xe9 : b)));
        const expected = await parseChunks([bytes], 'csv-parse', options);
        const actual = await parseChunks(splitAt(bytes, cuts), 'fast', options);
        if (expected.failures.length > 0 || expected.fatal) broken++;
        expect(actual).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
    c.outcome(`${runs} random texts (${broken} of them with broken records or a fatal error): identical every time`);
  }, 120_000);

  it('agree on maxRecordBytes when it is small: the same records before the same E_ROW_TOO_LARGE, in any chunks', async () => {
    const c = reliabilityCase({ area: 'property', name: 'differential with a small csv.maxRecordBytes (1-40 bytes): random CSV-significant text, random options, each engine fed in its own random chunk splits', checked: 'both engines, in any chunking, give what the csv-parse engine gives on the whole input: records, failures, skips, and whether and where the import ends with E_ROW_TOO_LARGE' });
    let runs = 0;
    let tooLarge = 0;
    await fc.assert(
      fc.asyncProperty(SOUP, OPTIONS, fc.integer({ min: 1, max: 40 }), fc.array(fc.nat(), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), async (text, options, maxRecordBytes, cutsFast, cutsSlow) => {
        runs++;
        const bytes = Buffer.from(Buffer.from(`h1,h2\n${text}`).map((b) => (b === 1 ? 0xff : b === 2 ? 0xe9 : b)));
        const all = { ...options, maxRecordBytes };
        // Without the limit: what every run must give, or a prefix of it when the limit ends the input.
        const unlimited = await parseChunks([bytes], 'csv-parse', options);
        const expected = await parseChunks([bytes], 'csv-parse', all);
        if (expected.fatal === 'E_ROW_TOO_LARGE') tooLarge++;
        for (const actual of [
          await parseChunks(splitAt(bytes, cutsFast), 'fast', all),
          await parseChunks(splitAt(bytes, cutsSlow), 'csv-parse', all),
          await parseChunks([bytes], 'fast', all),
        ]) {
          expect([actual.fatal, actual.fatalLine]).toEqual([expected.fatal, expected.fatalLine]);
          if (expected.fatal === undefined) {
            expect(actual).toEqual(unlimited);
          } else if (expected.fatal === 'E_ROW_TOO_LARGE' && unlimited.fatal === undefined) {
            // Records found in the chunk that ended the input may not be handed on; those handed on
            // are the ones before the record that is too large, exactly.
            expect(actual.records).toEqual(unlimited.records.slice(0, actual.records.length));
            expect(actual.records.every((r) => r.line < expected.fatalLine!)).toBe(true);
            expect(actual.failures).toEqual(unlimited.failures.slice(0, actual.failures.length));
            expect(actual.skipped).toEqual(unlimited.skipped.slice(0, actual.skipped.length));
          }
        }
      }),
      { numRuns: 1500 },
    );
    c.outcome(`${runs} random texts (${tooLarge} of them over the limit): identical every time`);
  }, 120_000);
});

describe('UTF-8 checking', () => {
  const bytesWithText = fc
    .array(fc.oneof(fc.uint8Array({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 4 }).map((s) => new Uint8Array(Buffer.from(s)))), { maxLength: 12 })
    .map((parts) => Buffer.concat(parts.map((p) => Buffer.from(p))));

  it('finds an invalid sequence exactly when Node.js says the bytes are not UTF-8, whatever the chunking', () => {
    const c = reliabilityCase({ area: 'property', name: 'UTF-8 check: random bytes mixed with real multi-byte text, in random chunks', checked: "invalid bytes are found exactly when node:buffer's isUtf8 refuses the input; each becomes U+FFFD at the offset noted, the output is always valid UTF-8, and chunking changes nothing" });
    let runs = 0;
    fc.assert(
      fc.property(bytesWithText, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        runs++;
        const whole = invalidUtf8Offsets(bytes);
        expect(whole.length === 0).toBe(isUtf8(bytes));
        const checker = new Utf8Checker();
        const out = Buffer.concat([...splitAt(bytes, cuts).map((chunk) => checker.write(chunk)), checker.end()]);
        // Valid input passes untouched; otherwise each invalid byte becomes U+FFFD where noted.
        expect(isUtf8(out)).toBe(true);
        expect(checker.invalid.length).toBe(whole.length);
        let expected = bytes;
        for (const at of [...whole].reverse()) expected = Buffer.concat([expected.subarray(0, at), Buffer.from([0xef, 0xbf, 0xbd]), expected.subarray(at + 1)]);
        expect(out.equals(expected)).toBe(true);
        expect(checker.invalid).toEqual(whole.map((at, i) => at + 2 * i));
      }),
      { numRuns: 2000 },
    );
    c.outcome(`${runs} byte strings: agreement with isUtf8 every time`);
  });
});

describe('properties of imports into the real server', () => {
  let t: Awaited<ReturnType<typeof openTestDb>>;
  let db: Db;
  let n = 0;
  beforeAll(async () => {
    t = await openTestDb('props');
    db = t.db;
  });
  afterAll(() => t.close());

  /** What the wrapped writer does to each attempt, in order; after the list, it behaves. */
  const FAULT = fc.constantFrom('ok', 'ok', 'ok', 'lost-before-write', 'lost-after-write', 'refused');
  /** Rows: good, a value that is not a number, a wrong field count, or a blank line. */
  const ROW = fc.constantFrom('good', 'good', 'good', 'good', 'bad-number', 'extra-field', 'blank');

  it('random row failures and random writer faults: every report balances and the database holds exactly rowsWritten', async () => {
    const c = reliabilityCase({ area: 'property', name: 'random bad rows (type errors, field counts, blank lines) with random writer faults (errors before the write, acknowledgements lost after it, refusals), around the real sink', checked: 'every report balances (read = written + failed + skipped); the database holds exactly the rowsWritten acknowledged rows, plus possibly rows reported E_UNCONFIRMED, never others; no duplicates; a completed import holds exactly the good rows' });
    const endings = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(ROW, { minLength: 1, maxLength: 300 }), fc.array(FAULT, { maxLength: 12 }), fc.integer({ min: 1, max: 50 }), async (rows, faults, batchSize) => {
        const collection = db.collection(`p${n++}`);
        const real = mongoSink(collection);
        let call = 0;
        const writer: BatchWriter = {
          ...real,
          async write(batch, attempt) {
            const fault = faults[call++] ?? 'ok';
            if (fault === 'lost-before-write') throw Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
            if (fault === 'refused') throw Object.assign(new Error('refused'), { name: 'MongoServerError', code: 13 });
            const result = await real.write(batch, attempt);
            if (fault === 'lost-after-write') throw Object.assign(new Error('connection reset after the write'), { name: 'MongoNetworkError' });
            return result;
          },
        };
        let text = 'sku,price\n';
        rows.forEach((kind, i) => {
          text += kind === 'good' ? `s${i},${i}\n` : kind === 'bad-number' ? `s${i},x${i}\n` : kind === 'extra-field' ? `s${i},1,2\n` : '\n';
        });
        let report: IngestReport;
        const pipeline = createIngestPipeline({ sink: writer, types: { price: 'number' }, batch: { size: batchSize }, retry: { retries: 20, minDelayMs: 1, maxDelayMs: 5 } });
        // Row i is on line i + 2 (every generated row, blank ones too, is one physical line).
        const unconfirmed = new Set<string>();
        pipeline.on('rowFailure', (f) => {
          if (f.code === 'E_UNCONFIRMED') unconfirmed.add(`s${f.line - 2}`);
        });
        try {
          report = await pipeline.run([text]);
        } catch (err) {
          if (!isIngestError(err) || !err.report) throw err;
          report = err.report;
        }
        endings.set(report.state, (endings.get(report.state) ?? 0) + 1);
        expect(report.rowsRead).toBe(report.rowsWritten + report.rowsFailed + report.rowsSkipped);
        const held = (await collection.find({}, { projection: { _id: 0, sku: 1 } }).toArray()).map((d) => String(d['sku']));
        expect(new Set(held).size).toBe(held.length);
        // The acknowledged rows are exactly rowsWritten; a row reported unconfirmed may or may not be there.
        const acknowledged = held.filter((sku) => !unconfirmed.has(sku));
        expect(acknowledged.length).toBe(report.rowsWritten);
        if (report.state === 'done') {
          // Every good row, and only good rows, landed.
          const good = rows.flatMap((kind, i) => (kind === 'good' ? [`s${i}`] : []));
          expect(held.sort()).toEqual(good.sort());
        }
      }),
      { numRuns: 25 },
    );
    c.outcome(`25 generated imports: ${[...endings].map(([state, count]) => `${count} ${state}`).join(', ')}; all balanced, acknowledged rows in the database = rowsWritten, no duplicates`);
  }, 300_000);
});
