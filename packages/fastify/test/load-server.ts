// The server of the load test, in a process of its own so its memory is its own. Each upload's
// query string carries a tag; its rows go to the collection load_<tag>, and the time of every
// batch acknowledgement is kept, to measure how long the SSE event that shows it takes to arrive.
import Fastify from 'fastify';
import { MongoClient } from 'mongodb';
import { mongoSink, type BatchWriter } from '@anti-oom/core';
import { antiOom } from '../src/index.js';

const client = await MongoClient.connect(process.env.MONGODB_URI!);
const db = client.db(process.env.LOAD_DB!);
/** Per tag: [rows acknowledged so far, epoch ms of the acknowledgement]. */
const acks = new Map<string, [number, number][]>();

function recording(tag: string): BatchWriter {
  const real = mongoSink(db.collection(`load_${tag}`));
  const log: [number, number][] = [];
  acks.set(tag, log);
  let written = 0;
  return {
    ...real,
    async write(batch, attempt) {
      const result = await real.write(batch, attempt);
      written += result.written;
      log.push([written, performance.timeOrigin + performance.now()]);
      return result;
    },
  };
}

const app = Fastify();
await app.register(antiOom, {
  prefix: '/imports',
  pipeline: (_req, fields) => ({ sink: recording(fields['tag']!), batch: { size: 1000 } }),
  authorize: () => true,
  limits: { maxConcurrentImports: 64, maxRunningPerOwner: 64, maxPendingPerOwner: 64, maxWatchersPerImport: 64 },
});
app.get('/acks', async () => Object.fromEntries(acks));
app.get('/rss', async () => ({ peakRssBytes: process.resourceUsage().maxRSS * 1024, rssBytes: process.memoryUsage().rss }));
const address = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening ${address}\n`);
// Ends with the test process: stdin closes when the parent goes away.
process.stdin.resume();
process.stdin.on('end', () => void app.close().then(() => client.close()).then(() => process.exit(0)));
