/** The routes, by what they do. @internal */
export type Route = { name: 'create' } | { name: 'preview' } | { name: 'upload' | 'status' | 'events' | 'cancel'; id: string };

/** @internal */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Method and path (below the prefix) to a route; `undefined` when they are not one of ours.
 * There is no `POST /:id`: a browser sends a cross-site `POST` with a `text/plain` body without
 * asking first (a "simple" request), while a cross-site `PUT` always needs a CORS preflight.
 * @internal
 */
export function matchRoute(method: string, path: string): Route | undefined {
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0) return method === 'POST' ? { name: 'create' } : undefined;
  const [id, sub] = parts as [string, string | undefined];
  if (parts.length === 2 && sub === 'events') return method === 'GET' ? { name: 'events', id } : undefined;
  if (parts.length !== 1) return undefined;
  // Not an id (ids are UUIDs), so it cannot shadow an import's routes.
  if (id === 'preview') return method === 'POST' ? { name: 'preview' } : undefined;
  switch (method) {
    case 'GET':
      return { name: 'status', id };
    case 'PUT':
      return { name: 'upload', id };
    case 'DELETE':
      return { name: 'cancel', id };
    default:
      return undefined;
  }
}
