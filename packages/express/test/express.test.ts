import express5 from 'express';
// @ts-expect-error express 4 is installed under an alias with no types of its own; it is used through Express 5's types.
import express4 from 'express4';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Request } from 'express';
import { mongoSink } from '@anti-oom/core';
import { ingestRouter } from '../src/index.js';
import { runAdapterSuite, type StartServer } from '../../http/test/adapter-suite.js';
import { listen, send } from '../../http/test/client.js';

// The peer range claims Express 4 and 5: the same suite runs on both.
for (const [name, express] of [
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
] as const) {
  const start: StartServer = async (options) => {
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
  };
  runAdapterSuite(name, start);

  describe(`${name}: native`, () => {
    it("authorize, owner and pipeline get Express's req, with what auth middleware put on it", async () => {
      const app = express();
      app.use((req, _res, next) => {
        (req as Request & { user?: { id: string } }).user = req.headers.authorization === 'Bearer alice' ? { id: 'alice' } : undefined;
        next();
      });
      const seen: unknown[] = [];
      const router = ingestRouter({
        authorize: (req) => {
          const user = (req as Request & { user?: { id: string } }).user;
          seen.push(user?.id, typeof req.get);
          return user ? true : { status: 401 };
        },
        pipeline: () => ({ sink: mongoSink({} as never) }),
      });
      app.use('/imports', router);
      const server = await listen(createServer(app));
      expect((await send(`${server.origin}/imports`, {})).status).toBe(401);
      const created = await send(`${server.origin}/imports`, { headers: { Authorization: 'Bearer alice' } });
      expect(created.status).toBe(201);
      expect(created.body.links.status).toBe(`/imports/${created.body.id}`);
      expect(seen).toEqual([undefined, 'function', 'alice', 'function']);
      // Other routes are left to the app.
      app.get('/imports-other', (_req, res) => res.send('ok'));
      await router.close();
      await server.close();
    });
  });
}
