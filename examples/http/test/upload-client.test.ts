// The upload client example against this example server, as a user runs them side by side:
// the token from IMPORT_TOKEN, a streamed PUT, progress over SSE, the report at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestDb } from '@anti-oom/testing/test-db';
import { createApp } from '../src/app.js';

const client = fileURLToPath(new URL('../../upload-client', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'anti-oom-upload-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Not spawnSync: the server under test runs in this process's event loop.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/upload.ts', ...args], { cwd: client, env: { ...process.env, INIT_CWD: dir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the upload client against the example server', () => {
  it('uploads with the token and follows the progress; a wrong token gets 401', async () => {
    const t = await openTestDb('upload_client');
    const { server, imports } = createApp(t.db, { token: 'client-test-token', collection: 'upload_client' });
    try {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/imports`;
      let csv = 'sku,name,price\n';
      for (let i = 0; i < 2000; i++) csv += `S${i},Item ${i},${i}\n`;
      writeFileSync(join(dir, 'items.csv'), csv);

      const denied = await run(['items.csv', url], { IMPORT_TOKEN: 'wrong' });
      expect(denied.stderr).toMatch(/^upload: creating the import failed: 401 /);
      expect(denied.status).toBe(2);

      const ok = await run(['items.csv', url], { IMPORT_TOKEN: 'client-test-token' });
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toMatch(/^import [0-9a-f-]{36}$/m);
      expect(ok.stdout).toMatch(/^done \{/m);
      expect(ok.status).toBe(0);
      expect(await t.db.collection('upload_client').countDocuments()).toBe(2000);
    } finally {
      await imports.close();
      await new Promise((r) => server.close(r));
      await t.close();
    }
  });
});
