import { IngestError, IngestErrorCode } from '@anti-oom/core';
import type { IngestAction, NormalizedRouteOptions } from './options.js';
import { header, type IngestRequest } from './request.js';

/** The request's own origin, from `Host` (or, behind a trusted proxy, `X-Forwarded-*`). @internal */
export function ownOrigin(req: IngestRequest<unknown>, trustProxy: boolean): string | undefined {
  const forwarded = (name: string) => (trustProxy ? header(req, name)?.split(',')[0]?.trim() : undefined);
  const proto = forwarded('x-forwarded-proto') ?? (req.secure ? 'https' : 'http');
  const host = forwarded('x-forwarded-host') ?? header(req, 'host');
  if (!host) return undefined;
  try {
    return new URL(`${proto}://${host}`).origin;
  } catch {
    return undefined;
  }
}

/**
 * Cross-site request forgery: a browser sends a `POST` with a `text/plain` or multipart body, or
 * a `DELETE` once CORS allows it, from any page. Browsers say where a request comes from
 * (`Sec-Fetch-Site`, `Origin`), and a page cannot forge either; non-browser clients send neither.
 */
function crossSite(req: IngestRequest<unknown>, o: NormalizedRouteOptions<unknown>): IngestError | undefined {
  if (header(req, 'sec-fetch-site')?.toLowerCase() === 'cross-site') {
    const origin = header(req, 'origin');
    if (origin === undefined || !o.allowedOrigins.has(origin)) {
      return new IngestError(IngestErrorCode.E_CROSS_SITE, 'Cross-site requests may not create, upload into or cancel imports. Add the site to allowedOrigins if it is yours.');
    }
  }
  const origin = header(req, 'origin');
  if (origin === undefined) return undefined;
  if (origin !== 'null' && (origin === ownOrigin(req, o.trustProxy) || o.allowedOrigins.has(origin))) return undefined;
  return new IngestError(IngestErrorCode.E_CROSS_SITE, `Requests from ${origin} may not create, upload into or cancel imports. Add the origin to allowedOrigins if it is yours.`);
}

/**
 * The checks before a route does anything, in order: the owner (only the creator's requests may
 * touch an import), the site (no cross-site state change), then `authorize`. Returns the refusal,
 * or undefined to go on; nothing has been read or written either way.
 * @internal
 */
export async function guard<Req>(req: IngestRequest<Req>, o: NormalizedRouteOptions<Req>, action: IngestAction, entry?: { id: string; owner: string | undefined }): Promise<{ error: IngestError; headers?: Record<string, string> } | undefined> {
  if (entry && o.owner && o.owner(req.context) !== entry.owner) {
    return { error: new IngestError(IngestErrorCode.E_FORBIDDEN, 'This import belongs to someone else.') };
  }
  if (action !== 'watch') {
    const refused = crossSite(req as IngestRequest<unknown>, o as NormalizedRouteOptions<unknown>);
    if (refused) return { error: refused };
  }
  const verdict = entry ? await o.authorize(req.context, action, entry.id, { id: entry.id, owner: entry.owner }) : await o.authorize(req.context, action);
  if (verdict === true) return undefined;
  const status = typeof verdict === 'object' && verdict !== null && verdict.status === 401 ? 401 : 403;
  const message = (typeof verdict === 'object' && verdict?.message) || (status === 401 ? 'Sign in to do this.' : 'You may not do this.');
  const headers: Record<string, string> = {};
  if (typeof verdict === 'object' && verdict?.wwwAuthenticate) headers['WWW-Authenticate'] = verdict.wwwAuthenticate;
  return { error: new IngestError(status === 401 ? IngestErrorCode.E_UNAUTHORIZED : IngestErrorCode.E_FORBIDDEN, message), headers };
}
