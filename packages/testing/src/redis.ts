import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';

/** A private Redis server for one test file. */
export interface RedisServer {
  host: string;
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  /** SIGKILLs the server (everything it held is lost: it keeps nothing on disk). */
  kill(): Promise<void>;
  /** SIGKILLs it and starts it again on the same port: empty, or with its data when persistent. */
  restart(): Promise<void>;
}

/**
 * Starts `redis-server` (from PATH) on a free port with no persistence (`--save "" --appendonly
 * no`), in a temporary directory: every test file gets its own, so keys never collide and a test
 * may restart or kill it. `persistent: true` turns the append-only file on (fsync at every write),
 * as a production Redis runs, so a restart keeps what it held.
 */
export async function startRedis(options: { persistent?: boolean } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const logFd = openSync(join(dir, 'redis.log'), 'a');
    const persistence = options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir], { stdio: ['ignore', logFd, logFd] });
    child = c;
    const exited = new Promise<never>((_, reject) => {
      c.once('error', (err) => reject(new Error(`redis-server could not be started (is it on PATH?): ${err.message}`)));
      c.once('exit', (code) => reject(new Error(`redis-server exited with code ${code} before it listened; see ${join(dir, 'redis.log')}`)));
    });
    await Promise.race([waitForPort(port, 20_000), exited]);
    c.removeAllListeners('exit');
    c.removeAllListeners('error');
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await gone;
  };
  const killOnExit = (): void => void child?.kill('SIGKILL');
  process.once('exit', killOnExit);
  await launch();
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      process.removeListener('exit', killOnExit);
      await kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => kill('SIGKILL'),
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
  };
}
