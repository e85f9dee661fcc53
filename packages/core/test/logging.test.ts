// Finding 5 of issue 10: the pipeline logged `err` as a string, which defeats pino's error
// serializer (type, code, stack and cause are lost). It logs the error objects now.
import { describe, expect, it } from 'vitest';
import { createIngestPipeline, type BatchWriter } from '../src/index.js';

describe('pipeline logging', () => {
  it('logs a retried write and a failed import with the error objects as err', async () => {
    const warnings: { err?: unknown }[] = [];
    const infos: { obj: { err?: unknown }; msg?: string }[] = [];
    const logger = { debug() {}, info: (obj: object, msg?: string) => infos.push({ obj, msg }), warn: (obj: object) => warnings.push(obj), error() {} };
    let calls = 0;
    const sink: BatchWriter = {
      async write(batch) {
        if (calls++ === 0) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        return { written: batch.items.length, inserted: batch.items.length, upserted: 0, matched: 0, modified: 0, failures: [] };
      },
    };
    const report = await createIngestPipeline({ sink, logger, ping: false, retry: { minDelayMs: 1, maxDelayMs: 1 } }).run(['a\n1\n']);
    expect(report.state).toBe('done');
    expect(warnings[0]!.err).toBeInstanceOf(Error);
    expect((warnings[0]!.err as { code: string }).code).toBe('ECONNRESET');

    await expect(createIngestPipeline({ sink, logger, ping: false }).run(['$bad\n1\n'])).rejects.toMatchObject({ code: 'E_HEADER_INVALID' });
    const finished = infos.filter((i) => i.msg === 'ingest finished').at(-1)!;
    expect(finished.obj.err).toBeInstanceOf(Error);
    expect(finished.obj.err).toMatchObject({ name: 'IngestError', code: 'E_HEADER_INVALID' });
  });
});
