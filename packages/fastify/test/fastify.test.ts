import Fastify, { type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { describe, expect, it } from 'vitest';
import { mongoSink } from '@anti-oom/core';
import { antiOom } from '../src/index.js';
import { runAdapterSuite } from '../../http/test/adapter-suite.js';
import { followEvents, send } from '../../http/test/client.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: { id: string } | null;
  }
}

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

const noSink = () => ({ sink: mongoSink({} as never) });

describe('fastify plugin: native', () => {
  it("leaves the app's own body parsing alone outside the plugin's prefix", async () => {
    const app = Fastify();
    await app.register(antiOom, { prefix: '/imports', authorize: () => true, pipeline: noSink });
    app.post('/echo', async (request) => request.body);
    const reply = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    expect(reply.json()).toEqual({ a: 1 });
    await app.close();
  });

  it('carries fastify-plugin metadata: its name and the Fastify versions it supports', () => {
    const meta = (antiOom as unknown as Record<symbol, { name: string; fastify: string }>)[Symbol.for('plugin-meta')];
    expect(meta).toMatchObject({ name: '@anti-oom/fastify', fastify: '5.x' });
  });

  it("runs the app's hooks: onRequest headers reach JSON, error and SSE answers; authorize gets the FastifyRequest with request.user", async () => {
    const app = Fastify();
    app.decorateRequest('user', null);
    app.addHook('onRequest', async (request, reply) => {
      reply.header('X-Frame-Options', 'DENY');
      request.user = request.headers.authorization === 'Bearer alice' ? { id: 'alice' } : null;
    });
    const seen: (string | undefined)[] = [];
    await app.register(antiOom, {
      prefix: '/imports',
      authorize: (request: FastifyRequest) => {
        seen.push(request.user?.id);
        return request.user ? true : { status: 401 };
      },
      owner: (request) => request.user?.id,
      pipeline: noSink,
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const refused = await send(`${address}/imports`, {});
    expect(refused.status).toBe(401);
    expect(refused.headers['x-frame-options']).toBe('DENY');
    const alice = { Authorization: 'Bearer alice' };
    const created = await send(`${address}/imports`, { headers: alice });
    expect(created.status).toBe(201);
    expect(created.headers['x-frame-options']).toBe('DENY');
    const events = await fetch(`${address}${created.body.links.events}`, { headers: alice });
    expect(events.status).toBe(200);
    expect(events.headers.get('x-frame-options')).toBe('DENY');
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    await events.body?.cancel();
    expect(seen).toEqual([undefined, 'alice', 'alice']);
    await app.close();
  });

  it("sends errors through Fastify's error handling: onError hooks see them", async () => {
    const app = Fastify();
    const errors: unknown[] = [];
    app.addHook('onError', async (_request, _reply, error) => {
      errors.push(error);
    });
    await app.register(antiOom, {
      prefix: '/imports',
      authorize: () => true,
      logger: { error: () => {}, warn: () => {} },
      pipeline: () => {
        throw new TypeError('boom');
      },
    });
    const reply = await app.inject({ method: 'POST', url: '/imports', headers: { 'content-type': 'text/csv' }, payload: 'a\n1\n' });
    expect(reply.statusCode).toBe(500);
    expect(reply.json().error).toMatchObject({ code: 'E_INTERNAL', errorId: expect.any(String) });
    expect(errors).toHaveLength(1);
    expect((errors[0] as { cause: unknown }).cause).toBeInstanceOf(TypeError);
    await app.close();
  });

  it('declares real routes with schemas, which @fastify/swagger documents', async () => {
    const app = Fastify();
    await app.register(swagger, { openapi: { info: { title: 'test', version: '1' } } });
    await app.register(antiOom, { prefix: '/imports', authorize: () => true, pipeline: noSink });
    await app.ready();
    const spec = app.swagger() as { paths: Record<string, Record<string, any>> };
    expect(Object.keys(spec.paths).sort()).toEqual(['/imports/', '/imports/preview', '/imports/{id}', '/imports/{id}/events']);
    expect(Object.keys(spec.paths['/imports/preview']!.post.responses['200'].content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['encoding', 'delimiter', 'header', 'rows', 'columns', 'complete']),
    );
    expect(Object.keys(spec.paths['/imports/']!)).toEqual(['post']);
    expect(Object.keys(spec.paths['/imports/{id}']!).sort()).toEqual(['delete', 'get', 'put']);
    expect(Object.keys(spec.paths['/imports/']!.post.requestBody.content)).toEqual(expect.arrayContaining(['text/csv', 'multipart/form-data', 'application/gzip']));
    expect(spec.paths['/imports/{id}']!.get.parameters[0]).toMatchObject({ name: 'id', in: 'path', schema: { format: 'uuid' } });
    expect(Object.keys(spec.paths['/imports/{id}/events']!.get.responses['200'].content)).toEqual(['text/event-stream']);
    await app.close();
  });

  it('an import that ended answers a watcher who saw the end with 204', async () => {
    const app = Fastify();
    await app.register(antiOom, { prefix: '/imports', authorize: () => true, pipeline: noSink });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const created = (await send(`${address}/imports`, {})).body;
    await send(`${address}/imports/${created.id}`, { method: 'DELETE' });
    const first = await followEvents(`${address}${created.links.events}`);
    expect(first.events.map((e) => e.event)).toEqual(['done']);
    const again = await followEvents(`${address}${created.links.events}`, { headers: { 'Last-Event-ID': first.events[0]!.id! } });
    expect(again.status).toBe(204);
    await app.close();
  });
});
