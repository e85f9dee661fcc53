import type { IngestReport, IngestSnapshot } from '@anti-oom/core';

/**
 * The last attempt's report, with the counters of the furthest attempt when that one got
 * further: an attempt that failed before it could load its checkpoint (the database down) counts
 * nothing, yet the rows of the earlier attempts are written.
 * @internal
 */
export function withCountersOf(report: IngestReport, snapshot: IngestSnapshot | undefined): IngestReport {
  if (!snapshot || snapshot.rowsRead <= report.rowsRead) return report;
  const { rowsWritten, rowsFailed, rowsSkipped, batchesWritten, inserted, upserted, matched, modified, bytesAcknowledged, durable } = snapshot;
  // Settled rows only: a snapshot taken mid-batch counts rows read that were not yet settled.
  const rowsRead = rowsWritten + rowsFailed + rowsSkipped;
  return { ...report, rowsRead, rowsWritten, rowsFailed, rowsSkipped, batchesWritten, inserted, upserted, matched, modified, bytesAcknowledged, ...(durable ? { durable } : {}) };
}

