import { describe, expect, it } from 'vitest';
import { WriteConcern } from 'mongodb';
import { isTransientError } from '../src/index.js';
import { commandWriteConcern, WriteConcernFailedError } from '../src/mongo/insert-command.js';

describe('the insert command', () => {
  it("carries the sink's write concern field by field over the collection's, in the server's field names", () => {
    expect(commandWriteConcern(undefined, undefined)).toBeUndefined();
    expect(commandWriteConcern({ w: 'majority' }, undefined)).toEqual({ w: 'majority' });
    expect(commandWriteConcern(undefined, new WriteConcern(2, 1000, true))).toEqual({ w: 2, j: true, wtimeout: 1000 });
    expect(commandWriteConcern({ wtimeoutMS: 5000 }, new WriteConcern(1))).toEqual({ w: 1, wtimeout: 5000 });
    expect(commandWriteConcern({ w: 0, journal: false }, new WriteConcern('majority', undefined, true))).toEqual({ w: 0, j: false });
    expect(commandWriteConcern({ fsync: 1 }, undefined)).toEqual({ j: true });
  });

  it('a write concern the server could not meet is retried when it is a timeout or a shutdown, and ends the import otherwise', () => {
    expect(isTransientError(new WriteConcernFailedError({ code: 64, errmsg: 'waiting for replication timed out' }, []))).toBe(true);
    expect(isTransientError(new WriteConcernFailedError({ code: 91, errmsg: 'shutting down' }, []))).toBe(true);
    expect(isTransientError(new WriteConcernFailedError({ code: 100, errmsg: 'unsatisfiable' }, []))).toBe(false);
    expect(isTransientError(new WriteConcernFailedError({ code: 100 }, ['RetryableWriteError']))).toBe(true);
  });
});
