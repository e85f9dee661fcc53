import { types } from 'node:util';
import { calculateObjectSize } from './bson.js';

/**
 * Deeper than this, a value is taken to be too large: it ends the walk on a cyclic object (which
 * the driver refuses on its own path, with its own error) and costs no stack.
 */
const MAX_DEPTH = 100;

/**
 * Whether `documents`, sent as the `documents` array of one command, stay within `limit` bytes of
 * BSON. Decided from an upper bound, without serializing: every UTF-16 unit of a string or a key
 * counts 3 bytes (its UTF-8 worst case), every number 8, a function nothing (the command is not
 * sent with `serializeFunctions`). So the answer is "no" for some batches that would fit, never
 * "yes" for one that would not; a "no" only means the caller takes the slower path that measures
 * each document. Stops walking as soon as the bound passes `limit`.
 * @internal
 */
export function fitsInOneCommand(documents: readonly object[], limit: number): boolean {
  // The array's own header, and each element's type byte, decimal index and terminator.
  let total = 5;
  for (let i = 0; i < documents.length; i++) {
    // As a value, not as a document: the serializer calls an element's toBSON and reads a Map.
    total += 2 + decimalDigits(i) + valueBound(documents[i], limit - total, 0);
    if (total > limit) return false;
  }
  return total <= limit;
}

/** An upper bound of a document's BSON size; any bound above `budget` may be returned as is. */
function documentBound(doc: Record<string, unknown>, budget: number, depth: number): number {
  if (depth > MAX_DEPTH) return Infinity;
  let size = 5;
  for (const key in doc) {
    size += 2 + 3 * key.length + valueBound(doc[key], budget - size, depth);
    if (size > budget) return size;
  }
  return size;
}

function valueBound(value: unknown, budget: number, depth: number): number {
  switch (typeof value) {
    case 'string':
      return 5 + 3 * value.length;
    case 'number':
    case 'bigint':
      return 8;
    case 'boolean':
      return 1;
    case 'undefined':
    case 'function':
    case 'symbol':
      return 0;
    default:
      return objectBound(value as object | null, budget, depth);
  }
}

function objectBound(value: object | null, budget: number, depth: number): number {
  if (value === null) return 0;
  const bsonType = (value as { _bsontype?: unknown })._bsontype;
  if (bsonType === 'ObjectId') return 12; // every inserted document's _id: first
  // What toBSON returns is what gets written, whatever the value is.
  const toBSON = (value as { toBSON?: unknown }).toBSON;
  if (typeof toBSON === 'function') return depth > MAX_DEPTH ? Infinity : valueBound(toBSON.call(value), budget, depth + 1);
  // util.types, not instanceof: a Date or RegExp from another realm (a vm context) is one too.
  if (types.isDate(value)) return 8;
  if (value instanceof Uint8Array) return 5 + value.byteLength;
  // Other typed arrays are written as a document with one element per index (a number's worth of
  // key and value each, whatever their byte size), and array buffers are rare: no cheap bound,
  // so the batch takes the path that measures every document.
  if (ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value)) return Infinity;
  // Code and DBRef carry documents of their own (a scope, extra fields): rare, not bounded here.
  if (bsonType === 'Code' || bsonType === 'DBRef') return Infinity;
  // Decimal128, Long, Binary, Timestamp, regular expressions and the like: rare in imported rows,
  // and of a size calculateObjectSize gets right, so measured exactly (the wrapper document only
  // adds to the figure).
  if (bsonType !== undefined || types.isRegExp(value)) return calculateObjectSize({ v: value });
  if (Array.isArray(value)) {
    let size = 5;
    for (let i = 0; i < value.length; i++) {
      size += 2 + decimalDigits(i) + valueBound(value[i], budget - size, depth + 1);
      if (size > budget) return size;
    }
    return size;
  }
  if (value instanceof Map) return documentBound(Object.fromEntries(value), budget, depth + 1);
  return documentBound(value as Record<string, unknown>, budget, depth + 1);
}

function decimalDigits(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : String(n).length;
}
