import { describe, expect, it } from 'vitest';
import { tuneHeap, YOUNG_GENERATION_CAP_BYTES } from '../src/heap.js';

describe('the executable sizes its own heap', () => {
  const gcOnce = async (): Promise<void> => {
    global.gc!();
    // GC entries reach observers asynchronously.
    await new Promise((r) => setTimeout(r, 50));
  };

  it('caps old-generation headroom at once, and young-generation growth once it reaches the cap', async () => {
    const set: string[] = [];
    let young = YOUNG_GENERATION_CAP_BYTES / 4;
    const applied = tuneHeap([], '', (flag) => set.push(flag), () => young);
    expect(applied).toEqual(['--heap-growing-percent=50', '--semi-space-growth-factor=1']);
    await gcOnce();
    expect(set).toEqual(['--heap-growing-percent=50']);
    young = YOUNG_GENERATION_CAP_BYTES;
    await gcOnce();
    await gcOnce();
    expect(set).toEqual(['--heap-growing-percent=50', '--semi-space-growth-factor=1']);
  });

  it("leaves alone what the user set, on node's command line or in NODE_OPTIONS, in either spelling", () => {
    const run = (execArgv: string[], nodeOptions = ''): string[] => tuneHeap(execArgv, nodeOptions, () => {}, () => 0);
    expect(run(['--max-semi-space-size=16'])).toEqual(['--heap-growing-percent=50']);
    expect(run(['--heap_growing_percent=100'])).toEqual(['--semi-space-growth-factor=1']);
    expect(run([], '--max_semi_space_size=4')).toEqual(['--heap-growing-percent=50']);
    expect(run(['--semi_space_growth_factor=2', '--heap-growing-percent=20'])).toEqual([]);
    // Unrelated flags change nothing.
    expect(run(['--enable-source-maps'], '--max-old-space-size=4096')).toEqual(['--heap-growing-percent=50', '--semi-space-growth-factor=1']);
  });
});
