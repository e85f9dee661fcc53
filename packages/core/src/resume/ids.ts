import { createHash } from 'node:crypto';
import { ObjectId } from '../mongo/bson.js';

/**
 * The `_id` a resumable insert gives the row on `line`: 6 bytes of a hash of the import's nonce,
 * then the line as a 6-byte big-endian number. The same row gets the same `_id` in every run, so
 * a replayed row meets its own earlier copy; ids of one import grow with the line, which keeps
 * the `_id` index append-mostly; two imports share a prefix with odds of 1 in 2^48.
 * @internal
 */
export function deterministicIdFactory(nonce: string): (line: number) => ObjectId {
  const prefix = createHash('sha256').update(nonce).digest().subarray(0, 6);
  return (line) => {
    const bytes = Buffer.allocUnsafe(12);
    prefix.copy(bytes, 0);
    bytes.writeUIntBE(line, 6, 6);
    return new ObjectId(bytes);
  };
}
