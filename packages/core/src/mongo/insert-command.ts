import type { Collection, Document, WriteConcernSettings } from 'mongodb';
import type { DriverWriteError } from './write-errors.js';

/** What the server said about one `insert` command. @internal */
export interface InsertCommandResult {
  /** Documents inserted. */
  inserted: number;
  /** Documents refused, by their index in the command. */
  writeErrors: DriverWriteError[];
}

/** The server's limits on one write command, from its `hello`. @internal */
export interface WriteLimits {
  /** Largest document; a command may carry 16 KiB more, which its own fields stay within. */
  maxBsonObjectSize: number;
  /** Most documents in one write command. */
  maxWriteBatchSize: number;
}

/** MongoDB's limits, for a server whose `hello` leaves them out. */
const DEFAULT_LIMITS: WriteLimits = { maxBsonObjectSize: 16 * 1024 * 1024, maxWriteBatchSize: 100_000 };

/**
 * The limits the server announces in `hello`, as the driver's bulk API reads them from the
 * handshake (which is not public): a server that accepts less than MongoDB (a compatible service
 * with smaller documents or batches) gets batches it accepts.
 * @internal
 */
export async function readWriteLimits(collection: Collection<any>): Promise<WriteLimits> {
  const hello = await collection.db.admin().command({ hello: 1 });
  const positive = (v: unknown, fallback: number): number => (typeof v === 'number' && v > 0 ? v : fallback);
  return {
    maxBsonObjectSize: positive(hello.maxBsonObjectSize, DEFAULT_LIMITS.maxBsonObjectSize),
    maxWriteBatchSize: positive(hello.maxWriteBatchSize, DEFAULT_LIMITS.maxWriteBatchSize),
  };
}

/**
 * A write concern in the shape of a command's `writeConcern` field (`w`, `j`, `wtimeout`, as the
 * driver's `WriteConcern.apply` writes it), or undefined when it sets nothing. The caller picks
 * the one that applies, whole: the sink's when given, else the collection's, as the driver does.
 * @internal
 */
export function commandWriteConcern(settings: WriteConcernSettings | undefined): Document | undefined {
  if (settings === undefined) return undefined;
  const wc: Document = {};
  if (settings.w !== undefined) wc.w = settings.w;
  const j = settings.j ?? settings.journal ?? (settings.fsync === undefined ? undefined : Boolean(settings.fsync));
  if (j !== undefined) wc.j = j;
  const wtimeout = settings.wtimeoutMS ?? settings.wtimeout;
  if (wtimeout !== undefined) wc.wtimeout = wtimeout;
  return Object.keys(wc).length > 0 ? wc : undefined;
}

/**
 * Sends `documents` as one `insert` command, unordered, and reads the reply.
 *
 * Why not the driver's bulk API: it serializes every document into a Buffer of its own, then
 * copies them into one section, then copies the section into the message, so each document is
 * allocated and copied three times (a sixth of the client's CPU on a 10-column import, measured
 * with `--cpu-prof`). A command document is serialized once, straight into the message body.
 * The caller must have checked that the command stays under the server's limits
 * (`fitsInOneCommand`), since that check is what the bulk API would have done.
 *
 * Refused documents come back as `writeErrors` (the server's reply, not an exception). Anything
 * the driver throws is thrown as is: a network error, `ok: 0`, or a write concern the server
 * could not meet (`MongoWriteConcernError`, whose code says whether a retry may help).
 * @internal
 */
export async function insertCommand(
  collection: Collection<any>,
  documents: Document[],
  options: { writeConcern?: Document | undefined; bypassDocumentValidation?: boolean },
): Promise<InsertCommandResult> {
  const command: Document = { insert: collection.collectionName, documents, ordered: false };
  if (options.writeConcern) command.writeConcern = options.writeConcern;
  if (options.bypassDocumentValidation) command.bypassDocumentValidation = true;
  // db.command takes BSON options from its own call only; the bulk API used the collection's.
  const reply = await collection.db.command(command, { ignoreUndefined: collection.bsonOptions.ignoreUndefined === true });
  const raw: Document[] = Array.isArray(reply.writeErrors) ? reply.writeErrors : [];
  return {
    inserted: typeof reply.n === 'number' ? reply.n : 0,
    writeErrors: raw.map((w) => ({
      index: typeof w.index === 'number' ? w.index : -1,
      code: typeof w.code === 'number' ? w.code : undefined,
      message: typeof w.errmsg === 'string' ? w.errmsg : 'unknown error',
      keyValue: w.keyValue,
    })),
  };
}
