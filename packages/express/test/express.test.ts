import type { AddressInfo } from 'node:net';
import express from 'express';
import { ingestRouter } from '../src/index.js';
import { runAdapterSuite } from '../../http/test/adapter-suite.js';

runAdapterSuite('express', async (options) => {
  const app = express();
  // A JSON body parser elsewhere in the app must not get in the way of uploads.
  app.use(express.json());
  const router = ingestRouter(options);
  app.use('/imports', router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/imports`,
    async close() {
      await router.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});
