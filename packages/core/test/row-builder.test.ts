import { spawnSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createRowBuilder } from '../src/csv/row-builder.js';
import { createCsvParser, type CsvRecord } from '../src/index.js';

/** Column names that would break generated code if they were pasted into it rather than quoted. */
const HOSTILE = ['a"}; globalThis.pwned = 1; ({"', "b'\\", 'c\u2028d\u2029', '`${globalThis.pwned = 2}`', '10', '2', 'toString', 'é😀', ''];

describe('row builder', () => {
  it('builds rows keyed by any column names, in header order, running none of them as code', () => {
    const build = createRowBuilder(HOSTILE);
    const fields = HOSTILE.map((_, i) => `v${i}`);
    const row = build(fields);
    expect(Object.entries(row)).toEqual(Object.entries(Object.fromEntries(HOSTILE.map((name, i) => [name, `v${i}`]))));
    expect((globalThis as { pwned?: number }).pwned).toBeUndefined();
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });

  it('builds the same rows for a header too wide to generate a literal for', () => {
    const names = Array.from({ length: 1500 }, (_, i) => `c${i}`);
    const row = createRowBuilder(names)(names.map((n) => `${n}v`));
    expect(Object.keys(row)).toEqual(names);
    expect(row['c1499']).toBe('c1499v');
  });

  it('gives each row its own object', () => {
    const build = createRowBuilder(['a', 'b']);
    const first = build(['1', '2']);
    const second = build(['3', '4']);
    expect(first).toEqual({ a: '1', b: '2' });
    expect(second).toEqual({ a: '3', b: '4' });
  });

  it('parses the same rows when Node.js refuses code generation from strings', () => {
    // The keyed fallback, exercised end to end in a process that forbids new Function.
    const script = `
      const { createCsvParser } = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)});
      const rows = [];
      const parser = createCsvParser();
      parser.on('data', (r) => rows.push(r.row));
      parser.end('x,"y ""z""",w\\n1,2,3\\n');
      await new Promise((r) => parser.on('end', r));
      console.log(JSON.stringify(rows));
    `;
    const run = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([{ x: '1', 'y "z"': '2', w: '3' }]);
  });

  it('a parsed file with hostile column names gives rows under exactly those names', async () => {
    const header = ['"a,""b"""', '"c\nd"', 'e'];
    const rows: CsvRecord[] = [];
    await pipeline(
      Readable.from([Buffer.from(`${header.join(',')}\n1,2,3\n`)]),
      createCsvParser({ engine: 'fast' }),
      new Writable({
        objectMode: true,
        write(r: CsvRecord, _e, cb) {
          rows.push(r);
          cb();
        },
      }),
    );
    expect(rows.map((r) => r.row)).toEqual([{ 'a,"b"': '1', 'c\nd': '2', e: '3' }]);
  });
});
