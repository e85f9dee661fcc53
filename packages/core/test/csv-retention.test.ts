import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Rows wait in batches, and a kept row must not keep the text around it alive: here one good row
 * in every 64 KiB of failing lines is kept, 400 of them over 26 MB of input. Were each row's
 * fields slices of the chunk it was read from, the kept rows would hold every chunk (26 MB).
 */
const script = (engine: string) => `
  const { createCsvParser } = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)});
  const { Readable } = await import('node:stream');
  const pad = 'x'.repeat(60);
  const bad = 'only,one,field,too,many\\n'.repeat(64 * 1024 / 24);
  function* input() {
    yield 'sku,note,price\\n';
    for (let i = 0; i < 400; i++) yield bad + 's' + i + ',' + pad + i + ',' + i + '\\n';
  }
  const kept = [];
  let failures = 0;
  const parser = createCsvParser({ engine: ${JSON.stringify(engine)}, onRowFailure: () => failures++ });
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  for await (const record of Readable.from(input()).pipe(parser)) kept.push(record.row);
  globalThis.gc();
  const grown = process.memoryUsage().heapUsed - before;
  console.log(JSON.stringify({ kept: kept.length, failures, grownMB: grown / 1048576 }));
`;

// The fast engine only: csv-parse builds every field afresh, and takes minutes over a million rows.
describe('rows kept from the fast engine', () => {
  it('hold their own text, not the 64 KiB chunks they were read from', () => {
    const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script('fast')], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const out = JSON.parse(run.stdout) as { kept: number; failures: number; grownMB: number };
    expect(out.kept).toBe(400);
    expect(out.failures).toBeGreaterThan(1_000_000);
    // 400 rows of ~80 characters, each holding at most a 2 KiB piece: well under 4 MB.
    expect(out.grownMB).toBeLessThan(4);
  }, 120_000);
});
