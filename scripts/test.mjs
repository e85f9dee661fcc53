// The one test command: type-check every package, then run every test against a real
// MongoDB-compatible server (packages/testing finds or builds one), then print the plain
// "N passed, M failed" line CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pnpm = process.env.npm_execpath;
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: false }).status ?? 1;

// The browser tests drive Debian's Chromium. Where it is missing, the script installs it with
// apt-get when it runs as root (as on CI; ANTI_OOM_NO_INSTALL=1 forbids it). Where that is not
// possible, every other test still runs and the browser tests are skipped, said loudly at the start
// and again in the summary; the exit code then depends on the other tests only.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let browserSkip;
if (!existsSync(chromium)) {
  const canInstall = process.getuid?.() === 0 && !process.env.ANTI_OOM_NO_INSTALL && run('sh', ['-c', 'command -v apt-get >/dev/null']) === 0;
  if (canInstall) {
    console.log('» Chromium is not installed: installing it for the browser tests (apt-get install chromium, as root; ANTI_OOM_NO_INSTALL=1 skips this)');
    const status = run('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null']);
    if (status !== 0 || !existsSync(chromium)) browserSkip = `apt-get install chromium failed (exit ${status})`;
  } else {
    browserSkip = `Chromium is not at ${chromium} and cannot be installed here (${process.getuid?.() !== 0 ? 'not root' : process.env.ANTI_OOM_NO_INSTALL ? 'ANTI_OOM_NO_INSTALL is set' : 'no apt-get'}); install it, or set CHROMIUM_PATH`;
  }
}
const banner = (text) => `\n${'!'.repeat(78)}\n!! ${text}\n${'!'.repeat(78)}\n`;
if (browserSkip) {
  console.log(banner(`BROWSER TESTS SKIPPED: ${browserSkip}.`));
  process.env.ANTI_OOM_SKIP_BROWSER_TESTS = browserSkip;
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
if (browserSkip) console.log(banner(`BROWSER TESTS SKIPPED (counted below as skipped): ${browserSkip}.`));
console.log(`${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(status === 0 && results.numFailedTests === 0 && results.success !== false ? 0 : 1);
