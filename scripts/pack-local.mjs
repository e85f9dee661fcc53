// `corepack pnpm pack:local`: try the packages from a clone before they are published. Builds every
// public package, packs each into packs/ exactly as `changeset publish` would (workspace:* ranges
// become versions), and prints the npm install lines. Install the core tarball together with the
// others: each package's @anti-oom/* dependency is resolved from the tarballs, not the registry.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'packs');
mkdirSync(out, { recursive: true });

/** pnpm as the scripts run it: through npm_execpath under `pnpm run`, else through corepack. */
function pnpm(args, cwd) {
  const execpath = process.env.npm_execpath;
  const [cmd, pre] = execpath && /pnpm/.test(execpath) ? [execpath, []] : ['corepack', ['pnpm']];
  return spawnSync(cmd, [...pre, ...args], { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: '0' } });
}

console.log('building the packages…');
if (pnpm(['build'], root).status !== 0) {
  console.error('build failed; nothing packed');
  process.exit(1);
}
const tarballs = {};
for (const name of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', name);
  if (!existsSync(join(dir, 'package.json'))) continue;
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (manifest.private) continue;
  const tarball = join(out, `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`);
  const packed = pnpm(['pack', '--pack-destination', out], dir);
  if (packed.status !== 0 || !existsSync(tarball)) {
    console.error(`pnpm pack of ${manifest.name} failed`);
    process.exit(1);
  }
  tarballs[name] = tarball;
}
const q = (p) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replaceAll("'", "'\\''")}'`);
console.log(`packed into ${out}:`);
for (const t of Object.values(tarballs)) console.log(`  ${t}`);
console.log(`
In your project (the library, as in docs/getting-started.md):
  npm install ${q(tarballs.core)} mongodb
The HTTP layer (add express or fastify for their adapters):
  npm install ${[tarballs.core, tarballs.http, tarballs.express, tarballs.fastify].map(q).join(' ')} mongodb
Queue mode (BullMQ jobs, GridFS or S3 storage, workers; see docs/scaling.md):
  npm install ${[tarballs.core, tarballs.http, tarballs.queue].map(q).join(' ')} mongodb
The anti-oom command (with the core tarball, so its @anti-oom/core dependency resolves), then npx anti-oom --help:
  npm install ${q(tarballs.core)} ${q(tarballs.cli)}`);
