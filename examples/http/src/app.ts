import { createServer, type Server } from 'node:http';
import type { Db } from 'mongodb';
import { createIngestHandler, type IngestHandler } from '@anti-oom/http';
import { importOptions, serveDashboard } from '@anti-oom/example-shared';

/** The dashboard at `/`, the import routes at `/imports`. */
export function createApp(db: Db, options: { token: string; collection?: string }): { server: Server; imports: IngestHandler } {
  const imports = createIngestHandler({ prefix: '/imports', ...importOptions(db, options) });
  const server = createServer((req, res) => {
    serveDashboard(req, res).then((served) => {
      if (!served) imports(req, res);
    });
  });
  return { server, imports };
}
