import { compileTypes, isConversionError, type ColumnType, type ColumnTypes, type Converter } from '../rows/convert.js';

/** Types inference chooses from, most specific first; `json` is never inferred, only asked for. */
export const INFERRED_TYPES = ['boolean', 'int', 'number', 'date', 'objectId'] as const satisfies readonly ColumnType[];

/** A type inference can choose. */
export type InferableType = (typeof INFERRED_TYPES)[number] | 'string';

/** How well one type fits the sampled values of a column. */
export interface TypeFit {
  type: InferableType;
  /** Share (0 to 1) of the column's non-empty sampled values that fit the type. */
  share: number;
  /** Up to {@link MAX_MISFITS} distinct sampled values that do not fit, as read. */
  misfits: string[];
}

/** What inference found for one column. */
export interface InferredColumn {
  /** The column name. */
  name: string;
  /** The most specific type every non-empty sampled value fits; `'string'` when none does. */
  type: InferableType;
  /** Values sampled, empty ones included. */
  sampled: number;
  /** Sampled values that were empty (they become `null` whatever the type). */
  empty: number;
  /** Every type at least one value fits besides `string`, most specific first, with its share. */
  candidates: TypeFit[];
}

/** How many values that do not fit a type are kept as examples. */
export const MAX_MISFITS = 3;

const DIGITS = /^[+-]?\d+$/;
/** A leading zero before another digit: a code (zip, SKU, phone), not a quantity. */
const LEADING_ZERO = /^[+-]?0\d/;
/** Plain decimal notation only: no hex, binary, `Infinity`, or separators of any locale. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** ISO 8601 dates, with an optional time and zone. Other spellings are ambiguous (is 01/02 January or February?). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;
const BOOLEAN_WORD = /^(true|false|yes|no|y|n|t|f)$/i;

/**
 * The stricter rules inference adds in front of each converter. A value fits a type only when it
 * passes both, so whatever inference chooses converts every sampled value the way `types`
 * would; the extra rules only keep inference from choosing a type a person would not.
 */
const GUARDS: Record<(typeof INFERRED_TYPES)[number], (text: string) => boolean> = {
  // 0/1 alone is a number column; it takes a word (yes, true, ...) to make a boolean one.
  boolean: () => true,
  int: (t) => !LEADING_ZERO.test(t),
  // An integer beyond 2^53 would lose digits as a double: an id, kept as text.
  number: (t) => DECIMAL.test(t) && !LEADING_ZERO.test(t) && (!DIGITS.test(t) || Number.isSafeInteger(Number(t))),
  date: (t) => ISO_DATE.test(t),
  // A 24-digit number is a number-like id, not an ObjectId.
  objectId: (t) => !/^\d+$/.test(t),
};

const CONVERTERS: ReadonlyMap<string, Converter> = compileTypes(Object.fromEntries(INFERRED_TYPES.map((t) => [t, t])) as ColumnTypes);

/** True when `text` (non-empty) fits `type`: the same converter `types` uses accepts it, and inference's guard does. */
export function fitsType(text: string, type: InferableType): boolean {
  if (type === 'string') return true;
  const t = text.trim();
  if (!GUARDS[type](t)) return false;
  try {
    CONVERTERS.get(type)!(text);
    return true;
  } catch (err) {
    if (isConversionError(err)) return false;
    throw err;
  }
}

/**
 * Accumulates the sampled values of every column and infers a type per column. Pure: no stream,
 * no I/O; memory is a few counters and at most {@link MAX_MISFITS} examples per column and type.
 * @internal
 */
export class TypeInference {
  readonly #columns: ColumnStats[];

  constructor(columns: readonly string[]) {
    this.#columns = columns.map((name) => new ColumnStats(name));
  }

  /** Adds one row's values (missing columns count as empty). */
  add(row: Readonly<Record<string, unknown>>): void {
    for (const column of this.#columns) column.add(row[column.name]);
  }

  /** What was found so far, per column, in header order. */
  result(): InferredColumn[] {
    return this.#columns.map((c) => c.result());
  }

  /** The inferred `types`, with only the columns that are not strings. */
  types(): ColumnTypes {
    const out: ColumnTypes = {};
    for (const c of this.result()) if (c.type !== 'string') out[c.name] = c.type;
    return out;
  }
}

class ColumnStats {
  sampled = 0;
  empty = 0;
  /** Whether a boolean word (yes, true, ...) was seen, as opposed to only 0/1. */
  booleanWord = false;
  readonly fits = new Map<(typeof INFERRED_TYPES)[number], number>(INFERRED_TYPES.map((t) => [t, 0]));
  readonly misfits = new Map<(typeof INFERRED_TYPES)[number], string[]>(INFERRED_TYPES.map((t) => [t, []]));

  constructor(readonly name: string) {}

  add(value: unknown): void {
    this.sampled++;
    if (typeof value !== 'string' || value === '') {
      this.empty++;
      return;
    }
    if (!this.booleanWord && BOOLEAN_WORD.test(value.trim())) this.booleanWord = true;
    for (const type of INFERRED_TYPES) {
      if (fitsType(value, type)) this.fits.set(type, this.fits.get(type)! + 1);
      else {
        const kept = this.misfits.get(type)!;
        if (kept.length < MAX_MISFITS && !kept.includes(value)) kept.push(value.length > 40 ? `${value.slice(0, 40)}…` : value);
      }
    }
  }

  result(): InferredColumn {
    const values = this.sampled - this.empty;
    const candidates: TypeFit[] = [];
    let type: InferableType = 'string';
    for (const t of INFERRED_TYPES) {
      const fit = this.fits.get(t)!;
      if (fit === 0) continue;
      candidates.push({ type: t, share: fit / values, misfits: [...this.misfits.get(t)!] });
      if (type === 'string' && fit === values && (t !== 'boolean' || this.booleanWord)) type = t;
    }
    return { name: this.name, type, sampled: this.sampled, empty: this.empty, candidates };
  }
}
