import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where FerretDB's PostgreSQL backend looks for a server: `ANTI_OOM_POSTGRES_URL`, else the local one (trust auth). */
export const postgresAdminUrl = (): string => process.env.ANTI_OOM_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Databases this package creates carry the creating process's pid, so a later start can drop the ones left by a killed run. */
const PREFIX = 'anti_oom_ferretdb_';

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Whether a PostgreSQL server answers at `url` (a short connect, no retries). */
export async function postgresReachable(url = postgresAdminUrl()): Promise<boolean> {
  return withClient(url, async (c) => void (await c.query('SELECT 1'))).then(
    () => true,
    () => false,
  );
}

/**
 * Creates a fresh, empty database for one FerretDB server and returns its URL and a `drop()`.
 * Databases left by runs that were killed (their pid is gone) are dropped first.
 */
export async function createPostgresDatabase(adminUrl = postgresAdminUrl()): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${PREFIX}%`]);
    for (const { datname } of rows) {
      const pid = Number(/^anti_oom_ferretdb_(\d+)_/.exec(datname)?.[1]);
      if (pid && !alive(pid)) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
    }
    await c.query(`CREATE DATABASE "${name}"`);
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withClient(adminUrl, async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}
