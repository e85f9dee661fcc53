#!/usr/bin/env node
import { runCli } from './cli.js';
import { tuneHeap } from './heap.js';
import { abortOnStopSignals } from './signals.js';

// This process runs one import: size its heap for that (see heap.ts for why and by how much).
tuneHeap();

const signal = abortOnStopSignals();

try {
  process.exitCode = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal });
} catch (err) {
  process.stderr.write(`anti-oom: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 2;
}
// Everything is closed by now; if a handle still holds the process, do not hang the shell.
setTimeout(() => process.exit(), 2000).unref();
