import type { IngestReport } from '../types.js';
import { Accounting } from './accounting.js';

/**
 * The report of an import that ended before reading anything (cancelled or expired while it
 * waited for its upload), built by the same {@link Accounting} as every other report so the two
 * cannot drift.
 * @internal Shared with the HTTP adapter.
 */
export function endedReport(id: string, state: 'aborted' | 'failed', error: { code: string; message: string }): IngestReport {
  const accounting = new Accounting(id, 0);
  accounting.end(state);
  return accounting.report(error);
}
