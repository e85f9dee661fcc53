import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const TSCONFIG = fileURLToPath(new URL('../tsconfig.json', import.meta.url));

/** A small seeded generator (mulberry32), so kill moments are the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A CSV of `rows` data rows `sku,name,qty`; every `badEvery`-th row has a qty that is not a
 * number (a row failure under `types: { qty: 'number' }`). Returns the text and the good rows.
 */
export function csv(rows: number, badEvery = 0, tag = 'x'): { text: string; good: number; bad: number } {
  const lines = ['sku,name,qty'];
  let bad = 0;
  for (let i = 1; i <= rows; i++) {
    const isBad = badEvery > 0 && i % badEvery === 0;
    if (isBad) bad++;
    lines.push(`${tag}-${i},"item ${i}, with a comma",${isBad ? 'lots' : i % 1000}`);
  }
  return { text: `${lines.join('\n')}\n`, good: rows - bad, bad };
}

/** A child process started with tsx, with its stdout lines kept and awaitable. */
export class Child {
  readonly process: ChildProcess;
  readonly lines: string[] = [];
  #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<unknown>;

  constructor(script: string, env: Record<string, string>) {
    this.process = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, ...env, TSX_TSCONFIG_PATH: TSCONFIG },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.exited = once(this.process, 'exit');
    let rest = '';
    this.process.stdout!.on('data', (chunk: Buffer) => {
      rest += String(chunk);
      const parts = rest.split('\n');
      rest = parts.pop()!;
      for (const line of parts) {
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.match(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  /** Resolves with the first line (already printed or to come) that matches. */
  waitFor(match: RegExp | string, timeoutMs = 60_000): Promise<string> {
    const test = (line: string) => (typeof match === 'string' ? line.includes(match) : match.test(line));
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${match} within ${timeoutMs} ms; got:\n${this.lines.join('\n')}`)), timeoutMs);
      this.#waiters.push({ match: test, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill(signal);
    await this.exited;
  }
}

export const WORKER_SCRIPT = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

/** Polls `read` until `done` holds of its value. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const APP_SCRIPT = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));

/** One Server-Sent Event as a client sees it. */
export interface SseEvent {
  id: number | undefined;
  event: string;
  data: any;
}

/**
 * Opens an SSE stream and collects its events until `done` (or the stream ends). `onEvent` sees
 * each as it arrives. Resolves with the status and the events.
 */
export async function followSse(url: string, headers: Record<string, string>, onEvent: (e: SseEvent) => void = () => {}): Promise<{ status: number; events: SseEvent[] }> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers } });
  const events: SseEvent[] = [];
  if (res.status !== 200 || !res.body) return { status: res.status, events };
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let id: number | undefined;
      let event = 'message';
      let data: string | undefined;
      for (const line of frame.split('\n')) {
        if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data = line.slice(6);
      }
      if (data === undefined) continue;
      const e = { id, event, data: JSON.parse(data) };
      events.push(e);
      onEvent(e);
    }
  }
  return { status: res.status, events };
}
