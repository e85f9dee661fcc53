import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify from 'fastify';
import { antiOom } from '@anti-oom/fastify';
import { connectDatabase, dashboardDir, exampleHost, exampleToken, importOptions } from '@anti-oom/example-shared';

const database = await connectDatabase();
const app = Fastify();
await app.register(antiOom, { prefix: '/imports', ...importOptions(database.db, { token: exampleToken() }) });
const page = (file: string, type: string) => async (_req: unknown, reply: { type(t: string): { send(b: Buffer): unknown } }) =>
  reply.type(type).send(await readFile(join(dashboardDir, file)));
app.get('/', page('index.html', 'text/html; charset=utf-8'));
app.get('/app.js', page('app.js', 'text/javascript; charset=utf-8'));
app.get('/style.css', page('style.css', 'text/css; charset=utf-8'));

const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: exampleHost });
console.log(`Fastify example on http://${exampleHost}:${port} (database: ${database.kind})`);

async function shutdown(): Promise<void> {
  // app.close() runs the plugin's preClose hook: running imports are aborted cleanly.
  await app.close();
  await database.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
