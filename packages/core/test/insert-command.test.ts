import { describe, expect, it } from 'vitest';
import { WriteConcern } from 'mongodb';
import { commandWriteConcern } from '../src/mongo/insert-command.js';

describe('the insert command', () => {
  it("carries the write concern that applies in the server's field names", () => {
    expect(commandWriteConcern(undefined)).toBeUndefined();
    expect(commandWriteConcern({})).toBeUndefined();
    expect(commandWriteConcern({ w: 'majority' })).toEqual({ w: 'majority' });
    expect(commandWriteConcern(new WriteConcern(2, 1000, true))).toEqual({ w: 2, j: true, wtimeout: 1000 });
    expect(commandWriteConcern({ w: 0, journal: false })).toEqual({ w: 0, j: false });
    expect(commandWriteConcern({ fsync: 1, wtimeout: 50 })).toEqual({ j: true, wtimeout: 50 });
  });
});
