// Trying the project from a clone, as docs/getting-started.md tells a newcomer: packing refuses a
// package that was not built, and `corepack pnpm db` starts a database and prints its URI.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'anti-oom-clone-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packing from a clone', () => {
  it('every public package refuses to pack without a build (prepack), instead of a tarball with no code', () => {
    for (const name of ['core', 'http', 'express', 'fastify', 'cli', 'queue']) {
      const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
      expect(manifest.scripts.prepack, name).toBe('node ../../scripts/prepack-check.mjs');
    }
    // A package laid out like ours, never built: npm pack runs prepack, which fails and says why.
    const pkg = join(work, 'packages', 'demo');
    mkdirSync(join(pkg, 'src'), { recursive: true });
    cpSync(join(root, 'scripts', 'prepack-check.mjs'), join(work, 'scripts', 'prepack-check.mjs'));
    writeFileSync(join(pkg, 'src', 'index.ts'), 'export const x = 1;\n');
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@anti-oom/demo', version: '1.0.0', main: './dist/index.cjs', files: ['dist'], scripts: { prepack: 'node ../../scripts/prepack-check.mjs' } }));
    const pack = () => spawnSync('npm', ['pack', '--pack-destination', work], { cwd: pkg, encoding: 'utf8' });
    const unbuilt = pack();
    expect(unbuilt.status).not.toBe(0);
    expect(unbuilt.stderr).toContain('@anti-oom/demo: dist/ is missing, so the tarball would hold no code; run `corepack pnpm build` first');

    // Built, then the sources changed: still refused, the build is stale.
    mkdirSync(join(pkg, 'dist'));
    writeFileSync(join(pkg, 'dist', 'index.cjs'), 'exports.x = 1;\n');
    utimesSync(join(pkg, 'dist', 'index.cjs'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const stale = pack();
    expect(stale.status).not.toBe(0);
    expect(stale.stderr).toContain('dist/ is older than src/');

    // Built after the last change: packs.
    writeFileSync(join(pkg, 'dist', 'index.cjs'), 'exports.x = 2;\n');
    const built = pack();
    expect(built.status, built.stderr).toBe(0);
    expect(built.stdout.trim().split('\n').at(-1)).toBe('anti-oom-demo-1.0.0.tgz');
  }, 120_000);
});

describe('corepack pnpm db', () => {
  it('starts a database, prints an export line with its URI that works, and stops on Ctrl-C', async () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts.db).toBe('node --import tsx packages/testing/src/cli.ts start');
    // What `pnpm db` runs, without the database the test run was given.
    const env = { ...process.env };
    delete env['MONGODB_URI'];
    const child = spawn(process.execPath, ['--import', 'tsx', 'packages/testing/src/cli.ts', 'start'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const uri = await new Promise<string>((res, rej) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /^export MONGODB_URI='([^']+)'$/m.exec(out);
        if (m) res(m[1]!);
      });
      child.once('exit', (code) => rej(new Error(`exited with ${code} before printing the URI:\n${out}`)));
    });
    expect(out).toMatch(/listening; its data goes when it stops \(Ctrl-C\)\./);
    const client = await MongoClient.connect(uri);
    try {
      await client.db('try').collection('c').insertOne({ ok: 1 });
      expect(await client.db('try').collection('c').countDocuments()).toBe(1);
    } finally {
      await client.close();
    }
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 180_000);
});

