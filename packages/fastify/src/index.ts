/**
 * Fastify plugin for Anti-OOM: the routes of `@anti-oom/http` under the plugin's prefix.
 *
 * @packageDocumentation
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createIngestHandler, type IngestHandlerOptions } from '@anti-oom/http';

export type {
  AuthorizeResult,
  ImportInfo,
  IngestAction,
  IngestLimits,
  PerRequestPipelineOptions,
} from '@anti-oom/http';

/** Options of {@link antiOom}: those of `createIngestHandler`, less `prefix` (use Fastify's `prefix`). */
export type AntiOomOptions = Omit<IngestHandlerOptions, 'prefix'>;

/**
 * The import routes as a Fastify plugin. Bodies are handed to the handler untouched (the plugin
 * registers a pass-through content-type parser in its own encapsulated context, so your other
 * routes keep theirs), and `app.close()` aborts running imports cleanly.
 *
 * @example
 * ```ts
 * await app.register(antiOom, {
 *   prefix: '/imports',
 *   pipeline: (req) => ({ sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }) }),
 *   authorize,
 * });
 * ```
 */
export const antiOom: FastifyPluginAsync<AntiOomOptions> = async (app, options) => {
  const handler = createIngestHandler({ ...options, prefix: app.prefix });
  app.removeAllContentTypeParsers();
  // The handler streams the body itself; Fastify must neither buffer nor limit it.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const route = (request: FastifyRequest, reply: FastifyReply): void => {
    reply.hijack();
    handler(request.raw, reply.raw);
  };
  const methods = ['GET', 'POST', 'PUT', 'DELETE'] as const;
  app.route({ method: [...methods], url: '/', handler: route });
  app.route({ method: [...methods], url: '/*', handler: route });
  // preClose, not onClose: open progress streams would otherwise keep the server from closing.
  app.addHook('preClose', async () => handler.close());
};

export default antiOom;
