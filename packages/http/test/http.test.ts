import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createIngestHandler } from '../src/index.js';
import { runAdapterSuite } from './adapter-suite.js';

runAdapterSuite('node:http', async (options) => {
  const handler = createIngestHandler({ ...options, prefix: '/imports' });
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/imports`,
    async close() {
      await handler.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});
