import { createServer } from 'node:http';
import { createIngestHandler } from '../src/index.js';
import { runAdapterSuite } from './adapter-suite.js';
import { listen } from './client.js';

runAdapterSuite('node:http', async (options) => {
  const handler = createIngestHandler({ ...options, prefix: '/imports' });
  const server = await listen(createServer(handler));
  return {
    base: `${server.origin}/imports`,
    async close() {
      await handler.close();
      await server.close();
    },
  };
});
