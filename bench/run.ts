/**
 * npm run bench [-- --json] [-- --only scan|daemon|forwarder|wire]: every benchmark, whole processes side by side in one
 * run, medians, with the machine described. Numbers depend on the machine; compare within a run.
 */
import fs from 'node:fs';
import os from 'node:os';
import { benchDaemon } from './daemon';
import { benchForwarder } from './forwarder';
import { benchScan, RELEASE_BIN } from './scan';
import { benchWire } from './wire';

function machine(): Record<string, string | number> {
  let osName = '';
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch { /* not Linux */ }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(), os: osName, node: process.version, releaseBinary: fs.existsSync(RELEASE_BIN) ? RELEASE_BIN : 'not built (npm run release -- --targets linux-x64 --packages "")',
  };
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const only = process.argv[process.argv.indexOf('--only') + 1];
  const want = (name: string) => !process.argv.includes('--only') || only === name;
  const result: Record<string, unknown> = { machine: machine(), time: new Date().toISOString() };
  const say = (title: string, rows: unknown) => {
    if (json) return;
    console.log(`\n== ${title}`);
    console.table(rows);
  };
  if (!json) console.table(result.machine);
  if (want('scan')) {
    result.scan = await benchScan();
    say('scan, whole process (medians of 11 interleaved runs: wall ms, CPU ms, peak RSS MB)', result.scan);
  }
  if (want('daemon')) {
    result.daemon = await benchDaemon();
    say('the run daemon: capture rate of 1000 short-lived connects at ~100/s, CPU (% of one core) and RSS at idle, with 20 process starts/s and under load', result.daemon);
  }
  if (want('forwarder')) {
    result.forwarder = await benchForwarder(!json);
    say('delivery to rsyslog over TLS with the spool on, vs writing the same records to the socket directly', result.forwarder);
  }
  if (want('wire')) {
    result.wire = await benchWire();
    say('wire inspection off vs on: agent (+ bpftrace children) at idle and at ~100 MQTT publishes/s, and the publisher itself (goal: <= 1% of one core more)', result.wire);
  }
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: Error) => {
  console.error(err);
  process.exitCode = 1;
});
