// Whole-process figures of any command (Node or not): wall time measured here, CPU time and peak
// RSS from the kernel's rusage of the child, as GNU time reports it after wait4().
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIME = '/usr/bin/time';

export interface ProcessFigures {
  wallSeconds: number;
  /** user + system CPU time of the process and its children. */
  cpuSeconds: number;
  maxRssBytes: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Why whole-process figures cannot be taken here, or undefined when they can. */
export function timedUnavailable(): string | undefined {
  try {
    accessSync(TIME, constants.X_OK);
    return undefined;
  } catch {
    return `${TIME} (GNU time) is not installed, so the CPU time and peak RSS of a whole client process cannot be read; install it (apt-get install time) to run this scenario.`;
  }
}

/** Parses GNU time's `-f '%U %S %M'` line: user s, system s, max RSS KiB. */
export function parseTimeLine(text: string): { cpuSeconds: number; maxRssBytes: number } {
  const line = text.trim().split('\n').at(-1) ?? '';
  const m = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)$/.exec(line);
  if (!m) throw new Error(`unexpected output from ${TIME}: ${JSON.stringify(text)}`);
  return { cpuSeconds: Number(m[1]) + Number(m[2]), maxRssBytes: Number(m[3]) * 1024 };
}

/** Runs `command args` to completion under GNU time. */
export function runTimed(command: string, args: string[], cwd: string): ProcessFigures {
  const dir = mkdtempSync(join(tmpdir(), 'anti-oom-time-'));
  const out = join(dir, 'time');
  try {
    const started = performance.now();
    const r = spawnSync(TIME, ['-f', '%U %S %M', '-o', out, command, ...args], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const wallSeconds = (performance.now() - started) / 1000;
    return { wallSeconds, ...parseTimeLine(readFileSync(out, 'utf8')), exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
