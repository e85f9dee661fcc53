// Running the CLI from tests: in this process (as bin.ts would, with captured streams) or as the
// real executable in a child process (sources through tsx, workspace paths from tsconfig).
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/index.js';

export const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
export const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url));

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** NDJSON lines of stdout, parsed. */
  events: Record<string, any>[];
  /** The last NDJSON line (the report, or the error), or `{}`. */
  report: Record<string, any>;
}

/** A writable that keeps what it was given; `tty` makes the CLI draw for a terminal. */
export function capture(tty: boolean): PassThrough & { isTTY?: boolean; text(): string } {
  const chunks: Buffer[] = [];
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; text(): string };
  s.on('data', (c: Buffer) => chunks.push(c));
  s.isTTY = tty;
  s.text = () => Buffer.concat(chunks).toString('utf8');
  return s;
}

/** A finished run from its exit and output. */
export function cliResult(code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): CliRun {
  const events = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
  return { code, signal, stdout, stderr, events, report: events.at(-1) ?? {} };
}

/** Runs the CLI in this process, as the executable would, with stdout a pipe unless `tty`. */
export async function runInProcess(argv: string[], options: { uri: string; stdin?: Readable; tty?: boolean }): Promise<CliRun> {
  const stdout = capture(options.tty ?? false);
  const stderr = capture(options.tty ?? false);
  const code = await runCli(argv, { stdin: options.stdin ?? Readable.from([]), stdout, stderr, env: { MONGODB_URI: options.uri } });
  return cliResult(code, null, stdout.text(), stderr.text());
}

/** Runs the real executable in its own process; `env` adds to this process's environment. */
export function spawnCli(argv: string[], options: { uri: string; stdin?: Buffer; env?: Record<string, string> }): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...argv], {
      env: { ...process.env, MONGODB_URI: options.uri, TSX_TSCONFIG_PATH: tsconfig, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(cliResult(code, signal, out, err)));
    child.stdin.end(options.stdin);
  });
}
