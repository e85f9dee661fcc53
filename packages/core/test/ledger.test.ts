// The ledger is a plain class: where an import is durable, fed by plain calls.
import { describe, expect, it } from 'vitest';
import { Ledger, zeroCounters } from '../src/resume/ledger.js';
import { RowFailureCode, type RowFailure, type WriteResult } from '../src/types.js';

const ok = (written: number): WriteResult => ({ written, inserted: written, upserted: 0, matched: 0, modified: 0, failures: [] });
const failure = (line: number): RowFailure => ({ line, code: RowFailureCode.E_TYPE, message: 'bad' });

describe('Ledger', () => {
  it('moves past an acknowledged batch only once every batch before it is acknowledged', () => {
    const l = new Ledger({ offset: 0, line: 2 }, zeroCounters(), [], 10);
    l.acknowledged(1, ok(2), 2, 5, 50, 6);
    expect(l.frontier).toEqual({ offset: 0, line: 2 });
    l.acknowledged(0, ok(2), 2, 3, 30, 4);
    expect(l.frontier).toEqual({ offset: 50, line: 6 });
    expect(l.counters).toMatchObject({ rowsRead: 4, rowsWritten: 4, batchesWritten: 2 });
  });

  it('moves past failed rows when no good record is in flight, and counts them there', () => {
    const l = new Ledger({ offset: 0, line: 2 }, zeroCounters(), [], 10);
    l.settle(2, 10, 3, failure(2), 0, false);
    l.settle(3, 20, 4, undefined, 0, false);
    expect(l.frontier).toEqual({ offset: 20, line: 4 });
    expect(l.counters).toMatchObject({ rowsRead: 2, rowsFailed: 1, rowsSkipped: 1 });
    expect(l.failures).toEqual([failure(2)]);
    expect(l.pendingRows).toBe(0);
  });

  it('keeps failed rows beyond the frontier only while a good record is in flight', () => {
    const l = new Ledger({ offset: 0, line: 2 }, zeroCounters(), [], 10);
    // One good record handed on (line 2, in a batch not yet acknowledged), then a failure.
    l.settle(3, 20, 4, failure(3), 1, false);
    expect(l.pendingRows).toBe(1);
    l.acknowledged(0, ok(1), 1, 2, 10, 3);
    l.settle(4, 30, 5, failure(4), 1, false);
    expect(l.frontier).toEqual({ offset: 30, line: 5 });
    expect(l.pendingRows).toBe(0);
    expect(l.counters).toMatchObject({ rowsRead: 3, rowsWritten: 1, rowsFailed: 2 });
  });

  it('keeps nothing for a source without offsets (a charset of no fixed width), however many rows fail', () => {
    const l = new Ledger({ offset: 0, line: 2 }, zeroCounters(), [], 10);
    for (let line = 2; line < 10_002; line++) l.settle(line, NaN, NaN, failure(line), 0, false);
    expect(l.pendingRows).toBe(0);
    expect(l.frontier).toEqual({ offset: 0, line: 2 });
  });
});
