import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './net.js';

/** The S3-protocol test server: gofakes3 (MIT), built from the Go module proxy. */
const GOFAKES3 = 'github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0';

/** A running S3-protocol server with one empty bucket. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>`: give it to an `S3Client` with `forcePathStyle: true`. */
  endpoint: string;
  bucket: string;
  /** Any credentials work; the SDK wants some. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  description: string;
  stop(): Promise<void>;
}

/**
 * Path of the gofakes3 binary, building it on first use with `go install` (its own `cmd`, at a
 * fixed version, so the module's go.sum pins every dependency). Cached under ~/.cache/anti-oom like
 * the FerretDB server. gofakes3 speaks multipart uploads (with ListParts), ranged GETs and
 * `If-None-Match: *` on PUT, which is what `s3Storage` needs.
 */
export function gofakes3Binary(log: (message: string) => void = () => {}): string {
  const cacheDir = process.env.ANTI_OOM_CACHE_DIR ?? join(homedir(), '.cache', 'anti-oom');
  const binary = join(cacheDir, 'gofakes3-v1.2.0');
  if (existsSync(binary)) return binary;
  mkdirSync(cacheDir, { recursive: true });
  log(`building gofakes3 v1.2.0 into ${binary} (first run only)`);
  const gobin = mkdtempSync(join(cacheDir, 'gofakes3-build-'));
  try {
    const result = spawnSync('go', ['install', GOFAKES3], { env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' }, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new Error(`go install ${GOFAKES3} failed (exit ${result.status}). Is the Go module proxy reachable?`);
    // Atomic, so two processes building at once never run a half-written binary.
    renameSync(join(gobin, 'gofakes3'), binary);
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
  return binary;
}

/** Starts gofakes3 (in-memory backend) on a free port with an empty bucket. */
export async function startS3Server(log: (message: string) => void = () => {}): Promise<S3TestServer> {
  const binary = gofakes3Binary(log);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-s3-'));
  const bucket = 'anti-oom-test';
  const logFd = openSync(join(dir, 'gofakes3.log'), 'a');
  const child: ChildProcess = spawn(binary, ['-backend', 'memory', '-host', `127.0.0.1:${port}`, '-initialbucket', bucket], { stdio: ['ignore', logFd, logFd] });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`gofakes3 exited with code ${code} before it listened; see ${join(dir, 'gofakes3.log')}`))));
  await Promise.race([waitForPort(port, 30_000), exited]);
  child.removeAllListeners('exit');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    region: 'us-east-1',
    description: 'gofakes3 v1.2.0 (memory backend)',
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
