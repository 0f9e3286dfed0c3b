/**
 * The cost of wire inspection, whole processes, on vs off in one run: the agent (compiled, with
 * eBPF capture) and its bpftrace children at idle and while a real MQTT client publishes about
 * 100 messages a second to a real mosquitto; and the CPU of the publisher itself, because the
 * write/sendto tracepoint probes run in the context of the process that writes. Goal (issue):
 * inspection adds at most 1% of one core at 100 publishes/s. Everything stays on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/helpers/lab-net';
import { childrenOf, cpuTicks, sleep } from './proc-stats';

const REPO = path.resolve(__dirname, '..');
const ENTRY = path.join(REPO, 'bin', 'brokerwatch.js');
const IMPLANT = path.join(REPO, 'test', 'helpers', 'mqtt-implant.py');
const TICKS = 100;

async function waitFor(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** CPU % of one core of each pid group over the window. */
async function cpu(groups: Record<string, () => number[]>, ms: number): Promise<Record<string, number>> {
  const pids = Object.fromEntries(Object.entries(groups).map(([k, f]) => [k, f()]));
  const t0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, p.reduce((n, x) => n + cpuTicks(x), 0)]));
  const start = Date.now();
  await sleep(ms);
  const secs = (Date.now() - start) / 1000;
  return Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, ((p.reduce((n, x) => n + cpuTicks(x), 0) - (t0[k] as number)) / TICKS / secs) * 100]));
}

async function run(dir: string, inspect: boolean, mosquitto: string, python: string): Promise<Record<string, string | number>> {
  const port = await freePort();
  const conf = path.join(dir, `m-${port}.conf`);
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const broker = spawn(mosquitto, ['-c', conf], { stdio: 'ignore' });
  const config = path.join(dir, `agent-${port}.yaml`);
  fs.writeFileSync(config, [
    'adapter: ebpf',
    'includeLoopback: true',
    `protocolPortList: { MQTT: [${port}] }`,
    'webBrokerPorts: []',
    `wireInspection: { enabled: ${inspect}, extraPorts: [] }`,
    `control: { socket: ${JSON.stringify(path.join(dir, `ctl-${port}`, 'bw.sock'))} }`,
    `stateDir: ${JSON.stringify(dir)}`,
    `sinks: [{ type: file, path: ${JSON.stringify(path.join(dir, `events-${port}.jsonl`))} }]`,
  ].join('\n'));
  const agent: ChildProcess = spawn(process.execPath, [ENTRY, 'run', '--config', config], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  agent.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
  let publisher: ChildProcess | null = null;
  try {
    await waitFor('the agent', () => /capturing with/.test(err) || agent.exitCode !== null);
    if (agent.exitCode !== null) throw new Error(`agent exited: ${err}`);
    if (inspect && !/wire inspection on/.test(err)) throw new Error(`wire inspection did not start: ${err}`);
    await sleep(5000); // settle: start-up work (library scan, first probes) is not idle
    const node = () => [agent.pid as number];
    const bpftrace = () => childrenOf(agent.pid as number);
    const idle = await cpu({ node, bpftrace }, 10_000);
    publisher = spawn(python, [IMPLANT], { stdio: ['pipe', 'ignore', 'ignore'] });
    publisher.stdin?.end(`${JSON.stringify({ host: '127.0.0.1', port, topic: 'bench/telemetry', count: 0, interval: 0.01, payloadBytes: 48 })}\n`);
    await sleep(3000); // past the first writes each connection copies
    const busy = await cpu({ node, bpftrace, publisher: () => [publisher?.pid as number] }, 10_000);
    return {
      inspection: inspect ? 'on' : 'off',
      idle_agent_cpu_pct: idle.node!.toFixed(2),
      idle_bpftrace_cpu_pct: idle.bpftrace!.toFixed(2),
      busy_agent_cpu_pct: busy.node!.toFixed(2),
      busy_bpftrace_cpu_pct: busy.bpftrace!.toFixed(2),
      busy_publisher_cpu_pct: busy.publisher!.toFixed(2),
    };
  } finally {
    publisher?.kill('SIGTERM');
    agent.kill('SIGTERM');
    await new Promise((r) => (agent.exitCode !== null ? r(null) : agent.once('exit', r)));
    broker.kill('SIGTERM');
  }
}

export async function benchWire(): Promise<Record<string, string | number>[]> {
  if (process.getuid?.() !== 0) throw new Error('the wire bench needs root (eBPF)');
  const which = (c: string): string => {
    const found = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin'].map((d) => path.join(d, c)).find((p) => path.isAbsolute(p) && fs.existsSync(p));
    if (!found) throw new Error(`${c} not found`);
    return found;
  };
  const mosquitto = which('mosquitto');
  const python = which('python3');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-bench-wire-'));
  try {
    const rows = [];
    for (const inspect of [false, true, false, true]) rows.push(await run(dir, inspect, mosquitto, python));
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchWire().then((rows) => {
    console.log('wire inspection off vs on: CPU as % of one core; publisher at ~100 MQTT publishes/s');
    console.table(rows);
  }).catch((err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  });
}
