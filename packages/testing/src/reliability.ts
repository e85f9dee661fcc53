import { TestRunner } from 'vitest';

/** One row of docs/reliability.md, attached to the test that checks it. */
export interface ReliabilityCase {
  /** The table the case belongs in. */
  area: 'fault' | 'abort' | 'input' | 'property' | 'load';
  /** The case, for a reader: the fault injected, the input fed, the load applied. */
  name: string;
  /** What the test asserts. */
  checked: string;
  /** What happened in this run: codes, counts, figures; set once the assertions have passed. */
  outcome?: string;
}

/**
 * Declares the running test as a case of docs/reliability.md; vitest's JSON reporter carries it
 * to `scripts/reliability.mjs`. Call it first and `outcome()` after the last assertion, so a
 * failing test is listed as failed, with its error, instead of vanishing.
 */
export function reliabilityCase(c: Omit<ReliabilityCase, 'outcome'>): { outcome(text: string): void } {
  const test = TestRunner.getCurrentTest();
  if (test === undefined) throw new Error('reliabilityCase() must be called inside a test');
  const meta: ReliabilityCase = { ...c };
  (test.meta as { reliability?: ReliabilityCase }).reliability = meta;
  return {
    outcome(text) {
      meta.outcome = text;
    },
  };
}
