import { closeSync, openSync, writeSync } from 'node:fs';
import type { RowFailure, RowFailureValues } from '@anti-oom/core';
import { stringify } from 'csv-stringify/sync';

/** Columns every failures file starts with; the input's own columns follow. */
export const FAILURE_COLUMNS = ['line', 'code', 'column', 'message'] as const;

/** Written in one system call once this much is buffered: memory stays flat however many rows fail. */
const FLUSH_BYTES = 64 * 1024;

/**
 * Every failed row as CSV: where and why it failed, then its values under the input's column
 * names, so the file can be fixed and imported again. Writes are synchronous and buffered, so a
 * burst of failures cannot pile up in memory behind a slow disk.
 */
export class FailuresFile {
  readonly #fd: number;
  #columns: readonly string[] | undefined;
  #buffer = '';
  #rows = 0;

  /** Creates (or truncates) the file now, so a path that cannot be written fails before the import. */
  constructor(readonly path: string) {
    this.#fd = openSync(path, 'w');
  }

  /** Rows written so far. */
  get rows(): number {
    return this.#rows;
  }

  /** The input's header; call before the first `add`. */
  setColumns(columns: readonly string[]): void {
    if (this.#columns !== undefined) return;
    this.#columns = columns;
    this.#write([...FAILURE_COLUMNS, ...columns]);
  }

  add(failure: RowFailure, values: RowFailureValues | undefined): void {
    if (this.#columns === undefined) this.setColumns([]);
    const cells: string[] = [String(failure.line), failure.code, failure.column ?? '', failure.message];
    if (Array.isArray(values)) {
      // A record whose field count did not match the header: its fields in order, surplus ones too.
      for (const v of values as readonly string[]) cells.push(v);
    } else if (values !== undefined) {
      const row = values as Readonly<Record<string, unknown>>;
      for (const column of this.#columns!) cells.push(cell(row[column]));
    }
    this.#rows++;
    this.#write(cells);
  }

  /** Flushes and closes the file. */
  close(): void {
    if (this.#columns === undefined) this.setColumns([]);
    this.#flush();
    closeSync(this.#fd);
  }

  #write(cells: string[]): void {
    this.#buffer += stringify([cells], { escape_formulas: true });
    if (this.#buffer.length >= FLUSH_BYTES) this.#flush();
  }

  #flush(): void {
    if (this.#buffer.length > 0) writeSync(this.#fd, this.#buffer);
    this.#buffer = '';
  }
}

/** A value as text: typed values (numbers, dates, ids, json) back to how a CSV would hold them. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    const hex = (value as { toHexString?: () => string }).toHexString;
    return typeof hex === 'function' ? hex.call(value) : JSON.stringify(value);
  }
  return String(value);
}
