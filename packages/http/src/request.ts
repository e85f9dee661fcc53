import type { Readable } from 'node:stream';

/**
 * A request as the import routes see it, whatever the framework: the node:http, Express and
 * Fastify adapters build one from their own request (and the fetch handler from a `Request`).
 * `Req` is the framework's request, passed untouched to `authorize`, `owner` and `pipeline`.
 */
export interface IngestRequest<Req> {
  method: string;
  /** Path below the routes' prefix: `''`, `/<id>` or `/<id>/events`. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body's bytes; read only by an upload. */
  body: () => Readable;
  /**
   * Whether the request has a body. Absent: from `Content-Length` and `Transfer-Encoding` (a
   * fetch `Request` built by hand has a body and neither header).
   */
  hasBody?: boolean;
  /** The framework's request, for the callbacks. */
  context: Req;
  /** The peer's address (for per-client quotas when there is no `owner`). */
  clientAddress: string | undefined;
  /** Whether this hop is TLS (for the request's own origin). */
  secure: boolean;
  /** Path of the routes as the client addressed them, for the links of a new import. */
  basePath: string;
  /** Aborts when the client goes away before the response is complete. */
  signal: AbortSignal;
}

/** What the routes answer: JSON, or a stream of Server-Sent Events. A renderer writes it. */
export type IngestResult =
  | { kind: 'json'; status: number; headers: Record<string, string>; body: unknown; /** The error behind an error answer. */ error?: unknown }
  | { kind: 'sse'; status: 200; headers: Record<string, string>; stream: Readable }
  | { kind: 'empty'; status: number; headers: Record<string, string> };

/** First value of a header. @internal */
export function header(req: IngestRequest<unknown>, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
