import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * The young generation stops growing once it is this large (two semi-spaces of 8 MiB), half of
 * V8's 32 MiB on 64-bit.
 * @internal
 */
export const YOUNG_GENERATION_CAP_BYTES = 16 * 1024 * 1024;

/**
 * V8 heap settings the `anti-oom` executable sets for its own process, never the library: a
 * library does not change its host's heap.
 *
 * Why: an import's live heap is small and bounded (the rows of a few batches), but with a database
 * slower than the file those rows live long enough to survive young-generation collections, so
 * V8's defaults, sized for applications whose survivors are worth keeping, grow the young
 * generation to 32 MiB and let the old one reach up to four times what survived the last full
 * collection before collecting again. That is most of the process's memory, and none of it is data.
 *
 * - `--heap-growing-percent=50`: the old generation is collected once it is 1.5× what survived;
 * - `--semi-space-growth-factor=1`, set once the young generation reaches
 *   {@link YOUNG_GENERATION_CAP_BYTES}: it stops growing there. (The size itself can only be given
 *   when node starts; the growth factor is read at every collection, so it can be set now. Capping
 *   it at its initial 2 MiB instead cost 40% more CPU per row: too many rows promoted.)
 *
 * Measured on the 10-column file into FerretDB: ~50 MB less peak RSS, CPU per row within the
 * noise (docs/memory.md). A setting given on node's command line (or, for the semi-space, in
 * `NODE_OPTIONS`) wins, in either spelling; giving any semi-space size leaves the young generation alone.
 * @internal
 */
export function tuneHeap(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  set: (flag: string) => void = setFlagsFromString,
  youngGenerationBytes: () => number = youngGenerationSize,
): string[] {
  const given = `${execArgv.join(' ')} ${nodeOptions}`;
  const isGiven = (...names: string[]): boolean => names.some((name) => given.includes(name) || given.includes(name.replaceAll('-', '_')));
  const applied: string[] = [];
  if (!isGiven('heap-growing-percent')) {
    set('--heap-growing-percent=50');
    applied.push('--heap-growing-percent=50');
  }
  if (!isGiven('semi-space')) {
    applied.push('--semi-space-growth-factor=1');
    // Checked after each collection (the only moment it can grow), until it has reached the cap.
    const observer = new PerformanceObserver(() => {
      if (youngGenerationBytes() < YOUNG_GENERATION_CAP_BYTES) return;
      set('--semi-space-growth-factor=1');
      observer.disconnect();
    });
    observer.observe({ entryTypes: ['gc'] });
  }
  return applied;
}

function youngGenerationSize(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}
