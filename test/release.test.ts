// The packages as a user gets them: packed, checked by publint and are-the-types-wrong, installed
// from the tarballs into a new project with npm, and used from plain .mjs, from .cjs and from the
// installed anti-oom executable against the real server.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Db } from 'mongodb';
import { openTestDb } from '@anti-oom/testing/test-db';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'anti-oom-release-'));
const packs = join(work, 'packs');
const project = join(work, 'project');
let t: Awaited<ReturnType<typeof openTestDb>>;
let db: Db;

beforeAll(async () => {
  t = await openTestDb('release');
  db = t.db;
});
afterAll(async () => {
  await t.close();
  rmSync(work, { recursive: true, force: true });
});

const csv = 'sku,name,price\nA,Apple,1.5\nB,Bean,oops\nC,Corn,3\n';

const usage = (load: (name: string) => string) => `
${load('@anti-oom/core')}
${load('@anti-oom/http')}
${load('@anti-oom/express')}
${load('@anti-oom/fastify')}
${load('@anti-oom/cli')}
${load('@anti-oom/queue')}
const { MongoClient } = mongodb;
async function main() {
  const loaded = [typeof http.createIngestHandler, typeof express.ingestRouter, typeof fastify.antiOom, typeof cli.runCli, typeof queue.createIngestQueue, typeof queue.createIngestWorker, typeof queue.gridfsStorage];
  const client = await MongoClient.connect(process.env.MONGODB_URI);
  try {
    const collection = client.db(process.env.DB).collection(process.env.COLLECTION);
    const report = await core.createIngestPipeline({ sink: core.mongoSink(collection), types: { price: 'number' } }).run([${JSON.stringify(csv)}]);
    console.log(JSON.stringify({ loaded, state: report.state, written: report.rowsWritten, failed: report.failures.map((f) => [f.line, f.code]), count: await collection.countDocuments() }));
  } finally {
    await client.close();
  }
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

const esm = `import * as mongodb from 'mongodb';\n${usage((name) => `import * as ${name.split('/')[1]} from '${name}';`)}`;
const cjs = `const mongodb = require('mongodb');\n${usage((name) => `const ${name.split('/')[1]} = require('${name}');`)}`;

describe('the published packages', () => {
  it('have an API site that builds from their TSDoc and the guides with zero warnings', () => {
    const out = join(work, 'api');
    const run = spawnSync(join(root, 'node_modules', '.bin', 'typedoc'), ['--out', out], { cwd: root, encoding: 'utf8' });
    expect(run.stdout + run.stderr).not.toMatch(/\[warning\]|\[error\]/);
    expect(run.status).toBe(0);
    expect(readdirSync(join(out, 'documents')).sort()).toEqual(['accounting.html', 'durable-imports.html', 'fetch-runtimes.html', 'from-mongoimport.html', 'getting-started.html', 'memory.html', 'observability.html', 'options.html', 'preview-and-inference.html', 'recipes.html', 'reliability.html', 'scaling.html']);
    expect(readFileSync(join(out, 'functions', '_anti-oom_core.createIngestPipeline.html'), 'utf8')).toContain('Creates one import: CSV bytes in, documents in the sink, every row accounted for.');
  }, 300_000);

  it('pack with only dist, README, LICENSE and CHANGELOG, and pass publint and are-the-types-wrong', () => {
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'check-packages.mjs'), '--out', packs], { cwd: root, encoding: 'utf8' });
    expect(run.stdout).toContain('every package is ready to publish');
    expect(run.stdout.match(/^✓ @anti-oom\/\S+@/gm)?.length).toBe(6);
    expect(run.status).toBe(0);
  }, 300_000);

  it('install from the tarballs into a new project and import from .mjs, from .cjs and with the anti-oom executable', () => {
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'smoke', private: true, version: '1.0.0' }));
    const tarballs = ['core', 'http', 'express', 'fastify', 'cli', 'queue'].map((p) => join(packs, `anti-oom-${p}-0.1.0.tgz`));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, 'mongodb@7.9.0', 'express@5.3.0', 'fastify@5.12.8'], { cwd: project, stdio: 'pipe' });
    writeFileSync(join(project, 'smoke.mjs'), esm);
    writeFileSync(join(project, 'smoke.cjs'), cjs);
    writeFileSync(join(project, 'products.csv'), csv);
    const env = { ...process.env, MONGODB_URI: inject('mongoUri'), DB: db.databaseName };

    for (const [script, collection] of [['smoke.mjs', 'esm'], ['smoke.cjs', 'cjs']] as const) {
      const out = execFileSync(process.execPath, [script], { cwd: project, env: { ...env, COLLECTION: collection }, encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual({ loaded: ['function', 'function', 'function', 'function', 'function', 'function', 'function'], state: 'done', written: 2, failed: [[3, 'E_TYPE']], count: 2 });
    }

    const bin = spawnSync(join(project, 'node_modules', '.bin', 'anti-oom'), ['import', 'products.csv', '--db', db.databaseName, '--collection', 'bin', '--types', 'price:number', '--json'], { cwd: project, env, encoding: 'utf8' });
    expect(bin.status).toBe(1);
    expect(JSON.parse(bin.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'report', state: 'done', rowsWritten: 2, rowsFailed: 1, exitCode: 1 });
    const version = spawnSync(join(project, 'node_modules', '.bin', 'anti-oom'), ['--version'], { encoding: 'utf8' });
    expect(version.stdout).toBe('0.1.0\n');
  }, 300_000);

  it('follow docs/getting-started.md as written, from a clone: pack:local, its install line, the file and the script give the output shown, twice; with the database down, the message shown', () => {
    const guide = readFileSync(join(root, 'docs', 'getting-started.md'), 'utf8');
    const block = (lang: string, after = 0) => {
      const start = guide.indexOf('```' + lang + '\n', after);
      if (start === -1) throw new Error(`no \`\`\`${lang} block in the guide`);
      return { text: guide.slice(start + lang.length + 4, guide.indexOf('\n```', start) + 1), end: start + 1 };
    };
    // Step 0, from the clone we are in: the guide's commands, then the install line pack:local printed.
    const clone = block('sh');
    expect(clone.text).toContain('corepack pnpm install --frozen-lockfile\ncorepack pnpm pack:local\n');
    const packed = spawnSync(process.execPath, [join(root, 'scripts', 'pack-local.mjs')], { cwd: root, encoding: 'utf8' });
    expect(packed.status, packed.stderr).toBe(0);
    const install = /^ {2}(npm install \S+anti-oom-core-0\.1\.0\.tgz mongodb)$/m.exec(packed.stdout)?.[1];
    expect(install, packed.stdout).toBeDefined();
    // Step 1 as written, with that line in place of the registry's.
    const project = block('sh', clone.end);
    expect(project.text).toContain('npm install @anti-oom/core mongodb\n');
    const dir = join(work, 'getting-started');
    execFileSync('mkdir', ['-p', dir]);
    for (const line of project.text.trim().split('\n').slice(1)) {
      execFileSync('sh', ['-c', line === 'npm install @anti-oom/core mongodb' ? `${install} --no-audit --no-fund --loglevel=error` : line], { cwd: dir, stdio: 'pipe' });
    }
    const file = block('csv');
    const script = block('js', file.end);
    const shown = block('', guide.indexOf('```', guide.indexOf('node import.js')) + 3);
    writeFileSync(join(dir, 'products.csv'), file.text);
    // The guide's database is "shop"; the test's is its own.
    expect(script.text).toContain("client.db('shop')");
    writeFileSync(join(dir, 'import.js'), script.text.replace("client.db('shop')", `client.db('${db.databaseName}')`));
    const env = { ...process.env, MONGODB_URI: inject('mongoUri') };
    for (let run = 0; run < 2; run++) {
      expect(execFileSync(process.execPath, ['import.js'], { cwd: dir, env, encoding: 'utf8' })).toBe(shown.text);
    }
    // The database down: the message the guide shows (with this port), exit 2, no stack trace.
    const down = spawnSync(process.execPath, ['import.js'], { cwd: dir, env: { ...process.env, MONGODB_URI: 'mongodb://127.0.0.1:9' }, encoding: 'utf8' });
    expect(down.status).toBe(2);
    const shownDown = block('', guide.indexOf('With the database down')).text;
    expect(down.stderr).toBe(shownDown.replaceAll('27017', '9'));
    expect(down.stderr).not.toMatch(/^\s+at /m);
  }, 300_000);
});
