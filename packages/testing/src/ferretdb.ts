import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './net.js';
import type { MongoServer } from './types.js';

const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'ferretdb');
const SOURCE_FILES = ['go.mod', 'go.sum', 'main.go'];

/** Whether the Go toolchain is on PATH. */
export function hasGo(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Path of the FerretDB server binary, building it on first use.
 *
 * The binary is our own ~40-line Go program embedding FerretDB v1.24.2 through its public
 * `ferretdb` package: `go install` of FerretDB's own main package panics at start-up (its version
 * check wants a version.txt that module downloads lack). Cached per source hash under
 * ~/.cache/anti-oom, so fresh clones on the same machine reuse it.
 */
export function ferretdbBinary(log: (message: string) => void = () => {}): string {
  const hash = createHash('sha256');
  for (const f of SOURCE_FILES) hash.update(readFileSync(join(SOURCE_DIR, f)));
  const cacheDir = process.env.ANTI_OOM_CACHE_DIR ?? join(homedir(), '.cache', 'anti-oom');
  const binary = join(cacheDir, `ferretdb-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(binary)) return binary;
  mkdirSync(cacheDir, { recursive: true });
  log(`building FerretDB v1.24.2 into ${binary} (first run only; takes a minute or two)`);
  const partial = `${binary}.${process.pid}.partial`;
  const result = spawnSync('go', ['build', '-trimpath', '-o', partial, '.'], {
    cwd: SOURCE_DIR,
    env: { ...process.env, CGO_ENABLED: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(`go build of the FerretDB test server failed (exit ${result.status}). Is the Go module proxy reachable?`);
  }
  // Atomic, so two processes building at once never run a half-written binary.
  renameSync(partial, binary);
  return binary;
}

/** Starts FerretDB with its SQLite backend in a fresh temporary directory, on a free port. */
export async function startFerretdb(log: (message: string) => void = () => {}): Promise<MongoServer> {
  const binary = ferretdbBinary(log);
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-ferretdb-'));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const logFd = openSync(join(dir, 'ferretdb.log'), 'a');
    const c = spawn(binary, ['--listen', `127.0.0.1:${port}`, '--dir', dir], { stdio: ['ignore', logFd, logFd] });
    child = c;
    const exited = new Promise<never>((_, reject) =>
      c.once('exit', (code) => reject(new Error(`FerretDB exited with code ${code} before it listened; see ${join(dir, 'ferretdb.log')}`))),
    );
    await Promise.race([waitForPort(port, 30_000), exited]);
    c.removeAllListeners('exit');
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await gone;
  };
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  await launch();

  return {
    uri: `mongodb://127.0.0.1:${port}/?directConnection=true&retryWrites=false&serverSelectionTimeoutMS=10000`,
    kind: 'ferretdb',
    port,
    async stop() {
      process.removeListener('exit', killOnExit);
      await kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await kill('SIGKILL');
    },
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
  };
}
