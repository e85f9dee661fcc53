// Finding 4 of issue 10: raw E11000 messages (collection and index names) reached report.failures,
// HTTP responses and SSE. Failures now say code, field and key value; the driver's text stays in a
// non-enumerable `detail` for the server's logs.
import { describe, expect, it } from 'vitest';
import { toRowFailure } from '../src/mongo/write-errors.js';

const E11000 = 'E11000 duplicate key error collection: shop.products index: sku_1 dup key: { sku: "A1" }';

describe('toRowFailure', () => {
  it('a duplicate key: code, field and key value in the message; the driver text only in detail', () => {
    const failure = toRowFailure(7, { index: 0, code: 11000, message: E11000, keyValue: { sku: 'A1' } });
    expect(failure).toEqual({ line: 7, code: 'E_DUPLICATE_KEY', column: 'sku', message: 'A document with the same unique key {"sku":"A1"} already exists.' });
    expect(failure.detail).toBe(E11000);
    expect(JSON.stringify(failure)).not.toMatch(/E11000|shop\.products|sku_1/);
  });

  it('a validator refusal and any other refusal: the code, not the text', () => {
    const validator = toRowFailure(3, { index: 0, code: 121, message: 'Document failed validation: collection shop.x' });
    expect(validator.message).toBe("The collection's validator rejected the document (code 121).");
    const other = toRowFailure(4, { index: 0, code: 2, message: 'bad thing in shop.products on host db-7' });
    expect(JSON.stringify([validator, other])).not.toMatch(/shop|db-7/);
    expect(other.detail).toMatch(/db-7/);
  });
});
