/**
 * Child process of streaming.test.ts: replays the files named on the command line and prints one
 * JSON line with the count, the stats and the peak heap seen. Run with a small --max-old-space-size,
 * so a reader that held a file in memory would die here instead of passing.
 */
import { ReplaySource } from '../../../platform/replay/source';

async function main(): Promise<void> {
  const [format, ...files] = process.argv.slice(2);
  const source = new ReplaySource(files, { format: format as 'auto' });
  let events = 0;
  let last = -Infinity;
  let ordered = true;
  let peakHeap = 0;
  await source.start((e) => {
    events += 1;
    // Records come out in file order: the generator writes them with rising times.
    const t = Date.parse(e.time);
    if (!(t >= last)) ordered = false;
    last = t;
    if (events % 10000 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  });
  process.stdout.write(`${JSON.stringify({ events, ordered, peakHeapMiB: Math.round(peakHeap / 1048576), stats: source.stats, warnings: source.warnings() })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
