// Peak RSS of an import through the real MongoDB driver, by file size: the `anti-oom` CLI and the
// library in a plain `node` process (createIngestPipeline + mongoSink, default settings, no V8 flags),
// beside mongoimport, on the 10-column file of the clients scenario, into the acknowledge-only
// server (so the database's speed does not decide how long rows wait in memory).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientsFile, sizeLabel, sizeOf } from './data.js';
import { measureClients, mongoimportClient, WORKERS, type Client, type Target } from './clients.js';
import { round } from './stats.js';
import { runTimed } from './timed.js';
import type { ScenarioResult, VariantResult } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = join(ROOT, '..');
const CLI = join(REPO, 'packages', 'cli', 'dist', 'bin.js');
const LIB_CHILD = join(REPO, 'scripts', 'rss-lib-child.mjs');
const CORE = join(REPO, 'packages', 'core');
/** Bytes per row of the clients file (52,058,763 bytes for 500,000 rows). */
const BYTES_PER_ROW = 104;

function memoryClients(mongoimport: string | undefined): Client[] {
  const list: Client[] = [
    {
      label: `anti-oom import -j ${WORKERS}`,
      variant: 'anti-oom-cli',
      command: (t, file, collection) => ({ command: process.execPath, args: [CLI, 'import', file, '--uri', t.uri, '-d', 'anti_oom_bench', '-c', collection, '-j', String(WORKERS), '--json'] }),
    },
    {
      label: 'library: createIngestPipeline + mongoSink, default settings, plain node',
      variant: 'anti-oom-lib',
      command: (t, file) => ({ command: process.execPath, args: [LIB_CHILD, CORE, file, t.uri] }),
    },
  ];
  if (mongoimport) list.unshift(mongoimportClient(mongoimport));
  return list;
}

/**
 * Every size in `sizes` (a 1 GB file is about 10 million rows: one round there, `runs` (at most 3)
 * below), each client run in paired rounds by {@link measureClients}.
 */
export async function memoryDriverScenario(target: Target, sizes: number[], runs: number, mongoimport: string | undefined): Promise<ScenarioResult> {
  const variants: VariantResult[] = [];
  for (const size of sizes) {
    const rows = Math.max(2000, Math.round(size / BYTES_PER_ROW / 2000) * 2000);
    const file = await clientsFile(rows);
    const bytes = sizeOf(file);
    console.log(`» memory through the driver, ${sizeLabel(size)} (${rows.toLocaleString('en')} rows), into ${target.description}`);
    const measured = await measureClients(target, memoryClients(mongoimport), file, bytes, rows, size >= 1024 ** 3 ? 1 : Math.min(runs, 3), false);
    for (const v of measured) variants.push({ ...v, label: `${v.label}, ${sizeLabel(size)}`, variant: `${v.variant}@${sizeLabel(size)}` });
  }
  // The floor under any Node.js client: the runtime with the driver loaded and nothing else.
  const idle = runTimed(process.execPath, ['-e', "require('mongodb')"], CORE);
  return {
    name: 'clients-memory',
    title: `Peak RSS through the MongoDB driver by file size: the 10-column clients file, ${WORKERS} writes in flight, into an acknowledge-only MongoDB-wire server`,
    variants,
    notes: [
      'Whole processes, peak RSS from the kernel (GNU time). The library row is the code a user writes (scripts/rss-lib-child.mjs: a 64 KiB read stream into createIngestPipeline with mongoSink, default options, `node` with no flags); the CLI row is `anti-oom import`, which sets V8 heap limits for its own process (docs/memory.md).',
      'Every size runs each client in alternating order (no warm-up; one round at 1 GB). The acknowledge-only server stores nothing, so rows wait in memory only as long as the client itself makes them.',
      `The floor under any Node.js client: \`node -e "require('mongodb')"\`, the runtime with the driver loaded doing nothing, peaks at ${round(idle.maxRssBytes / 1048576)} MB here.`,
    ],
  };
}
