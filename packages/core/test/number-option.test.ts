// Finding 8 of issue 10: numeric options were checked in six places with six rules, and Infinity
// reached timers (Node turns it into 1 ms). One helper now checks them all; a test per family.
import { describe, expect, it } from 'vitest';
import { createBatcher, createBulkSink, createIngestPipeline, createMemoryMonitor, createCsvParser, mongoCheckpoints, mongoSink, numberOption, previewCsv } from '../src/index.js';

const sink = { write: async () => ({ written: 0, inserted: 0, upserted: 0, matched: 0, modified: 0, failures: [] }) };
const refused = (fn: () => unknown, option: string, got: string) =>
  expect(fn).toThrow(expect.objectContaining({ code: 'E_OPTIONS', message: expect.stringMatching(new RegExp(`Option "${option.replaceAll('.', '\\.')}" must be .*; got ${got.replaceAll('.', '\\.')}\\.$`)) }));

describe('numberOption', () => {
  it('takes the fallback for undefined and checks finite, whole and range', () => {
    expect(numberOption('x', undefined, 7)).toBe(7);
    expect(numberOption('x', 3, 7, { min: 1, integer: true })).toBe(3);
    expect(() => numberOption('x', Infinity, 7)).toThrow(/Option "x" must be a finite number >= 0; got Infinity/);
    expect(() => numberOption('x', NaN, 7)).toThrow(/got NaN/);
    expect(() => numberOption('x', 1.5, 7, { integer: true })).toThrow(/a whole number/);
    expect(() => numberOption('x', 0, 7, { min: 0, exclusiveMin: true })).toThrow(/> 0/);
    expect(() => numberOption('x', 11, 7, { max: 10 })).toThrow(/<= 10/);
    expect(() => numberOption('x', '5', 7)).toThrow(/got "5"/);
    expect(numberOption('x', Infinity, 7, { unlimited: true })).toBe(Infinity);
  });
});

describe('every numeric option family refuses Infinity where it is not "no limit"', () => {
  it('pipeline: timers (heartbeatMs, memory.intervalMs) and counts', () => {
    refused(() => createIngestPipeline({ sink, heartbeatMs: Infinity }), 'heartbeatMs', 'Infinity');
    refused(() => createIngestPipeline({ sink, memory: { intervalMs: Infinity } }), 'memory.intervalMs', 'Infinity');
    refused(() => createIngestPipeline({ sink, concurrency: Infinity }), 'concurrency', 'Infinity');
    refused(() => createIngestPipeline({ sink, maxFailuresKept: Infinity }), 'maxFailuresKept', 'Infinity');
    // Documented as "no limit", and handled as such.
    expect(() => createIngestPipeline({ sink, maxFailures: Infinity, maxInputBytes: Infinity })).not.toThrow();
  });
  it('retry, batch, csv, bulk sink, memory monitor, mongo sink', () => {
    refused(() => createIngestPipeline({ sink, retry: { maxDelayMs: Infinity } }), 'retry.maxDelayMs', 'Infinity');
    refused(() => createIngestPipeline({ sink, retry: { retries: 1.5 } }), 'retry.retries', '1.5');
    refused(() => createBatcher({ maxWaitMs: Infinity }), 'batch.maxWaitMs', 'Infinity');
    refused(() => createCsvParser({ maxRecordBytes: Infinity }), 'csv.maxRecordBytes', 'Infinity');
    refused(() => createBulkSink(sink, { concurrency: Infinity }), 'concurrency', 'Infinity');
    refused(() => createMemoryMonitor({ intervalMs: Infinity }), 'memory.intervalMs', 'Infinity');
    refused(() => mongoSink({ collectionName: 'c', db: {} } as never, { pingTimeoutMs: Infinity }), 'pingTimeoutMs', 'Infinity');
  });
  it('resume, checkpoints and preview', async () => {
    const store = { load: async () => undefined, save: async () => {}, clear: async () => {} };
    refused(() => createIngestPipeline({ sink, resume: { store, key: 'k', intervalMs: Infinity } }), 'resume.intervalMs', 'Infinity');
    refused(() => mongoCheckpoints({} as never, { completedTtlSeconds: 1.5 }), 'completedTtlSeconds', '1.5');
    await expect(previewCsv(['a\n'], { maxBytes: Infinity })).rejects.toMatchObject({ code: 'E_OPTIONS', message: expect.stringContaining('"maxBytes"') });
    await expect(previewCsv(['a\n'], { maxRows: 0 })).rejects.toMatchObject({ code: 'E_OPTIONS', message: expect.stringContaining('"maxRows"') });
  });
});
