#!/usr/bin/env node
import { runCli } from './cli.js';

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write('\nStopping: settling the batches in flight (Ctrl-C again to quit at once).\n');
  controller.abort(new Error('interrupted by Ctrl-C'));
});

try {
  process.exitCode = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
} catch (err) {
  process.stderr.write(`anti-oom: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 2;
}
// Everything is closed by now; if a handle still holds the process, do not hang the shell.
setTimeout(() => process.exit(), 2000).unref();
