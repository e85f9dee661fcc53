/**
 * Which ranges handed to workers are settled in full, for `bytesAcknowledged`: the source offset
 * past the last range whose rows, and every earlier range's, are all written, failed or skipped.
 * Rows are matched to their range by line (ranges cover consecutive lines). Pure; no threads.
 * @internal
 */
export class RangeLedger {
  readonly #open: { line: number; end: number; rows: number | undefined; settled: number }[] = [];
  /** Offset past the last range settled along with all before it. */
  frontier: number;

  constructor(start: number) {
    this.frontier = start;
  }

  /** A range handed out: its first line and the source offset just past it. */
  add(line: number, end: number): void {
    this.#open.push({ line, end, rows: undefined, settled: 0 });
  }

  /** The range starting on `line` holds `rows` rows. */
  parsed(line: number, rows: number): void {
    const r = this.#find(line);
    if (r !== undefined) r.rows = rows;
    this.#advance();
  }

  /** `rows` rows (one by default) of the range holding `line` are settled. */
  settle(line: number, rows = 1): void {
    const r = this.#find(line);
    if (r !== undefined) r.settled += rows;
  }

  /** After a group of `settle` calls: moves the frontier; returns whether it moved. */
  advance(): boolean {
    return this.#advance();
  }

  #advance(): boolean {
    const open = this.#open;
    let moved = false;
    while (open.length > 0 && open[0]!.rows !== undefined && open[0]!.settled >= open[0]!.rows) {
      this.frontier = open.shift()!.end;
      moved = true;
    }
    return moved;
  }

  #find(line: number): { line: number; end: number; rows: number | undefined; settled: number } | undefined {
    const open = this.#open;
    let lo = 0;
    let hi = open.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (open[mid]!.line <= line) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : open[found];
  }
}
