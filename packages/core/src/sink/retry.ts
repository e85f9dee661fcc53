import { invalidOption } from '../errors.js';
import { numberOption } from '../options/number-option.js';

/** How the bulk sink retries a batch after a transient error. */
export interface RetryOptions {
  /**
   * Retries per batch after the first attempt.
   * @defaultValue `8`
   */
  retries?: number;
  /**
   * Delay before the first retry, doubled each time, with jitter.
   * @defaultValue `100`
   */
  minDelayMs?: number;
  /**
   * Longest delay between two attempts.
   * @defaultValue `5000`
   */
  maxDelayMs?: number;
  /**
   * Longest time spent on one batch, attempts and delays included, before giving up.
   * @defaultValue `60000`
   */
  maxElapsedMs?: number;
}

/** @internal */
export type NormalizedRetryOptions = Required<RetryOptions>;

/** @internal */
export function normalizeRetryOptions(options: RetryOptions = {}): NormalizedRetryOptions {
  const check = (name: keyof RetryOptions, fallback: number): number => {
    return numberOption(`retry.${name}`, options[name], fallback, { integer: name === 'retries' });
  };
  const normalized = {
    retries: check('retries', 8),
    minDelayMs: check('minDelayMs', 100),
    maxDelayMs: check('maxDelayMs', 5000),
    maxElapsedMs: check('maxElapsedMs', 60_000),
  };
  if (normalized.maxDelayMs < normalized.minDelayMs) throw invalidOption('retry.maxDelayMs', '>= retry.minDelayMs', normalized.maxDelayMs);
  return normalized;
}
