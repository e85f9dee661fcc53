import express from 'express';
import { ingestRouter } from '@anti-oom/express';
import { connectDatabase, dashboardDir, exampleHost, exampleToken, importOptions } from '@anti-oom/example-shared';

const database = await connectDatabase();
const app = express();
const imports = ingestRouter(importOptions(database.db, { token: exampleToken() }));
// Mounted before any body parser: uploads are streamed, never buffered.
app.use('/imports', imports);
app.use(express.static(dashboardDir));

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, exampleHost, () => console.log(`Express example on http://${exampleHost}:${port} (database: ${database.kind})`));

async function shutdown(): Promise<void> {
  await imports.close();
  server.close();
  await database.close();
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
