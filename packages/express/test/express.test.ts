import express from 'express';
import { createServer } from 'node:http';
import { ingestRouter } from '../src/index.js';
import { runAdapterSuite } from '../../http/test/adapter-suite.js';
import { listen } from '../../http/test/client.js';

runAdapterSuite('express', async (options) => {
  const app = express();
  // A JSON body parser elsewhere in the app must not get in the way of uploads.
  app.use(express.json());
  const router = ingestRouter(options);
  app.use('/imports', router);
  const server = await listen(createServer(app));
  return {
    base: `${server.origin}/imports`,
    async close() {
      await router.close();
      await server.close();
    },
  };
});
