// Preloaded by scripts/rss-compare.mjs --breakdown (node --import): samples the process every 50 ms
// and, at exit, prints what made up its largest RSS sample, on stderr as `RSS-BREAKDOWN {json}` (MB).
import { getHeapSpaceStatistics } from 'node:v8';

let peak;
const sample = () => {
  const m = process.memoryUsage();
  if (peak !== undefined && m.rss <= peak.rss) return;
  const space = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
  const young = (space.new_space ?? 0) + (space.new_large_object_space ?? 0);
  const old = (space.old_space ?? 0) + (space.large_object_space ?? 0);
  const other = m.heapTotal - young - old;
  peak = { rss: m.rss, young, old, otherHeap: other, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
};
setInterval(sample, 50).unref();
process.on('exit', () => {
  sample();
  const mb = Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round((v / 1048576) * 10) / 10]));
  process.stderr.write(`RSS-BREAKDOWN ${JSON.stringify(mb)}\n`);
});
