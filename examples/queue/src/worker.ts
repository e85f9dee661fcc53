// A worker process: takes import jobs, reads each upload from GridFS and writes its rows, with a
// checkpoint per second so that another worker continues a job this one could not finish (a
// crash, an OOM kill, a deploy). SIGTERM stops it gracefully: the running imports stop at a batch
// boundary, their checkpoints stored, and their jobs go back to the queue.
import { mongoCheckpoints, mongoSink } from '@anti-oom/core';
import { createIngestWorker, gridfsStorage } from '@anti-oom/queue';
import { connectDatabase, consoleLogger } from '@anti-oom/example-shared';
import { collectionName, prefix, redisUrl } from './config.js';

const database = await connectDatabase();
const db = database.db;
const worker = createIngestWorker({
  connection: redisUrl,
  storage: gridfsStorage(db),
  checkpoints: mongoCheckpoints(db.collection('anti_oom_checkpoints')),
  prefix,
  concurrency: Number(process.env.CONCURRENCY ?? 2),
  pipeline: (job) => ({
    // job.data comes from the app's `job` callback; check it as you would any input.
    sink: mongoSink(db.collection((job.data as { collection?: string }).collection === collectionName ? collectionName : 'products'), { mode: 'insert' }),
    csv: { engine: 'fast', delimiter: 'auto', encoding: 'auto' },
    logger: consoleLogger,
  }),
});
worker.worker.on('completed', (job, result) => console.log(`import ${job.id} ${JSON.stringify(result)}`));
worker.worker.on('failed', (job, err) => console.log(`import ${job?.id} attempt failed: ${err.message}`));
await worker.worker.waitUntilReady();
console.log(`worker ready (pid ${process.pid}, redis: ${redisUrl})`);

async function shutdown(): Promise<void> {
  await worker.close();
  await database.close();
  console.log('worker stopped');
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
