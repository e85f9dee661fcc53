import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The example's app and worker, each started as its own process the way a user runs them (tsx,
 * from the example's folder), with the environment they read; {@link stopAll} ends them with
 * SIGTERM, as a deployment would.
 */
export class ExampleProcesses {
  readonly #children: ChildProcess[] = [];
  readonly #env: () => Record<string, string>;

  /** `env` is read at each start: what every process gets (database, Redis, prefix, collection, token). */
  constructor(env: () => Record<string, string>) {
    this.#env = env;
  }

  /** Starts `script` and resolves with the first capture of `ready` (or its whole match) once it prints it. */
  start(script: string, env: Record<string, string>, ready: RegExp): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, ...this.#env(), TSX_TSCONFIG_PATH: `${root}tsconfig.json`, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += String(chunk);
        const match = ready.exec(out);
        if (match) resolve(match[1] ?? match[0]);
      });
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code}: ${out}`)));
    });
  }

  async stopAll(): Promise<void> {
    for (const c of this.#children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await once(c, 'exit');
      }
    }
  }
}
