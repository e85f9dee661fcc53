// An app instance: the dashboard at `/`, the import routes at `/imports`, in queue mode. Run as
// many as you like behind a load balancer (no sticky sessions): uploads go to GridFS in your
// MongoDB, each becomes a BullMQ job, and status, progress and cancel work from any instance.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createIngestHandler } from '@anti-oom/http';
import { createIngestQueue, gridfsStorage } from '@anti-oom/queue';
import { connectDatabase, exampleHost, exampleToken, importOptions, serveDashboard } from '@anti-oom/example-shared';
import { collectionName, prefix, redisUrl } from './config.js';

const database = await connectDatabase();
const queue = createIngestQueue({ connection: redisUrl, storage: gridfsStorage(database.db), prefix });
const { pipeline, ...options } = importOptions(database.db, { token: exampleToken() });
const imports = createIngestHandler({
  prefix: '/imports',
  ...options,
  // The CSV options of the shared example pipeline, for the header check and the preview; the
  // workers decide the rest.
  pipeline,
  queue,
  // The job's data reaches the worker's pipeline(job) as job.data. Fixed by the server here.
  job: () => ({ collection: collectionName }),
});
const server = createServer((req, res) => {
  void serveDashboard(req, res).then((served) => {
    if (!served) imports(req, res);
  });
});
const port = Number(process.env.PORT ?? 3000);
server.listen(port, exampleHost, () => {
  const { port: actual } = server.address() as AddressInfo;
  console.log(`queue-mode app on http://${exampleHost}:${actual} (database: ${database.kind}, redis: ${redisUrl})`);
});

async function shutdown(): Promise<void> {
  // The imports go on in the workers; this instance only stops serving.
  await imports.close();
  server.close();
  await queue.close();
  await database.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
