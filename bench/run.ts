/**
 * npm run bench: every benchmark, each reporting ratios against tools measured in the same run.
 * Numbers depend on the machine; ratios are what to compare between runs.
 */
import { benchDaemon } from './daemon';
import { benchForwarder } from './forwarder';
import { benchScan } from './scan';

async function main(): Promise<void> {
  console.log('== scan (procfs adapter) vs ss, lsof, systeminformation');
  console.log('ratio = other tool time / brokerwatch time (above 1: brokerwatch is faster)');
  console.table(await benchScan());
  console.log('\n== the run daemon: capture rate of 1000 short-lived connects at ~100/s, CPU (% of one core) and RSS');
  console.log('goals: 100% captured with eBPF; at idle <= 0.5% CPU and <= 80 MB RSS; with 20 process starts/s <= 0.5% CPU');
  console.table(await benchDaemon());
  console.log('\n== delivery to rsyslog over TLS with the spool on, vs writing the same records to the socket directly');
  console.table(await benchForwarder());
}

main().catch((err: Error) => {
  console.error(err);
  process.exitCode = 1;
});
