import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';
import type { MongoServer } from './types.js';

/** Whether a `mongod` binary is on PATH. */
export function hasMongod(): boolean {
  return spawnSync('mongod', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Starts the `mongod` on PATH on a temporary dbpath and a free port. */
export async function startMongod(): Promise<MongoServer> {
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-mongod-'));
  const port = await freePort();
  const child = spawn('mongod', ['--dbpath', dir, '--port', String(port), '--bind_ip', '127.0.0.1', '--quiet'], { stdio: 'ignore' });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  await waitForPort(port, 60_000);
  return {
    uri: `mongodb://127.0.0.1:${port}/?directConnection=true`,
    kind: 'mongod',
    port,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
