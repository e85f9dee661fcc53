import type { IngestReport, IngestSnapshot } from '@anti-oom/core';

/** Where the input stands, beside the pipeline's counters. */
export interface InputPosition {
  /**
   * Bytes of the input settled: parsed, and acknowledged by the database or failed
   * (`bytesAcknowledged`); for gzip, the compressed bytes taken, the only figure comparable to its size.
   */
  bytesDone: number;
  /** Where this run started in the input (a resumed import), so the rate counts this run only. */
  startBytes?: number;
  /** Input size when known (a file, not stdin). */
  size: number | undefined;
  /** `bytesDone` counts compressed bytes taken (gzip input). */
  compressed?: boolean;
}

const MB = 1024 * 1024;
const number = new Intl.NumberFormat('en-US');

/** `83s` → `1m23s`; `4000s` → `1h06m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The live line on a terminal: percent of the input, rows/s, time left, written, failed, heap.
 * The percentage is of bytes settled (acknowledged by the database, or failed), not bytes read,
 * which run ahead by whatever the stages and the socket hold; time left is the rest of the file
 * at this run's settled-byte rate.
 */
export function formatProgressLine(s: IngestSnapshot, at: InputPosition): string {
  const parts: string[] = [];
  if (at.size !== undefined && at.size > 0) {
    const fraction = Math.min(1, at.bytesDone / at.size);
    parts.push(`${(fraction * 100).toFixed(1).padStart(5)}%`);
    const seconds = s.elapsedMs / 1000;
    const done = at.bytesDone - (at.startBytes ?? 0);
    if (done > 0 && seconds > 0) parts.push(`ETA ${formatDuration(((at.size - at.bytesDone) * seconds) / done)}`);
  } else {
    parts.push(`${(at.bytesDone / MB).toFixed(1)} MB ${at.compressed ? 'read' : 'done'}`);
  }
  parts.push(`${number.format(Math.round(s.rowsPerSecond))} rows/s`);
  parts.push(`written ${number.format(s.rowsWritten)}`);
  parts.push(`failed ${number.format(s.rowsFailed)}`);
  parts.push(`heap ${Math.round(s.heapUsedBytes / MB)} MB`);
  return parts.join('  ');
}

/** The report for a person, after the import. */
export function formatReport(r: IngestReport, options: { dryRun: boolean; failuresOut?: string | undefined; shown?: number }): string {
  const shown = options.shown ?? 10;
  const lines: string[] = [];
  const verb = options.dryRun ? 'would be written' : 'written';
  lines.push(
    `${r.state === 'done' ? 'Done' : r.state === 'aborted' ? 'Aborted' : 'Failed'}: ${number.format(r.rowsRead)} rows read, ` +
      `${number.format(r.rowsWritten)} ${verb}, ${number.format(r.rowsFailed)} failed, ${number.format(r.rowsSkipped)} skipped ` +
      `in ${formatDuration(r.elapsedMs / 1000)} (${number.format(Math.round(r.rowsPerSecond))} rows/s, peak heap ${Math.round(r.peakHeapUsedBytes / MB)} MB, ` +
      `peak RSS ${Math.round(r.peakRssBytes / MB)} MB)`,
  );
  if (!options.dryRun && (r.upserted > 0 || r.matched > 0)) {
    lines.push(`  inserted ${number.format(r.inserted)}, upserted ${number.format(r.upserted)}, matched ${number.format(r.matched)}, modified ${number.format(r.modified)}`);
  }
  if (r.error) lines.push(`Error ${r.error.code}: ${r.error.message}`);
  if (r.rowsFailed > 0) {
    const first = r.failures.slice(0, shown);
    lines.push(`First ${first.length} of ${number.format(r.rowsFailed)} failed rows:`);
    for (const f of first) lines.push(`  line ${f.line}  ${f.code}${f.column ? ` (${f.column})` : ''}  ${f.message}`);
    if (options.failuresOut) lines.push(`Every failed row, with its values: ${options.failuresOut}`);
    else lines.push('Add --failures-out failures.csv to get every failed row with its values.');
  }
  return lines.join('\n') + '\n';
}
