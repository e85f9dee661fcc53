import type { RowFailure, WriteResult } from '../types.js';

/** Counters of an import up to a point in the file; what a checkpoint carries. */
export interface CheckpointCounters {
  rowsRead: number;
  rowsWritten: number;
  rowsFailed: number;
  rowsSkipped: number;
  batchesWritten: number;
  inserted: number;
  upserted: number;
  matched: number;
  modified: number;
}

/** A place in the source where every record before it is settled. */
export interface Frontier {
  /** Source offset just past the last settled record: where reading resumes. */
  offset: number;
  /** Physical line on which the next record starts. */
  line: number;
}

/** @internal */
export function zeroCounters(): CheckpointCounters {
  return { rowsRead: 0, rowsWritten: 0, rowsFailed: 0, rowsSkipped: 0, batchesWritten: 0, inserted: 0, upserted: 0, matched: 0, modified: 0 };
}

/** A row settled before the sink (failed or skipped by the parser or the mapper). */
interface Settled {
  line: number;
  offset: number;
  nextLine: number;
  failure: RowFailure | undefined;
  failed: boolean;
}

/** An acknowledged batch waiting for the batches before it. */
interface Acked {
  result: WriteResult;
  count: number;
  lastLine: number;
  offset: number;
  nextLine: number;
}

/**
 * Where an import is durable: the furthest point in the file before which every record is
 * settled, and the counters of exactly those records. A plain class, no streams.
 *
 * Rows settle in different places and orders: the parser and the mapper fail or skip rows at
 * once (each in file order), the sink acknowledges whole batches, out of order when several are
 * in flight. The frontier moves
 * - past an acknowledged batch once every batch before it is acknowledged (the lowest
 *   unacknowledged batch bounds it), since every row before a batch's last row was either in an
 *   earlier batch or settled before the batch was formed;
 * - past a failed or skipped row when no good record is in flight anywhere, so a stretch of bad
 *   rows cannot pile up waiting for a batch that never comes.
 * Counters at the frontier count only rows before it; rows settled beyond it wait in `#pending`
 * (bounded by how far the parser runs ahead, a few chunks).
 * @internal
 */
export class Ledger {
  readonly #keep: number;
  readonly #counters: CheckpointCounters;
  readonly #failures: RowFailure[];
  /** Failures beyond the frontier that will be kept once it passes them. */
  #pendingKept = 0;
  readonly #pending: Settled[] = [];
  readonly #acked = new Map<number, Acked>();
  #nextSeq = 0;
  /** Good records settled after the parser (batches acknowledged or refused, mapper outcomes). */
  #settledGood = 0;
  #frontier: Frontier;
  #frontierLine = 0;
  #moved = false;

  constructor(start: Frontier, base: CheckpointCounters, failures: readonly RowFailure[], keep: number) {
    this.#frontier = { ...start };
    this.#frontierLine = start.line - 1;
    this.#counters = { ...base };
    this.#failures = [...failures];
    this.#keep = keep;
  }

  get frontier(): Frontier {
    return this.#frontier;
  }

  get counters(): CheckpointCounters {
    return this.#counters;
  }

  get failures(): readonly RowFailure[] {
    return this.#failures;
  }

  /** Rows settled beyond the frontier, waiting for it. @internal For tests. */
  get pendingRows(): number {
    return this.#pending.length;
  }

  /** Whether the frontier moved since the last call. */
  takeMoved(): boolean {
    const moved = this.#moved;
    this.#moved = false;
    return moved;
  }

  /**
   * A row failed or was skipped before the sink. `goodEmitted` is how many good records the
   * parser has handed on so far; `mapper` says the row was one of them.
   */
  settle(line: number, offset: number | undefined, nextLine: number | undefined, failure: RowFailure | undefined, goodEmitted: number, mapper: boolean): void {
    if (mapper) this.#settledGood++;
    // Without a source offset (a charset of no fixed width) the frontier never moves, so a row
    // kept here would be kept for the whole import: memory would grow with the failed rows.
    if (!Number.isFinite(offset) || !Number.isFinite(nextLine)) return;
    const failed = failure !== undefined;
    let kept: RowFailure | undefined;
    if (failure !== undefined && this.#failures.length + this.#pendingKept < this.#keep) {
      kept = failure;
      this.#pendingKept++;
    }
    this.#pending.push({ line, offset: offset!, nextLine: nextLine!, failure: kept, failed });
    if (goodEmitted === this.#settledGood) this.#advance(line, offset!, nextLine!);
  }

  /** A batch was acknowledged. */
  acknowledged(seq: number, result: WriteResult, count: number, lastLine: number, offset: number | undefined, nextLine: number | undefined): void {
    this.#settledGood += count;
    this.#acked.set(seq, { result, count, lastLine, offset: offset ?? NaN, nextLine: nextLine ?? NaN });
    let last: Acked | undefined;
    for (let a = this.#acked.get(this.#nextSeq); a !== undefined; a = this.#acked.get(this.#nextSeq)) {
      this.#acked.delete(this.#nextSeq++);
      const c = this.#counters;
      const r = a.result;
      c.rowsRead += a.count;
      c.rowsWritten += r.written;
      c.rowsFailed += r.failures.length;
      c.batchesWritten++;
      c.inserted += r.inserted;
      c.upserted += r.upserted;
      c.matched += r.matched;
      c.modified += r.modified;
      for (const f of r.failures) if (this.#failures.length < this.#keep) this.#failures.push(f);
      last = a;
    }
    if (last !== undefined && Number.isFinite(last.offset) && Number.isFinite(last.nextLine)) this.#advance(last.lastLine, last.offset, last.nextLine);
  }

  /** A batch was refused for good: its rows are not settled for resuming, but no longer in flight. */
  refused(count: number): void {
    this.#settledGood += count;
  }

  #advance(line: number, offset: number, nextLine: number): void {
    if (line <= this.#frontierLine || offset < this.#frontier.offset) return;
    this.#frontierLine = line;
    this.#frontier = { offset, line: nextLine };
    this.#moved = true;
    const pending = this.#pending;
    let kept = 0;
    for (let i = 0; i < pending.length; ) {
      const p = pending[i]!;
      if (p.line > line) {
        i++;
        continue;
      }
      const c = this.#counters;
      c.rowsRead++;
      if (p.failed) c.rowsFailed++;
      else c.rowsSkipped++;
      if (p.failure !== undefined) {
        this.#failures.push(p.failure);
        kept++;
      }
      // Swap-remove: order inside #pending does not matter, only lines do.
      pending[i] = pending[pending.length - 1]!;
      pending.pop();
    }
    this.#pendingKept -= kept;
  }
}
