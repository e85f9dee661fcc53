// The one test command: type-check every package, then run every test against a real
// MongoDB-compatible server (packages/testing finds or builds one), then print the plain
// "N passed, M failed" line CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pnpm = process.env.npm_execpath;
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: false }).status ?? 1;

// The dashboard test drives Debian's Chromium; install it on a fresh machine (CI runs as root).
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  if (process.getuid?.() === 0 && run('sh', ['-c', 'command -v apt-get >/dev/null']) === 0) {
    console.log('» installing Chromium for the dashboard test (apt-get install chromium)');
    const status = run('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null']);
    if (status !== 0) console.log('Chromium could not be installed; the dashboard test will fail and say so');
  } else {
    console.log(`Chromium is not at ${chromium} and cannot be installed here; the dashboard test will fail and say so`);
  }
}

console.log('» type-checking every package');
if (run(pnpm, ['-r', '--include-workspace-root', '--no-bail', 'typecheck']) !== 0) {
  console.log('type-check failed; tests not run');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

console.log('» running the tests (the first run builds the FerretDB test server with Go)');
const out = mkdtempSync(join(tmpdir(), 'anti-oom-vitest-'));
const json = join(out, 'results.json');
const status = run(join('node_modules', '.bin', 'vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${json}`, ...process.argv.slice(2)]);
let results;
try {
  results = JSON.parse(readFileSync(json, 'utf8'));
} catch {
  console.log(`vitest exited with ${status} and wrote no results`);
  console.log('0 passed, 1 failed');
  process.exit(status || 1);
} finally {
  rmSync(out, { recursive: true, force: true });
}
const skipped = results.numPendingTests + results.numTodoTests;
console.log(`${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(status === 0 && results.numFailedTests === 0 && results.success !== false ? 0 : 1);
