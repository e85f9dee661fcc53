import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
// Inside the package, so the build resolves its dependencies from the package's node_modules.
const out = mkdtempSync(join(pkg, '.build-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// The last figure: whether an \`objectId\` column holds the driver's own ObjectId class (one copy
// of bson, whichever build of core is loaded).
const script = (load: string) => `
${load}
const { ObjectId } = require('mongodb');
let first;
const writer = { async write(b) { first ??= b.items[0].document; return { written: b.items.length, inserted: b.items.length, upserted: 0, matched: 0, modified: 0, failures: [] }; } };
const flaky = { calls: 0, async write(b) { if (this.calls++ === 0) throw Object.assign(new Error('reset'), { name: 'MongoNetworkError' }); return writer.write(b); } };
core.createIngestPipeline({ sink: flaky, retry: { minDelayMs: 1 }, types: { a: 'objectId' } }).run(['a,b\\n0123456789abcdef01234567,2\\n0123456789abcdef01234568,4\\n']).then((r) => console.log(JSON.stringify([r.state, r.rowsWritten, flaky.calls, first.a instanceof ObjectId])));
`;

describe('the built package', () => {
  it("works from CommonJS and from ESM, retries included (p-retry is ESM-only and bundled), with the driver's own ObjectId class", () => {
    execFileSync(join(pkg, '..', '..', 'node_modules', '.bin', 'tsup'), ['--out-dir', out, '--no-dts'], { cwd: pkg, stdio: 'ignore' });
    const cjs = execFileSync(process.execPath, ['-e', script(`const core = require(${JSON.stringify(join(out, 'index.cjs'))});`)], { encoding: 'utf8' });
    expect(JSON.parse(cjs)).toEqual(['done', 2, 2, true]);
    const esm = execFileSync(process.execPath, ['--input-type=module', '-e', script(`import { createRequire } from 'node:module'; const require = createRequire(${JSON.stringify(join(pkg, 'package.json'))}); const core = await import(${JSON.stringify(join(out, 'index.js'))});`)], { encoding: 'utf8' });
    expect(JSON.parse(esm)).toEqual(['done', 2, 2, true]);
  }, 120_000);
});
