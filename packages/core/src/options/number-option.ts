import { invalidOption } from '../errors.js';

/** What a numeric option accepts. @internal */
export interface NumberRule {
  /** Least value allowed. @defaultValue `0` */
  min?: number;
  /** When true, `min` itself is refused (a timer of 0 ms, a ratio of 0). */
  exclusiveMin?: boolean;
  /** Greatest finite value allowed. */
  max?: number;
  /** Whole numbers only (counts, bytes). */
  integer?: boolean;
  /**
   * `Infinity` means "no limit" for this option, and the code using it handles that. Without it,
   * `Infinity` is refused: Node turns an infinite timer delay into 1 ms.
   */
  unlimited?: boolean;
}

function describe(rule: NumberRule): string {
  const min = rule.min ?? 0;
  const kind = rule.integer ? 'a whole number' : 'a finite number';
  const lower = rule.exclusiveMin ? `> ${min}` : `>= ${min}`;
  const upper = rule.max === undefined ? '' : ` and <= ${rule.max}`;
  return `${kind} ${lower}${upper}${rule.unlimited ? ', or Infinity for no limit' : ''}`;
}

/**
 * The one check of every numeric option in every package: finite (unless the option documents
 * `Infinity` as "no limit"), whole where it must be, in range. Returns `fallback` for `undefined`
 * and throws `E_OPTIONS` naming the option and the value otherwise.
 * @internal Shared with the adapter packages and the CLI.
 */
export function numberOption(name: string, value: unknown, fallback: number, rule: NumberRule = {}): number {
  if (value === undefined) return fallback;
  const min = rule.min ?? 0;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (value === Infinity ? rule.unlimited === true : Number.isFinite(value) && (!rule.integer || Number.isSafeInteger(value)) && (rule.max === undefined || value <= rule.max)) &&
    (rule.exclusiveMin ? value > min : value >= min);
  if (!ok) throw invalidOption(name, describe(rule), value);
  return value;
}
