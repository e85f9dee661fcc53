/** Which server `startMongo()` found. */
export type MongoKind = 'external' | 'mongod' | 'ferretdb' | 'mongodb-memory-server';

/** FerretDB's storage: PostgreSQL (a fresh database per server) or SQLite (a temporary directory). */
export type FerretdbBackend = 'postgresql' | 'sqlite';

/** A running MongoDB-compatible server. */
export interface MongoServer {
  /** Connection string for the official driver. */
  uri: string;
  kind: MongoKind;
  /** FerretDB's backend, when `kind` is `ferretdb`. */
  backend?: FerretdbBackend;
  /** What to print: the server and, for FerretDB, its version and backend. */
  description?: string;
  /** The TCP port, when this process started the server. */
  port?: number;
  /** Stops the server and removes its data (no-op for an external server). */
  stop(): Promise<void>;
  /** SIGKILL, for fault tests; only for servers this process started. */
  kill?(): Promise<void>;
  /** Kill, then start again on the same port and data. */
  restart?(): Promise<void>;
  /** SIGSTOP / SIGCONT, for fault tests. */
  freeze?(): void;
  thaw?(): void;
}
