import type { BatchWriter, IngestPipeline } from '@anti-oom/core';

/**
 * A test hook, not a feature: `ANTI_OOM_TEST_CRASH` makes the CLI kill itself with SIGKILL at a
 * chosen moment, so the kill-and-resume tests can hit the moments that matter exactly:
 * - `batch:N`      while this run's batch N (from 0) is being written (mid-batch);
 * - `rows:N`       right after the acknowledgement that brings rowsWritten to N or more, before
 *                  its checkpoint is stored;
 * - `checkpoint:N` right after this run's N-th checkpoint (from 1) is stored.
 * @internal
 */
export function crashHook(env: Readonly<Record<string, string | undefined>>): { wrap(writer: BatchWriter): BatchWriter; watch(pipeline: IngestPipeline): void } | undefined {
  const spec = env['ANTI_OOM_TEST_CRASH'];
  const m = spec === undefined ? null : /^(batch|rows|checkpoint):(\d+)$/.exec(spec);
  if (m === null) return undefined;
  const kind = m[1];
  const n = Number(m[2]);
  const die = (): void => void process.kill(process.pid, 'SIGKILL');
  return {
    wrap(writer) {
      if (kind !== 'batch') return writer;
      return {
        ...writer,
        write(batch, attempt) {
          const written = writer.write(batch, attempt);
          // The write is on the wire; die before its acknowledgement is read.
          if (batch.seq === n) setImmediate(die);
          return written;
        },
      };
    },
    watch(pipeline) {
      let checkpoints = 0;
      if (kind === 'rows') pipeline.on('progress', (s) => s.state === 'running' && s.rowsWritten >= n && die());
      if (kind === 'checkpoint') pipeline.on('checkpoint', () => ++checkpoints === n && die());
    },
  };
}
