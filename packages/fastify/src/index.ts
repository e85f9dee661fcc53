/**
 * Fastify plugin for Anti-OOM: the routes of `@anti-oom/http` under the plugin's prefix.
 *
 * @packageDocumentation
 */
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createIngestRoutes, discardRest, fromNode, type IngestResult, type IngestRouteOptions } from '@anti-oom/http';

export type {
  AuthorizeResult,
  HttpLogger,
  ImportInfo,
  IngestAction,
  IngestLimits,
  PerRequestPipelineOptions,
} from '@anti-oom/http';

/**
 * Options of {@link antiOom}: those of `createIngestHandler`, with Fastify's `prefix`.
 * `authorize`, `owner` and `pipeline` receive the `FastifyRequest`, so what an auth plugin
 * decorated it with (`request.user`) is there, typed.
 */
export interface AntiOomOptions extends IngestRouteOptions<FastifyRequest> {
  /** Where the routes live, such as `/imports`. @defaultValue `''` */
  prefix?: string;
}

const CSV_TYPES = ['text/csv', 'text/plain', 'application/csv', 'text/tab-separated-values', 'application/vnd.ms-excel', 'application/octet-stream', 'application/gzip', 'application/x-gzip', 'multipart/form-data'];
const anything = (description: string) => ({ description });
const bodyContent = Object.fromEntries(CSV_TYPES.map((type) => [type, { schema: anything(type === 'multipart/form-data' ? 'One file part (the `file` field), text fields before it' : 'The CSV file (gzip allowed)') }]));
const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;
const fieldsQuery = { type: 'object', additionalProperties: { type: 'string' } } as const;
const errorBody = {
  type: 'object',
  properties: {
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, errorId: { type: 'string' } }, required: ['code', 'message'] },
    report: { type: 'object', additionalProperties: true },
  },
  required: ['error'],
} as const;
const errors = { '4xx': errorBody, '5xx': errorBody } as const;
// `durable` is there only with the `checkpoints` option: the last checkpoint stored.
const durable = { type: 'object', properties: { offset: { type: 'integer' }, line: { type: 'integer' } }, required: ['offset', 'line'] } as const;
const report = {
  type: 'object',
  additionalProperties: true,
  properties: { id: { type: 'string' }, state: { type: 'string' }, rowsRead: { type: 'integer' }, rowsWritten: { type: 'integer' }, rowsFailed: { type: 'integer' }, bytesAcknowledged: { type: 'integer' }, durable },
} as const;
const created = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    state: { type: 'string' },
    links: { type: 'object', properties: { upload: { type: 'string' }, status: { type: 'string' }, events: { type: 'string' } } },
  },
} as const;
const status = { type: 'object', additionalProperties: true, properties: { id: { type: 'string' }, state: { type: 'string' }, snapshot: report, report } } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;
const preview = {
  type: 'object',
  properties: {
    encoding: { type: 'string' },
    encodingSource: { type: 'string', enum: ['bom', 'valid-utf8', 'fallback', 'option'] },
    delimiter: { type: 'string' },
    header: strings,
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, line: { type: 'integer' } } },
    rows: { type: 'array', items: { type: 'object', properties: { line: { type: 'integer' }, values: { type: 'object', additionalProperties: { type: 'string' } } } } },
    failures: { type: 'array', items: { type: 'object', properties: { line: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' }, column: { type: 'string' } } } },
    columns: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          type: { type: 'string' },
          sampled: { type: 'integer' },
          empty: { type: 'integer' },
          candidates: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, share: { type: 'number' }, misfits: strings } } },
        },
      },
    },
    bytesRead: { type: 'integer' },
    complete: { type: 'boolean' },
  },
} as const;
const sse = { description: 'Server-Sent Events: progress, rowFailure, done', content: { 'text/event-stream': { schema: { type: 'string' } } } } as const;

/** An answer that is an error, thrown so Fastify's error handling (onError hooks, logging) sees it. */
class IngestHttpError extends Error {
  constructor(readonly result: Extract<IngestResult, { kind: 'json' }>) {
    super(((result.body as { error?: { message?: string } }).error?.message ?? 'Import request failed.') as string);
    this.name = 'IngestHttpError';
  }
  get statusCode(): number {
    return this.result.status;
  }
  get code(): string {
    return (this.result.body as { error: { code: string } }).error.code;
  }
  /** The error behind the answer, for the logs. */
  override get cause(): unknown {
    return this.result.error;
  }
}

const routesPlugin: FastifyPluginAsync<IngestRouteOptions<FastifyRequest>> = async (app, options) => {
  const routes = createIngestRoutes<FastifyRequest>(options);
  const base = app.prefix;

  // The routes stream the body themselves: Fastify must neither buffer nor limit it. This context
  // is encapsulated, so the app's other routes keep their parsers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.setErrorHandler((err: FastifyError | IngestHttpError, request, reply) => {
    if (err instanceof IngestHttpError) {
      void reply.code(err.result.status).headers(err.result.headers).send(err.result.body);
    } else if (err.validation && err.validationContext === 'params') {
      void reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'No import with this id. It may have expired.' } });
    } else if (err.statusCode !== undefined && err.statusCode < 500) {
      void reply.code(err.statusCode).send({ error: { code: 'E_BAD_REQUEST', message: err.message } });
    } else {
      request.log.error({ err }, 'import request failed');
      void reply.code(500).send({ error: { code: 'E_INTERNAL', message: 'Internal error.' } });
    }
    discardRest(request.raw);
  });

  const answer = async (request: FastifyRequest, reply: FastifyReply, path: string): Promise<unknown> => {
    const body = request.body as Readable | undefined;
    const req = fromNode(request.raw, reply.raw, { context: request, path, basePath: base, body: () => body ?? request.raw });
    const result = await routes.handle(req);
    if (!result) return reply.callNotFound();
    if (result.kind === 'json' && result.status >= 400) throw new IngestHttpError(result);
    void reply.code(result.status).headers(result.headers);
    if (result.kind === 'sse') return reply.send(result.stream);
    if (result.kind === 'empty') return reply.send();
    return reply.send(result.body);
  };
  const id = (request: FastifyRequest) => (request.params as { id: string }).id;

  app.post('/', {
    schema: {
      summary: 'Create an import; with a body, upload into it and answer with the report when it ends',
      querystring: fieldsQuery,
      body: { content: bodyContent },
      response: { 200: report, 201: created, ...errors },
    },
    handler: (request, reply) => answer(request, reply, ''),
  });
  app.post('/preview', {
    schema: {
      summary: 'What an import would make of the start of a file: encoding, delimiter, header, first rows, a type per column. Writes nothing.',
      querystring: fieldsQuery,
      body: { content: bodyContent },
      response: { 200: preview, ...errors },
    },
    handler: (request, reply) => answer(request, reply, '/preview'),
  });
  app.put('/:id', {
    schema: { summary: 'Upload the file into a waiting import', params: idParams, querystring: fieldsQuery, body: { content: bodyContent }, response: { 200: report, ...errors } },
    handler: (request, reply) => answer(request, reply, `/${id(request)}`),
  });
  app.get('/:id', {
    schema: { summary: "An import's counters, or its report once it has ended", params: idParams, response: { 200: status, ...errors } },
    handler: (request, reply) => answer(request, reply, `/${id(request)}`),
  });
  app.delete('/:id', {
    schema: { summary: 'Cancel a waiting or running import', params: idParams, response: { 200: status, 202: status, ...errors } },
    handler: (request, reply) => answer(request, reply, `/${id(request)}`),
  });
  app.get('/:id/events', {
    schema: {
      summary: "Follow an import's progress over Server-Sent Events",
      params: idParams,
      querystring: { type: 'object', properties: { lastEventId: { type: 'integer', minimum: 0 } } },
      response: { 200: sse, 204: { description: 'The client has seen the end already', type: 'null' }, ...errors },
    },
    handler: (request, reply) => answer(request, reply, `/${id(request)}/events`),
  });
  if (options.queue) {
    // Queue mode's resumable uploads (tus 1.0); the routes answer with tus headers and no body.
    app.route({ method: ['POST', 'OPTIONS'], url: '/tus', handler: (request, reply) => answer(request, reply, '/tus') });
    app.route({
      method: ['HEAD', 'PATCH', 'DELETE', 'OPTIONS'],
      url: '/tus/:id',
      schema: { params: idParams },
      handler: (request, reply) => answer(request, reply, `/tus/${id(request)}`),
    });
  }
  // preClose, not onClose: open progress streams would otherwise keep the server from closing.
  app.addHook('preClose', async () => routes.close());
};

/**
 * The import routes as a Fastify plugin (Fastify 5). Each route is a real Fastify route with JSON
 * schemas (so `@fastify/swagger` documents it), runs your hooks (headers set in `onRequest` reach
 * every answer), passes the `FastifyRequest` to `authorize`, `owner` and `pipeline`, and sends
 * errors through Fastify's error handling. Bodies are streamed, never buffered: the plugin's own
 * encapsulated context leaves them as streams, so your other routes keep their parsers.
 * `app.close()` aborts running imports cleanly.
 *
 * @example
 * ```ts
 * await app.register(antiOom, {
 *   prefix: '/imports',
 *   authorize: (request, action) => (request.user ? true : { status: 401 }),
 *   owner: (request) => request.user?.id,
 *   pipeline: () => ({ sink: mongoSink(db.collection('products'), { mode: 'upsert', key: ['sku'] }) }),
 * });
 * ```
 */
export const antiOom = fp<AntiOomOptions>(
  async (app: FastifyInstance, { prefix, ...options }) => {
    // fastify-plugin shares the parent's context (so the metadata and dependencies work); the
    // routes get a context of their own under the prefix.
    await app.register(routesPlugin, { ...options, prefix: prefix ?? '' });
  },
  { name: '@anti-oom/fastify', fastify: '5.x' },
);

export default antiOom;
