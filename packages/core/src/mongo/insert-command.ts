import type { Collection, Document, WriteConcernSettings } from 'mongodb';
import type { DriverWriteError } from './write-errors.js';

/** The server's own limit on the number of documents in one write command. */
export const MAX_WRITE_BATCH = 100_000;

/** What the server said about one `insert` command. @internal */
export interface InsertCommandResult {
  /** Documents inserted. */
  inserted: number;
  /** Documents refused, by their index in the command. */
  writeErrors: DriverWriteError[];
}

/**
 * The documents were written but the server could not confirm the write concern (a timeout
 * waiting for replicas, a step-down). Carries the server's code and labels, so a retry policy can
 * tell a transient failure (code 64, a shutdown) from a permanent one.
 * @internal
 */
export class WriteConcernFailedError extends Error {
  override readonly name = 'WriteConcernFailedError';
  readonly code: number | undefined;
  readonly errorLabels: string[];
  constructor(error: { code?: number; errmsg?: string }, labels: string[] | undefined) {
    super(`The server wrote the batch but could not confirm its write concern: ${error.errmsg ?? `code ${error.code ?? 'unknown'}`}.`);
    this.code = error.code;
    this.errorLabels = labels ?? [];
  }
}

/**
 * The write concern a write on `collection` carries: `given` field by field over the collection's
 * own (which the driver's bulk API applies the same way), in the shape of the command's
 * `writeConcern` field, or undefined when neither sets one.
 * @internal
 */
export function commandWriteConcern(given: WriteConcernSettings | undefined, inherited: WriteConcernSettings | undefined): Document | undefined {
  const wc: Document = {};
  const w = given?.w ?? inherited?.w;
  if (w !== undefined) wc.w = w;
  const j = journalOf(given) ?? journalOf(inherited);
  if (j !== undefined) wc.j = j;
  const wtimeout = given?.wtimeoutMS ?? given?.wtimeout ?? inherited?.wtimeoutMS ?? inherited?.wtimeout;
  if (wtimeout !== undefined) wc.wtimeout = wtimeout;
  return Object.keys(wc).length > 0 ? wc : undefined;
}

function journalOf(settings: WriteConcernSettings | undefined): boolean | undefined {
  return settings?.j ?? settings?.journal ?? (settings?.fsync === undefined ? undefined : Boolean(settings.fsync));
}

/**
 * Sends `documents` as one `insert` command, unordered, and reads the reply.
 *
 * Why not the driver's bulk API: it serializes every document into a Buffer of its own, then
 * copies them into one section, then copies the section into the message, so each document is
 * allocated and copied three times (a third of the client's CPU on a 10-column import, measured
 * with `--cpu-prof`). A command document is serialized once, straight into the message body.
 * The caller must have checked that the command stays under the size limit (`fitsInOneCommand`),
 * since that check is exactly what the bulk API would have done.
 *
 * Refused documents come back as `writeErrors` (the server's reply, not an exception); a write
 * concern the server could not meet throws {@link WriteConcernFailedError}; anything else the
 * driver throws (network, `ok: 0`) is thrown as is.
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
  const reply = await collection.db.command(command);
  if (reply.writeConcernError) throw new WriteConcernFailedError(reply.writeConcernError, reply.errorLabels);
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
