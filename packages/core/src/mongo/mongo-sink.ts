import { calculateObjectSize, deserialize, ObjectId, serialize } from './bson.js';
import type { AnyBulkWriteOperation, Collection, Document, WriteConcernSettings } from 'mongodb';
import { invalidOption } from '../errors.js';
import { numberOption } from '../options/number-option.js';
import type { Batch, BatchWriter, LinedDocument, RowFailure, WriteAttempt, WriteResult } from '../types.js';
import { RowFailureCode } from '../types.js';
import { markForgetful } from '../sink/release.js';
import { fitsInOneCommand } from './bson-size-bound.js';
import { commandWriteConcern, insertCommand, readWriteLimits, type WriteLimits } from './insert-command.js';
import { isMissingKey, keyString } from './keys.js';
import { isDuplicateKey, readBulkWriteError, toRowFailure, type DriverWriteError } from './write-errors.js';

/**
 * How rows land:
 * - `insert`: each row becomes a new document (unordered insert);
 * - `upsert`: replace the document matched by `key`, or insert it;
 * - `merge`: `$set` the row's fields onto the document matched by `key`, or insert it.
 */
export type MongoSinkMode = 'insert' | 'upsert' | 'merge';

/** Options of {@link mongoSink}. */
export interface MongoSinkOptions {
  /**
   * How rows land.
   * @defaultValue `'insert'`
   */
  mode?: MongoSinkMode;
  /** Field(s) that identify a document; required for `upsert` and `merge`. */
  key?: string | readonly string[];
  /** Write concern of every write; the collection's own when absent. */
  writeConcern?: WriteConcernSettings;
  /** Skip the collection's validator. @defaultValue `false` */
  bypassDocumentValidation?: boolean;
  /**
   * How long `ping()` waits for the server before reporting it unreachable.
   * @defaultValue `2000`
   */
  pingTimeoutMs?: number;
}

/** A batch turned into driver input once, so retries send exactly the same thing. */
interface Prepared {
  /** Failures found before sending (missing key, `$` field names). */
  failures: RowFailure[];
  /** For insert: documents to send, and for each, its batch item and whether we gave it its `_id`. */
  docs: Document[];
  docItems: LinedDocument[];
  assignedId: boolean[];
  /** For insert: whether `docs` go as one `insert` command rather than through the bulk API; decided at the first attempt. */
  oneCommand: boolean | undefined;
  /** For upsert/merge: one operation per distinct key, with every row it stands for. */
  ops: AnyBulkWriteOperation[];
  opItems: LinedDocument[][];
  keys: Set<string>;
}

/** MongoDB's largest document. */
const MAX_BSON_BYTES = 16 * 1024 * 1024;
/**
 * Rows at least this large get their BSON size computed before sending: the driver refuses an
 * oversized document for the whole batch, client-side. Smaller rows cannot get near the limit
 * unless `map` inflates them, so they cost nothing.
 */
const SIZE_CHECK_FROM_BYTES = 1024 * 1024;

function emptyResult(): WriteResult {
  return { written: 0, inserted: 0, upserted: 0, matched: 0, modified: 0, failures: [] };
}

/** A top-level `$` field would be read as an update operator; a row must never be able to do that. */
function operatorField(doc: Record<string, unknown>): string | undefined {
  for (const name in doc) if (name.charCodeAt(0) === 36) return name;
  return undefined;
}

/**
 * A {@link BatchWriter} over a MongoDB collection, for {@link createIngestPipeline} or
 * {@link createBulkSink}.
 *
 * No row is ever written twice: in `insert` mode every document gets its `_id` on this side
 * before the first attempt, so a batch retried after a lost acknowledgement meets its own
 * documents and counts them as written; `upsert` and `merge` are idempotent by nature. Within a
 * batch, rows with the same key are folded into one operation in file order (the later row wins,
 * or its fields are applied last), and the bulk sink never runs two batches sharing a key at once.
 *
 * Per-document refusals (duplicate key on a unique index, validator, size) become row failures
 * with the row's line; the rest of the batch is written.
 *
 * In `insert` mode a batch goes to the server as one `insert` command, serialized once, when it
 * surely fits in one (within the largest document and batch the server announces); a larger
 * batch goes through the driver's bulk API, which splits it, as do writes with `w: 0`, with
 * `serializeFunctions`, or on a client with auto-encryption. Either way the write concern is
 * `writeConcern` when given, else the collection's.
 */
export function mongoSink(collection: Collection<any>, options: MongoSinkOptions = {}): BatchWriter {
  const mode = options.mode ?? 'insert';
  if (mode !== 'insert' && mode !== 'upsert' && mode !== 'merge') throw invalidOption('sink mode', "'insert', 'upsert' or 'merge'", mode);
  const key = options.key === undefined ? [] : typeof options.key === 'string' ? [options.key] : [...options.key];
  if (mode !== 'insert' && (key.length === 0 || key.some((k) => typeof k !== 'string' || k.length === 0 || k.startsWith('$')))) {
    throw invalidOption('key', `one or more field names for mode '${mode}'`, options.key);
  }
  const pingTimeoutMs = numberOption('pingTimeoutMs', options.pingTimeoutMs, 2000, { min: 1, integer: true });
  const writeOptions = {
    ordered: false,
    ...(options.writeConcern ? { writeConcern: options.writeConcern } : {}),
    ...(options.bypassDocumentValidation ? { bypassDocumentValidation: true } : {}),
  };
  const writeConcern = commandWriteConcern(options.writeConcern ?? collection.writeConcern);
  // The bulk API keeps: an unacknowledged write (no reply to read refusals from), functions
  // serialized as code (which the size bound does not count), and auto-encryption (which makes a
  // command larger than its documents; the driver then caps a batch at 2 MiB).
  const commandAllowed = writeConcern?.w !== 0 && collection.bsonOptions.serializeFunctions !== true && collection.db.client.options?.autoEncryption === undefined;
  let limits: Promise<WriteLimits> | undefined;
  /**
   * Whether `docs` surely fit in one command; the server's limits are asked for once. A command
   * may be 16 KiB larger than the largest document, which covers the command's own fields.
   */
  async function fitInOneCommand(docs: Document[]): Promise<boolean> {
    if (!commandAllowed) return false;
    limits ??= readWriteLimits(collection).catch((err: unknown) => {
      limits = undefined; // asked again by the retry
      throw err;
    });
    const { maxBsonObjectSize, maxWriteBatchSize } = await limits;
    return docs.length <= maxWriteBatchSize && fitsInOneCommand(docs, maxBsonObjectSize);
  }
  const prepared = new WeakMap<Batch, Prepared>();
  /**
   * For an insert batch whose write settled (and so left `prepared`): which of its documents got
   * their `_id` here, so writing it again still knows them as our own. No document in it.
   */
  const assignedBefore = new WeakMap<Batch, boolean[]>();

  function prepare(batch: Batch): Prepared {
    let p = prepared.get(batch);
    if (p !== undefined) return p;
    p = { failures: [], docs: [], docItems: [], assignedId: [], oneCommand: undefined, ops: [], opItems: [], keys: new Set() };
    const groups = new Map<string, number>();
    const before = assignedBefore.get(batch);
    for (const item of batch.items) {
      const doc = item.document;
      const bad = operatorField(doc);
      if (bad !== undefined) {
        p.failures.push({ line: item.line, code: RowFailureCode.E_WRITE, column: bad, message: `Field "${bad}" starts with "$", which MongoDB reads as an operator.` });
        continue;
      }
      if (item.bytes >= SIZE_CHECK_FROM_BYTES) {
        const size = calculateObjectSize(doc);
        if (size > MAX_BSON_BYTES) {
          p.failures.push({ line: item.line, code: RowFailureCode.E_WRITE, message: `The document is ${size} bytes; MongoDB stores documents up to 16 MiB.` });
          continue;
        }
      }
      if (mode === 'insert') {
        const assign = doc._id === undefined;
        if (assign) doc._id = new ObjectId();
        p.docs.push(doc);
        p.docItems.push(item);
        p.assignedId.push(assign || item.assignedId === true || before?.[p.docs.length - 1] === true);
        continue;
      }
      const values = key.map((k) => doc[k]);
      const missing = key.find((_, i) => isMissingKey(values[i]));
      if (missing !== undefined) {
        p.failures.push({ line: item.line, code: RowFailureCode.E_KEY_MISSING, column: missing, message: `Key field "${missing}" is missing or empty.` });
        continue;
      }
      const ks = keyString(values);
      p.keys.add(ks);
      const at = groups.get(ks);
      if (at === undefined) {
        groups.set(ks, p.ops.length);
        p.ops.push(toOperation(doc, values, undefined));
        p.opItems.push([item]);
      } else {
        p.ops[at] = toOperation(doc, values, p.ops[at]);
        p.opItems[at]!.push(item);
      }
    }
    prepared.set(batch, p);
    return p;
  }

  function toOperation(doc: Record<string, unknown>, values: unknown[], previous: AnyBulkWriteOperation | undefined): AnyBulkWriteOperation {
    const filter: Document = {};
    key.forEach((k, i) => (filter[k] = values[i]));
    if (mode === 'upsert') return { replaceOne: { filter, replacement: doc, upsert: true } };
    // merge: fields of later rows with the same key are applied after earlier ones.
    const earlier = previous && 'updateOne' in previous ? (previous.updateOne.update as Document) : undefined;
    const set: Document = { ...(earlier?.$set ?? {}) };
    let id: unknown = earlier?.$setOnInsert?._id;
    for (const name in doc) {
      if (name === '_id') id = doc[name];
      else set[name] = doc[name];
    }
    const update: Document = {};
    if (Object.keys(set).length > 0) update.$set = set;
    if (id !== undefined) update.$setOnInsert = { _id: id };
    if (update.$set === undefined && update.$setOnInsert === undefined) update.$setOnInsert = { ...filter };
    return { updateOne: { filter, update, upsert: true } };
  }

  async function writeInsert(p: Prepared, attempt: WriteAttempt): Promise<WriteResult> {
    const result = emptyResult();
    result.failures.push(...p.failures);
    if (p.docs.length === 0) return result;
    const refused = new Map<number, DriverWriteError>();
    p.oneCommand ??= await fitInOneCommand(p.docs);
    if (p.oneCommand) {
      const r = await insertCommand(collection, p.docs, { writeConcern, bypassDocumentValidation: options.bypassDocumentValidation === true });
      result.inserted = r.inserted;
      for (const we of r.writeErrors) refused.set(we.index, we);
    } else {
      try {
        // The bulk API, for batches that may not fit in one command (it splits them) and the
        // writes `commandAllowed` excludes. Not insertMany, which first maps every document to an
        // `{ insertOne: { document } }` operation, two objects a row that live until the batch is
        // acknowledged. Same command, same errors (MongoBulkWriteError), same write options.
        const bulk = collection.initializeUnorderedBulkOp(writeOptions);
        for (let i = 0; i < p.docs.length; i++) bulk.insert(p.docs[i]!);
        const r = await bulk.execute(writeOptions);
        result.inserted = r.insertedCount;
      } catch (err) {
        const bulk = readBulkWriteError(err);
        if (bulk === undefined || bulk.writeErrors.length === 0) throw err;
        result.inserted = bulk.inserted;
        for (const we of bulk.writeErrors) refused.set(we.index, we);
      }
    }
    if (refused.size === 0) {
      result.written = p.docs.length;
      return result;
    }
    // A retry, or a resumed import replaying rows an earlier run may have written.
    const alreadyThere = attempt.attempt > 0 || attempt.replay === true ? await findOwnCopies(p, refused) : new Set<number>();
    for (const [index, we] of refused) {
      if (alreadyThere.has(index)) continue;
      result.failures.push(toRowFailure(p.docItems[index]?.line ?? 0, we));
    }
    result.written = p.docs.length - (refused.size - alreadyThere.size);
    return result;
  }

  /**
   * After a retry, a duplicate key may be our own document, written by an attempt whose
   * acknowledgement was lost (or, when resuming, by an earlier run; a duplicate on a natural-key
   * index is checked the same way, by the row's `_id`). It is ours when the stored document has
   * the `_id` we generated, or is, byte for byte, the document we sent as the server stores it.
   */
  async function findOwnCopies(p: Prepared, refused: Map<number, DriverWriteError>): Promise<Set<number>> {
    const candidates = [...refused].filter(([, we]) => isDuplicateKey(we)).map(([index]) => index);
    const own = new Set<number>();
    if (candidates.length === 0) return own;
    const ids = candidates.map((i) => p.docs[i]!._id);
    const stored = await collection.find({ _id: { $in: ids } }).toArray();
    const byId = new Map(stored.map((d) => [keyString([d._id]), d]));
    for (const i of candidates) {
      const found = byId.get(keyString([p.docs[i]!._id]));
      if (found === undefined) continue;
      if (p.assignedId[i] || asStored(found).equals(asStored(p.docs[i]!))) own.add(i);
    }
    return own;
  }

  /**
   * A document's bytes as the server gives it back: `_id` first (the server moves it there), and
   * values through a BSON round trip (a Long or Int32 we sent reads back as a number), with
   * `undefined` as it was sent.
   */
  function asStored(doc: Document): Buffer {
    const { _id, ...rest } = doc;
    const sent = serialize({ _id, ...rest }, { ignoreUndefined: collection.bsonOptions.ignoreUndefined === true });
    return Buffer.from(serialize(deserialize(sent, collection.bsonOptions), { ignoreUndefined: true }));
  }

  async function writeKeyed(p: Prepared): Promise<WriteResult> {
    const result = emptyResult();
    result.failures.push(...p.failures);
    await applyOperations(p, p.ops.map((_, i) => i), result);
    return result;
  }

  /**
   * Runs the operations; when the server refuses some, splits them in halves and runs each half
   * again until every refusal is pinned to its operation. The bulk reply cannot be trusted to say
   * which operation failed (FerretDB reports every update-batch error at index 0, with zero
   * counts), but each operation is idempotent (a replacement or a `$set`), so running one again
   * is harmless, and a reply for a single operation is unambiguous. Costs extra round trips only
   * for batches with refused rows; an operation that landed before its half was re-run counts as
   * matched rather than upserted.
   */
  async function applyOperations(p: Prepared, indexes: number[], result: WriteResult): Promise<void> {
    if (indexes.length === 0) return;
    try {
      const r = await collection.bulkWrite(
        indexes.map((i) => p.ops[i]!),
        writeOptions,
      );
      result.matched += r.matchedCount;
      result.modified += r.modifiedCount;
      result.upserted += r.upsertedCount;
      for (const i of indexes) result.written += p.opItems[i]!.length;
      return;
    } catch (err) {
      const bulk = readBulkWriteError(err);
      if (bulk === undefined || bulk.writeErrors.length === 0) throw err;
      if (indexes.length === 1) {
        for (const item of p.opItems[indexes[0]!]!) result.failures.push(toRowFailure(item.line, bulk.writeErrors[0]!));
        return;
      }
    }
    const half = Math.ceil(indexes.length / 2);
    await applyOperations(p, indexes.slice(0, half), result);
    await applyOperations(p, indexes.slice(half), result);
  }

  const writer: BatchWriter = {
    resumeMode: mode === 'insert' ? 'insert' : 'keyed',
    async write(batch, attempt) {
      const p = prepare(batch);
      const result = mode === 'insert' ? await writeInsert(p, attempt) : await writeKeyed(p);
      // Settled: a write that returns is never attempted again (only a throw is retried), so its
      // prepared documents go now. A WeakMap entry otherwise lives as long as its key, and a batch
      // promoted to the old generation dies only at a full collection: until then the entry keeps
      // every document of the batch alive for the young-generation collector (see sink/release.ts).
      prepared.delete(batch);
      // Emptied too, not only let go: the driver's connection pool can keep a spent checkout, and
      // through it the command holding this very array, reachable until a full collection (its
      // wait queue's removed links; see docs/memory.md). Empty, the array keeps no document alive.
      p.docs.length = 0;
      p.docItems.length = 0;
      p.ops.length = 0;
      p.opItems.length = 0;
      if (mode === 'insert') assignedBefore.set(batch, p.assignedId);
      return result;
    },
    keysOf(batch) {
      return mode === 'insert' ? undefined : prepare(batch).keys;
    },
    async ping() {
      await collection.db.command({ ping: 1 }, { timeoutMS: pingTimeoutMs });
    },
  };
  return markForgetful(writer);
}
