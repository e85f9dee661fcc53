// One import the way a library user writes it (createIngestPipeline + mongoSink, default settings,
// no V8 flags), for scripts/rss-compare.mjs --lib: node rss-lib-child.mjs <core package dir> <file> [uri]
// Without a uri the sink acknowledges at once (the null sink). Prints the report as JSON.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [coreDir, file, uri] = process.argv.slice(2);
const core = await import(pathToFileURL(join(coreDir, 'dist', 'index.js')).href);
const { MongoClient } = createRequire(join(coreDir, 'package.json'))('mongodb');
let client;
let sink;
const name = `lib${process.pid}`;
if (uri) {
  client = new MongoClient(uri);
  sink = core.mongoSink(client.db('rss').collection(name));
} else {
  sink = { write: async (batch) => ({ written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] }) };
}
try {
  const report = await core.createIngestPipeline({ sink }).run(createReadStream(file));
  console.log(JSON.stringify(report));
} finally {
  await client?.db('rss').collection(name).drop().catch(() => {});
  await client?.close();
}
