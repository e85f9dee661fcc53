import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-upload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** As `pnpm --filter example-upload-client start …` runs it: in the package's folder, the caller's folder in INIT_CWD. */
const upload = (args: string[], env: Record<string, string> = { IMPORT_TOKEN: 'client-test-token' }) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/upload.ts', ...args], { cwd: pkg, env: { ...process.env, INIT_CWD: dir, ...env }, encoding: 'utf8' });

describe('the upload client', () => {
  it('reads a relative path from the folder the command was typed in, not its own', () => {
    writeFileSync(join(dir, 'small.csv'), 'sku,name\nA,Apple\n');
    // Nothing listens on port 9: getting as far as the request proves the file was found.
    const run = upload(['small.csv', 'http://127.0.0.1:9/imports']);
    expect(run.stderr).toMatch(/^upload: cannot reach http:\/\/127\.0\.0\.1:9\/imports \(.*\); is the example server running\?\n$/);
    expect(run.status).toBe(2);
  });

  it('a missing file: the full path it looked for, exit 2, no stack trace', () => {
    const run = upload(['nope.csv', 'http://127.0.0.1:9/imports']);
    expect(run.stderr).toBe(`upload: cannot read ${join(dir, 'nope.csv')}: ENOENT\n`);
    expect(run.status).toBe(2);
  });

  it('without IMPORT_TOKEN it says what to set, before any request', () => {
    writeFileSync(join(dir, 'small.csv'), 'sku,name\nA,Apple\n');
    const run = upload(['small.csv', 'http://127.0.0.1:9/imports'], { IMPORT_TOKEN: '' });
    expect(run.stderr).toBe('upload: set IMPORT_TOKEN to the token the server accepts (the example server prints it at start)\n');
    expect(run.status).toBe(2);
  });
});
