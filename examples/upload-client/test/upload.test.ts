import { spawn } from 'node:child_process';
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
  spawnAsync(process.execPath, ['--import', 'tsx', 'src/upload.ts', ...args], { cwd: pkg, env: { ...process.env, INIT_CWD: dir, ...env } });

function spawnAsync(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the upload client', () => {
  it('reads a relative path from the folder the command was typed in, not its own', async () => {
    writeFileSync(join(dir, 'small.csv'), 'sku,name\nA,Apple\n');
    // Nothing listens on port 9: getting as far as the request proves the file was found.
    const run = await upload(['small.csv', 'http://127.0.0.1:9/imports']);
    expect(run.stderr).toMatch(/^upload: cannot reach http:\/\/127\.0\.0\.1:9\/imports \(.*\); is the example server running\?\n$/);
    expect(run.status).toBe(2);
  });

  it('a missing file: the full path it looked for, exit 2, no stack trace', async () => {
    const run = await upload(['nope.csv', 'http://127.0.0.1:9/imports']);
    expect(run.stderr).toBe(`upload: cannot read ${join(dir, 'nope.csv')}: ENOENT\n`);
    expect(run.status).toBe(2);
  });

  it('without IMPORT_TOKEN it says what to set, before any request', async () => {
    writeFileSync(join(dir, 'small.csv'), 'sku,name\nA,Apple\n');
    const run = await upload(['small.csv', 'http://127.0.0.1:9/imports'], { IMPORT_TOKEN: '' });
    expect(run.stderr).toBe('upload: set IMPORT_TOKEN to the token the server accepts (the example server prints it at start)\n');
    expect(run.status).toBe(2);
  });
});
