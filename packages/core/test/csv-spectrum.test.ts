import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createCsvParser, RowFailureCode, type CsvRecord, type RowFailure } from '../src/index.js';
import { chunksOf } from './helpers.js';

const root = dirname(createRequire(import.meta.url).resolve('csv-spectrum/package.json'));
const names = readdirSync(join(root, 'csvs')).map((f) => f.replace(/\.csv$/, ''));

async function parse(chunks: Buffer[], engine: 'csv-parse' | 'fast'): Promise<{ rows: Record<string, string>[]; failures: RowFailure[] }> {
  const rows: Record<string, string>[] = [];
  const failures: RowFailure[] = [];
  await pipeline(
    Readable.from(chunks),
    createCsvParser({ engine, onRowFailure: (f) => failures.push(f) }),
    new Writable({
      objectMode: true,
      write(r: CsvRecord, _e, cb) {
        rows.push(r.row);
        cb();
      },
    }),
  );
  return { rows, failures };
}

describe.each(['csv-parse', 'fast'] as const)('csv-spectrum, %s engine', (engine) => {
  // location_coordinates has a quote inside an unquoted field (37.8"N), which our contract makes
  // a row failure, and its JSON disagrees with its CSV (another phone number); checked apart below.
  const conforming = names.filter((n) => n !== 'location_coordinates');

  it.each(conforming)('%s parses as its JSON says, whole and at every chunk size', async (name) => {
    const csv = readFileSync(join(root, 'csvs', `${name}.csv`));
    const expected = JSON.parse(readFileSync(join(root, 'json', `${name}.json`), 'utf8'));
    for (const size of [csv.length, 1, 2, 5]) {
      const { rows, failures } = await parse(chunksOf(csv, size), engine);
      expect(failures).toEqual([]);
      expect(rows).toEqual(expected);
    }
  });

  it('location_coordinates: the stray quote is a row failure on line 2, not a crash', async () => {
    const csv = readFileSync(join(root, 'csvs', 'location_coordinates.csv'));
    const { rows, failures } = await parse(chunksOf(csv, 1), engine);
    expect(rows).toEqual([]);
    expect(failures).toMatchObject([{ line: 2, code: RowFailureCode.E_CSV_RECORD }]);
  });
});
