import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
// Inside the package, so the build resolves its dependencies from the package's node_modules.
const out = mkdtempSync(join(pkg, '.build-test-workers-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const setup = join(out, 'setup.mjs');
const script = (load: string) => `
${load}
const csv = 'id,n\\n' + Array.from({ length: 5000 }, (_, i) => i % 1000 === 7 ? 'bad\\n' : i + ',' + i + '\\n').join('');
core.createIngestPipeline({ workers: { count: 2, module: ${JSON.stringify(setup)}, rangeBytes: 4096 } }).run([csv]).then((r) => console.log(JSON.stringify([r.state, r.rowsWritten, r.failures.map((f) => f.line)])));
`;

describe('the built package with workers', () => {
  it('finds its worker script next to the CommonJS and the ESM entry', () => {
    execFileSync(join(pkg, '..', '..', 'node_modules', '.bin', 'tsup'), ['--out-dir', out, '--no-dts'], { cwd: pkg, stdio: 'ignore' });
    writeFileSync(
      setup,
      'export default () => ({ sink: { async write(b) { return { written: b.items.length, inserted: b.items.length, upserted: 0, matched: 0, modified: 0, failures: [] }; } } });\n',
    );
    const expected = ['done', 4995, [9, 1009, 2009, 3009, 4009]];
    const cjs = execFileSync(process.execPath, ['-e', script(`const core = require(${JSON.stringify(join(out, 'index.cjs'))});`)], { encoding: 'utf8' });
    expect(JSON.parse(cjs)).toEqual(expected);
    const esm = execFileSync(process.execPath, ['--input-type=module', '-e', script(`const core = await import(${JSON.stringify(join(out, 'index.js'))});`)], { encoding: 'utf8' });
    expect(JSON.parse(esm)).toEqual(expected);
  }, 120_000);
});
