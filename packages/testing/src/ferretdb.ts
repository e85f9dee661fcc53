import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './net.js';
import { createPostgresDatabase, postgresAdminUrl } from './postgres.js';
import type { FerretdbBackend, MongoServer } from './types.js';

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

/**
 * Which backend FerretDB runs on: `ANTI_OOM_FERRETDB_BACKEND=postgresql` (a fresh database on the
 * PostgreSQL at `ANTI_OOM_POSTGRES_URL`, default the local one, user postgres) or SQLite, the default.
 * bench/src/backends.ts measured both (bench/RESULTS.md): PostgreSQL upserts 3-4x faster but still
 * slow (about 100-150 rows/s), inserts about a third slower, so SQLite, which needs nothing running, stays the default.
 */
export function chooseFerretdbBackend(): FerretdbBackend {
  const forced = process.env.ANTI_OOM_FERRETDB_BACKEND;
  if (!forced || forced === 'sqlite') return 'sqlite';
  if (forced === 'postgresql') return forced;
  throw new Error(`ANTI_OOM_FERRETDB_BACKEND must be "sqlite" or "postgresql", got "${forced}"`);
}

/**
 * Starts FerretDB on a free port with a fresh store: a new PostgreSQL database (dropped by `stop()`)
 * or a new temporary directory for SQLite.
 */
export async function startFerretdb(
  log: (message: string) => void = () => {},
  backend?: FerretdbBackend,
): Promise<MongoServer> {
  const binary = ferretdbBinary(log);
  const chosen = backend ?? chooseFerretdbBackend();
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-ferretdb-'));
  const pgdb = chosen === 'postgresql' ? await createPostgresDatabase(postgresAdminUrl()) : undefined;
  const storage = pgdb ? ['--postgresql', pgdb.url] : ['--dir', dir];
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const logFd = openSync(join(dir, 'ferretdb.log'), 'a');
    const c = spawn(binary, ['--listen', `127.0.0.1:${port}`, ...storage], { stdio: ['ignore', logFd, logFd] });
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
    backend: chosen,
    description: `FerretDB v1.24.2 (${chosen === 'postgresql' ? 'PostgreSQL' : 'SQLite'} backend)`,
    port,
    async stop() {
      process.removeListener('exit', killOnExit);
      await kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      await pgdb?.drop();
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
