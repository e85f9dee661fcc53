import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../src/args.js';
import { formatDuration, formatProgressLine } from '../src/progress.js';
import type { IngestSnapshot } from '@anti-oom/core';

const base = ['import', 'in.csv', '--db', 'shop', '--collection', 'products'];

describe('parseCommand', () => {
  it('reads every option of anti-oom import', () => {
    const cmd = parseCommand(
      [...base, '--mode', 'upsert', '--key', 'sku, region', '--delimiter', 'tab', '-f', 'sku,region,price', '--drop', '--engine', 'fast', '--encoding', 'auto', '--types', 'price:number,qty:int', '--batch-size', '500', '-j', '4', '--max-failures', '0', '--failures-out', 'bad.csv', '--json', '--restart', '--create-index', '--stop-timeout', '3'],
      {},
    );
    expect(cmd).toEqual({
      kind: 'import',
      input: 'in.csv',
      uri: 'mongodb://127.0.0.1:27017',
      db: 'shop',
      collection: 'products',
      mode: 'upsert',
      key: ['sku', 'region'],
      delimiter: '\t',
      encoding: 'auto',
      types: { price: 'number', qty: 'int' },
      fields: ['sku', 'region', 'price'],
      drop: true,
      createIndex: true,
      stopTimeoutSeconds: 3,
      engine: 'fast',
      batchSize: 500,
      concurrency: 4,
      maxFailures: 0,
      failuresOut: 'bad.csv',
      dryRun: false,
      json: true,
      resume: true,
      restart: true,
    });
  });

  it('--resume alone continues; --restart starts over and implies --resume', () => {
    expect(parseCommand([...base, '--resume'])).toMatchObject({ resume: true, restart: false });
    expect(parseCommand([...base, '--restart'])).toMatchObject({ resume: true, restart: true });
    expect(parseCommand(base)).toMatchObject({ resume: false, restart: false });
  });

  it('takes the URI from --uri, else MONGODB_URI', () => {
    expect(parseCommand(base, { MONGODB_URI: 'mongodb://db:1' })).toMatchObject({ uri: 'mongodb://db:1' });
    expect(parseCommand([...base, '--uri', 'mongodb://x:2'], { MONGODB_URI: 'mongodb://db:1' })).toMatchObject({ uri: 'mongodb://x:2' });
  });

  it('mongoimport\'s short flags mean the same: -d database, -c collection, -f fields, -j workers', () => {
    expect(parseCommand(['import', 'x.csv', '-d', 'shop', '-c', 'products', '-f', 'a,b', '-j', '4'])).toMatchObject({ db: 'shop', collection: 'products', fields: ['a', 'b'], concurrency: 4 });
  });

  it('--stop-timeout defaults to 10 seconds and takes 0', () => {
    expect(parseCommand(base)).toMatchObject({ stopTimeoutSeconds: 10, createIndex: false });
    expect(parseCommand([...base, '--stop-timeout', '0'])).toMatchObject({ stopTimeoutSeconds: 0 });
    expect(() => parseCommand([...base, '--stop-timeout', '-1'])).toThrow(UsageError);
  });

  it('a dry run needs no database or collection', () => {
    expect(parseCommand(['import', '-', '--dry-run'])).toMatchObject({ kind: 'import', input: '-', dryRun: true });
  });

  it('help and version', () => {
    expect(parseCommand([])).toEqual({ kind: 'usage' });
    expect(parseCommand(['import', '--help'])).toEqual({ kind: 'help' });
    expect(parseCommand(['--version'])).toEqual({ kind: 'version' });
  });

  it.each([
    [['export', 'x'], /Unknown command "export"/],
    [['import', '--db', 'a', '--collection', 'b'], /Name the CSV file/],
    [['import', 'a.csv', 'b.csv', '--db', 'a', '--collection', 'b'], /One input at a time/],
    [['import', 'a.csv', '--collection', 'b'], /--db is required/],
    [['import', 'a.csv', '--db', 'a'], /--collection is required/],
    [[...base, '--mode', 'replace'], /--mode must be one of insert, upsert, merge/],
    [[...base, '--mode', 'merge'], /--mode merge needs --key/],
    [[...base, '--types', 'price:money'], /--types takes column:type pairs/],
    [[...base, '--types', 'price'], /--types takes column:type pairs/],
    [[...base, '--key', 'a,,b'], /--key takes comma-separated names/],
    [[...base, '--batch-size', '0'], /--batch-size takes a whole number >= 1/],
    [[...base, '--concurrency', '2.5'], /--concurrency takes a whole number >= 1/],
    [[...base, '--max-failures=-1'], /--max-failures takes a whole number >= 0/],
    [[...base, '--concurrency', 'Infinity'], /--concurrency takes a whole number >= 1/],
    [[...base, '--batch-size', '1e3'], /--batch-size takes a whole number >= 1/],
    [[...base, '--frobnicate'], /Unknown option '--frobnicate'/],
    [[...base, '--engine', 'turbo'], /--engine must be csv-parse or fast/],
    [[...base, '--resume', '--dry-run'], /nothing to resume/],
    [[...base, '--resume', '--drop'], /--restart --drop/],
  ])('refuses %j with a message that says what to do', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});

describe('the progress line', () => {
  const snapshot = { rowsPerSecond: 23456.4, rowsWritten: 1_234_000, rowsFailed: 12, heapUsedBytes: 45 * 1048576, elapsedMs: 10_000 } as IngestSnapshot;

  it('shows percent of settled bytes, time left from the settled-byte rate, rows/s, counts and heap', () => {
    expect(formatProgressLine(snapshot, { bytesDone: 250, size: 1000 })).toBe(' 25.0%  ETA 30s  23,456 rows/s  written 1,234,000  failed 12  heap 45 MB');
  });

  it('a resumed run: the percentage counts from the file start, the rate only this run', () => {
    // 500 bytes were done before; this run settled 100 more in 10 s: 400 left take 40 s.
    expect(formatProgressLine(snapshot, { bytesDone: 600, startBytes: 500, size: 1000 })).toBe(' 60.0%  ETA 40s  23,456 rows/s  written 1,234,000  failed 12  heap 45 MB');
  });

  it('shows megabytes done when the size is unknown (stdin), read for gzip', () => {
    expect(formatProgressLine(snapshot, { bytesDone: 5 * 1048576, size: undefined })).toBe('5.0 MB done  23,456 rows/s  written 1,234,000  failed 12  heap 45 MB');
    expect(formatProgressLine(snapshot, { bytesDone: 5 * 1048576, size: undefined, compressed: true })).toBe('5.0 MB read  23,456 rows/s  written 1,234,000  failed 12  heap 45 MB');
  });

  it('formats durations', () => {
    expect([formatDuration(0.4), formatDuration(59), formatDuration(83), formatDuration(4000), formatDuration(Infinity)]).toEqual(['0s', '59s', '1m23s', '1h06m', '?']);
  });
});
