import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { isIngestError } from '@anti-oom/core';
import { createTusHandler, type TusHandlerOptions } from '../src/tus/handler.js';

/**
 * A node:http server that wires only the tus handler under `/files` (no guard, no queue), as the
 * tests need it. `onBody` gets each PATCH's request and the offset it starts from, and returns the
 * stream the handler reads (to cut it).
 */
export async function startTusServer(
  options: TusHandlerOptions,
  hooks: { onBody?: (req: IncomingMessage, offset: number) => Readable; seen?: { method: string; offset?: string }[] } = {},
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const tus = createTusHandler(options);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/files' && !url.pathname.startsWith('/files/')) {
      res.writeHead(404).end();
      return;
    }
    const rest = url.pathname.slice('/files/'.length);
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    hooks.seen?.push({ method: req.method ?? '', offset: req.headers['upload-offset'] as string | undefined });
    void tus({
      method: req.method ?? 'GET',
      id: rest === '' ? undefined : decodeURIComponent(rest),
      headers: req.headers,
      basePath: '/files',
      signal: controller.signal,
      body: () => hooks.onBody?.(req, Number(req.headers['upload-offset'])) ?? req,
    }).then((result) => {
      if (res.destroyed) return;
      const headers: Record<string, string> = { ...result.headers };
      let body = '';
      if (result.error !== undefined) {
        const e = result.error;
        body = JSON.stringify({ error: isIngestError(e) ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: 'Internal error.' } });
        headers['Content-Type'] = 'application/json';
        // The body may be unread: do not let the client's next request queue behind it.
        if (!req.readableEnded) headers.Connection = 'close';
      }
      res.writeHead(result.status, headers).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/files`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
