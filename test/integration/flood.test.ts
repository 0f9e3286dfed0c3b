/**
 * Any local user can flood the host with connects to a broker port on loopback. The agent must
 * shed that load instead of being driven into its watchdog: it stays up, keeps judging an external
 * connection made during the flood, and says that there was a flood. The flood runs as `nobody`,
 * bounded in count and time; the watchdog is set tight (5% of a core over 5 s) so a runaway shows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli';
import { freePort, type LabProcess, useLab } from '../helpers/lab';
import { until as waitUntil } from '../helpers/until';

const until = <T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 30000): Promise<T> => waitUntil(what, fn, timeoutMs, 100);

const labs = useLab(['bpftrace', 'setpriv', 'nc']);
const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');
/** System python (nobody cannot run a python under /root). */
const PYTHON = '/usr/bin/python3';
/** Refused connects to 127.0.0.1:PORT as fast as one process can, at most COUNT or SECONDS. */
const FLOOD = [
  'import socket, sys, time',
  'port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])',
  'end = time.monotonic() + seconds',
  'n = 0',
  'while n < count and time.monotonic() < end:',
  '    s = socket.socket()',
  '    try: s.connect(("127.0.0.1", port))',
  '    except OSError: pass',
  '    s.close(); n += 1',
  'print("flooded", n, flush=True)',
].join('\n');

test('a loopback connect flood by nobody: the agent stays up, keeps judging, and reports the flood', { timeout: 180_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  if (!fs.existsSync(PYTHON)) assert.fail(`${PYTHON} is missing (install python3)`);
  t.after(() => lab.stopAll());
  const floodPort = await freePort(); // nothing listens there: every connect is refused
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 1883 }]);
  const events = path.join(lab.tmpDir, 'events.jsonl');
  const config = lab.writeFile('flood.yaml', [
    'adapter: ebpf',
    `protocolPortList: { MQTT: [1883, ${floodPort}] }`,
    `stateDir: ${JSON.stringify(path.join(lab.tmpDir, 'state'))}`,
    'watchdog: { enabled: true, interval: 1s, maxCpuPercent: 5, cpuWindow: 5s, maxRssMb: 400 }',
    `control: { socket: ${JSON.stringify(path.join(lab.tmpDir, 'ctl', 'bw.sock'))} }`,
    `sinks: [{ type: file, path: ${JSON.stringify(events)} }]`,
  ].join('\n'));
  const d: LabProcess = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT });
  await d.waitForOutput(/capturing with eBPF/, 60_000);

  const flood = lab.spawnRoot('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', PYTHON, '-c', FLOOD, String(floodPort), '200000', '15']);
  await new Promise((r) => setTimeout(r, 3000)); // the flood is under way
  const nc = lab.spawnRoot('nc', ['-z', '-w', '2', lab.external.ipv4, '1883']);
  await nc.exited;
  const judged = await until('the external connect judged during the flood', () => fs.existsSync(events) && fs.readFileSync(events, 'utf8').split('\n').some((l) => l.includes(`"pid":"${nc.pid}"`)));
  const done = await flood.exited;
  assert.equal(done.code, 0, flood.describe());
  const count = Number(/flooded (\d+)/.exec(flood.output())?.[1]);
  t.diagnostic(`flood: ${count} refused loopback connects as nobody`);
  assert.ok(count > 1000, `a real flood: ${count} connects`);
  await until('the flood in the log', () => /loopback connect flood: \d+ connects\/s/.test(d.output()), 10_000);
  await new Promise((r) => setTimeout(r, 6000)); // one more watchdog window after the flood
  assert.ok(judged && d.running, `the agent is still up after the flood: ${d.describe()}`);
  process.kill(d.pid, 'SIGTERM');
  assert.equal((await d.exited).code, 0, d.describe());
});
