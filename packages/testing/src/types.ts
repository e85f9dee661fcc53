/** Which server `startMongo()` found. */
export type MongoKind = 'external' | 'mongod' | 'ferretdb' | 'mongodb-memory-server';

/** A running MongoDB-compatible server. */
export interface MongoServer {
  /** Connection string for the official driver. */
  uri: string;
  kind: MongoKind;
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
