import { connectDatabase, exampleHost, exampleToken } from '@anti-oom/example-shared';
import { createApp } from './app.js';

const database = await connectDatabase();
const { server, imports } = createApp(database.db, { token: exampleToken() });
const port = Number(process.env.PORT ?? 3000);
server.listen(port, exampleHost, () => console.log(`node:http example on http://${exampleHost}:${port} (database: ${database.kind})`));

async function shutdown(): Promise<void> {
  // Running imports are aborted cleanly and answer with their report before the server stops.
  await imports.close();
  server.close();
  await database.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
