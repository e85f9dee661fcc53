// Packs every public package exactly as `changeset publish` would (pnpm pack turns workspace:*
// into versions) and checks each tarball before anyone can publish it:
//   - its files: dist/, README.md, LICENSE, CHANGELOG.md and package.json, nothing else;
//   - no workspace: range left in its package.json;
//   - publint (strict, suggestions included) on the tarball itself;
//   - are-the-types-wrong on the tarball: node10, node16 from CJS and from ESM, bundler.
//
// Usage: node scripts/check-packages.mjs [--out <dir>] [--no-build]
// Prints one line per package and exits 1 on any problem. The tarballs stay in --out for the
// smoke test, which installs them into a new project.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { out: { type: 'string' }, 'no-build': { type: 'boolean' } } });
const out = resolve(values.out ?? mkdtempSync(join(tmpdir(), 'anti-oom-packs-')));
mkdirSync(out, { recursive: true });

/** pnpm as the scripts run it: through npm_execpath under `pnpm run`, else through corepack. */
function pnpm(args, cwd) {
  const execpath = process.env.npm_execpath;
  const [cmd, pre] = execpath && /pnpm/.test(execpath) ? [execpath, []] : ['corepack', ['pnpm']];
  return spawnSync(cmd, [...pre, ...args], { cwd, encoding: 'utf8', env: { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: '0' } });
}

const ALLOWED = /^package\/(dist\/.+|README\.md|LICENSE|CHANGELOG\.md|package\.json)$/;
const REQUIRED = ['package/package.json', 'package/README.md', 'package/LICENSE', 'package/CHANGELOG.md', 'package/dist/index.js', 'package/dist/index.cjs', 'package/dist/index.d.ts', 'package/dist/index.d.cts'];

/** Public packages: every packages/* that is not private. */
function publicPackages() {
  return readdirSync(join(root, 'packages'))
    .map((name) => join(root, 'packages', name))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
    .filter((p) => !p.manifest.private);
}

if (!values['no-build']) {
  const build = pnpm(['build'], root);
  if (build.status !== 0) {
    process.stdout.write(build.stdout + build.stderr);
    console.log('build failed; packages not checked');
    process.exit(1);
  }
}

let problems = 0;
const report = (name, issue) => {
  problems++;
  console.log(`  ✗ ${name}: ${issue}`);
};

for (const { dir, manifest } of publicPackages()) {
  const name = manifest.name;
  const tarball = join(out, `${name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`);
  const packed = pnpm(['pack', '--pack-destination', out], dir);
  if (packed.status !== 0 || !existsSync(tarball)) {
    report(name, `pnpm pack failed: ${packed.stderr || packed.stdout}`);
    continue;
  }

  const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.trim().split('\n');
  for (const f of files) if (!ALLOWED.test(f)) report(name, `unexpected file in the tarball: ${f}`);
  for (const f of REQUIRED) if (!files.includes(f)) report(name, `missing from the tarball: ${f}`);
  if (manifest.bin) for (const bin of Object.values(manifest.bin)) if (!files.includes(join('package', bin))) report(name, `bin ${bin} is not in the tarball`);

  const packedManifest = spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }).stdout;
  if (packedManifest.includes('workspace:')) report(name, 'the packed package.json still has a workspace: range');

  const bytes = readFileSync(tarball);
  const { messages, pkg } = await publint({ pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }, strict: true, level: 'suggestion' });
  for (const m of messages) report(name, `publint ${m.type}: ${formatMessage(m, pkg, { color: false })}`);

  const attw = spawnSync(join(root, 'node_modules', '.bin', 'attw'), [tarball, '--format', 'table-flipped', '--no-color'], { encoding: 'utf8' });
  if (attw.status !== 0) report(name, `are-the-types-wrong:\n${attw.stdout}${attw.stderr}`);

  console.log(`${problems === 0 ? '✓' : '·'} ${name}@${manifest.version}: ${files.length} files, publint and attw (node10, node16 CJS/ESM, bundler) checked → ${tarball}`);
}

console.log(problems === 0 ? `every package is ready to publish; tarballs in ${out}` : `${problems} problem(s); nothing may be published until they are fixed`);
process.exit(problems === 0 ? 0 : 1);
