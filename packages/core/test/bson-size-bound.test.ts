import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BSON, Decimal128, Long, ObjectId } from 'bson';
import { fitsInOneCommand } from '../src/mongo/bson-size-bound.js';

/**
 * The BSON size of `docs` as the `documents` array of a command, written as the command is
 * (undefined as null): `{ d: docs }` less its 8 bytes of wrapper. Serialized, not calculated:
 * calculateObjectSize counts a typed array's bytes where the serializer writes an element each.
 */
const arraySize = (docs: object[]): number => BSON.serialize({ d: docs }, { ignoreUndefined: false }).length - 8;

// The serializer refuses a key holding a NUL byte.
const key = (maxLength: number) => fc.string({ unit: 'binary', minLength: 1, maxLength }).filter((k) => !k.includes('\0'));

const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  // Long text of 2-, 3- and 4-byte characters, where UTF-8 outgrows the string's length most.
  fc.string({ unit: fc.constantFrom('a', 'é', '中', '😀'), minLength: 10, maxLength: 60 }),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
  fc.constant(new ObjectId()),
  fc.constant(Decimal128.fromString('12.5')),
  fc.constant(Long.fromNumber(7)),
  fc.uint8Array({ maxLength: 20 }),
  fc.int8Array({ maxLength: 20 }),
  fc.float64Array({ maxLength: 8 }),
  fc.constant(/ab+c/gi),
  fc.string({ maxLength: 20 }).map((s) => ({ toBSON: () => ({ s, t: [s, undefined] }) })),
  fc.dictionary(key(4), fc.string({ maxLength: 8 }), { maxKeys: 3 }).map((o) => new Map(Object.entries(o))),
);
const value = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key(8), tie('value'), { maxKeys: 5 }),
})).value;
const keyed = fc.dictionary(key(12), value, { maxKeys: 8 });
// A document may also be a Map, or have a toBSON of its own: the serializer reads either.
const docs = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: keyed },
    keyed.map((o) => new Map(Object.entries(o))),
    keyed.map((o) => ({ toBSON: () => o })),
  ),
  { maxLength: 30 },
);

describe('fitsInOneCommand', () => {
  it('never says a batch fits when its BSON is larger than the limit', () => {
    fc.assert(
      fc.property(docs, (batch) => {
        const size = arraySize(batch);
        expect(fitsInOneCommand(batch, size - 1)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('says a typical batch of CSV rows fits with room to spare: 1000 rows of 10 short string fields against 1 MiB', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => {
      const doc: Record<string, unknown> = { _id: new ObjectId() };
      for (let c = 0; c < 10; c++) doc[`column_${c}`] = `value ${i}-${c}`;
      return doc;
    });
    expect(arraySize(rows)).toBeLessThan(512 * 1024);
    expect(fitsInOneCommand(rows, 1024 * 1024)).toBe(true);
    expect(fitsInOneCommand(rows, 64 * 1024)).toBe(false);
  });

  it('gives up on a cyclic document instead of overflowing the stack', () => {
    const doc: Record<string, unknown> = { a: 1 };
    doc.self = doc;
    expect(fitsInOneCommand([doc], 16 * 1024 * 1024)).toBe(false);
  });
});
