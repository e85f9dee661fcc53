import Fastify from 'fastify';
import { antiOom } from '../src/index.js';
import { runAdapterSuite } from '../../http/test/adapter-suite.js';

runAdapterSuite('fastify', async (options) => {
  const app = Fastify();
  await app.register(antiOom, { ...options, prefix: '/imports' });
  // Other routes keep Fastify's own body parsing.
  app.post('/echo', async (request) => request.body);
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    base: `${address}/imports`,
    async close() {
      await app.close();
    },
  };
});

import { describe, expect, it } from 'vitest';
import { mongoSink } from '@anti-oom/core';

describe('fastify plugin encapsulation', () => {
  it("leaves the app's own body parsing alone outside the plugin's prefix", async () => {
    const app = Fastify();
    await app.register(antiOom, { prefix: '/imports', pipeline: () => ({ sink: mongoSink({} as never) }) });
    app.post('/echo', async (request) => request.body);
    const reply = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    expect(reply.json()).toEqual({ a: 1 });
    await app.close();
  });
});
