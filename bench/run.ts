/**
 * npm run bench: every benchmark, each reporting ratios against tools measured in the same run.
 * Numbers depend on the machine; ratios are what to compare between runs.
 */
import { benchScan } from './scan';

async function main(): Promise<void> {
  console.log('== scan (procfs adapter) vs ss, lsof, systeminformation');
  console.log('ratio = other tool time / brokerwatch time (above 1: brokerwatch is faster)');
  console.table(await benchScan());
}

main().catch((err: Error) => {
  console.error(err);
  process.exitCode = 1;
});
