/** Timers the process holds: every import must clear its own when it ends. */
const activeTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/**
 * Notes the active timers and the heap (after a GC, with --expose-gc) now; `left()` says, after
 * the work and a short settle, how many timers are active against how many there were, and how
 * much the heap grew, so a test can hold both to baseline.
 */
export function leakBaseline(): { left(): Promise<{ timers: number; timersBefore: number; heapGrowth: number }> } {
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const timersBefore = activeTimers();
  return {
    async left() {
      await new Promise((r) => setTimeout(r, 100));
      global.gc?.();
      return { timers: activeTimers(), timersBefore, heapGrowth: process.memoryUsage().heapUsed - heapBefore };
    },
  };
}
