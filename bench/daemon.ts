/**
 * The daemon's cost and capture rate, measured on this machine in one run:
 *   - capture rate of short-lived connects (connect, close, exit) with eBPF and with procfs polling;
 *   - CPU (% of one core) and RSS of the agent - and of its bpftrace child - at idle, at idle with
 *     20 process starts/s in the background (an ordinary build host), and under about 100
 *     connects/s. Goals (issue): 100% captured with eBPF; <= 0.5% CPU and <= 80 MB at idle; <= 0.5%
 *     CPU with 20 process starts/s.
 * Connections go to a listener on 127.0.0.1 at a free port, declared a pub/sub port in a temp config
 * with includeLoopback, so nothing leaves the machine.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { childrenOf, cpuTicks, sleep } from './proc-stats';

const REPO = path.resolve(__dirname, '..');
// The compiled agent, as installed (npm run build first): tsx's on-the-fly compiling would be measured too.
const ENTRY = path.join(REPO, 'bin', 'brokerwatch.js');
const RELEASE_BIN = path.join(REPO, 'dist', 'release', 'linux-x64', 'brokerwatch');

/** The agents measured: the release binary (what a package installs), when built, and the checkout under this node. */
function agents(): { name: string; argv: string[] }[] {
  const list = [{ name: 'checkout (node)', argv: [process.execPath, ENTRY] }];
  if (fs.existsSync(RELEASE_BIN)) list.unshift({ name: 'release binary', argv: [RELEASE_BIN] });
  return list;
}
const TICKS = 100; // USER_HZ

function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function startAgent(dir: string, port: number, capture: 'ebpf' | 'procfs', agent: string[]): Promise<{ child: ChildProcess; events: string }> {
  const tag = `${capture}-${path.basename(agent[agent.length - 1] as string, '.js')}`;
  const events = path.join(dir, `${tag}-events.jsonl`);
  const config = path.join(dir, `${tag}.yaml`);
  fs.writeFileSync(config, [
    `adapter: ${capture}`,
    'includeLoopback: true',
    `protocolPortList: { MQTT: [${port}] }`,
    'webBrokerPorts: []',
    'beaconing: { enabled: false, minConnections: 5, maxJitter: 0.2, minPeriod: 1s, maxTracked: 100 }',
    `control: { socket: ${JSON.stringify(path.join(dir, `${tag}-ctl`, 'bw.sock'))} }`,
    `stateDir: ${JSON.stringify(dir)}`,
    `sinks: [{ type: file, path: ${JSON.stringify(events)} }]`,
  ].join('\n'));
  // A binary written moments ago maps large page-cache folios (up to 30 MB more RSS): read it back from disk first, as after a reboot.
  execFileSync('python3', [path.join(__dirname, 'measure.py'), '--evict', agent[0] as string]);
  const child = spawn(agent[0] as string, [...agent.slice(1), 'run', '--config', config], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
  const deadline = Date.now() + 30_000;
  while (!/capturing with/.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent did not start: ${err}`);
    await sleep(100);
  }
  return { child, events };
}

async function stopAgent(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

/** CPU % of one core and RSS of the agent and its children over `ms`, while `load` runs. */
async function measure(pid: number, ms: number, load?: () => Promise<void>): Promise<{ agentCpu: number; agentRss: number; childCpu: number; childRss: number }> {
  const kids = childrenOf(pid);
  const a0 = cpuTicks(pid);
  const c0 = kids.reduce((n, k) => n + cpuTicks(k), 0);
  const t0 = Date.now();
  if (load) await load();
  else await sleep(ms);
  const elapsed = (Date.now() - t0) / 1000;
  const a1 = cpuTicks(pid);
  const c1 = kids.reduce((n, k) => n + cpuTicks(k), 0);
  return {
    agentCpu: ((a1 - a0) / TICKS / elapsed) * 100,
    agentRss: rssMb(pid),
    childCpu: ((c1 - c0) / TICKS / elapsed) * 100,
    childRss: kids.reduce((n, k) => n + rssMb(k), 0),
  };
}

/** `count` connect-and-close from short-lived processes, about `perSecond` a second; their pids. */
async function shortConnects(port: number, count: number, perSecond: number): Promise<number[]> {
  const pids: number[] = [];
  const script = 'import socket,sys\ns=socket.create_connection(("127.0.0.1", int(sys.argv[1])))\ns.close()';
  const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p)) ?? 'python3';
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const c = spawn(python, ['-c', script, String(port)], { stdio: 'ignore' });
    if (c.pid) pids.push(c.pid);
    await new Promise((r) => c.once('exit', r));
    const due = start + ((i + 1) * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
  }
  return pids;
}

/** About `perSecond` starts of /bin/true for `ms`, none connecting: background process churn. */
async function processStarts(perSecond: number, ms: number): Promise<void> {
  const start = Date.now();
  for (let i = 0; Date.now() - start < ms; i++) {
    const c = spawn('/bin/true', [], { stdio: 'ignore' });
    await new Promise((r) => c.once('exit', r));
    const due = start + ((i + 1) * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
  }
}

function capturedPids(events: string): Set<number> {
  if (!fs.existsSync(events)) return new Set();
  return new Set(fs.readFileSync(events, 'utf8').split('\n').filter(Boolean)
    .map((l) => Number((JSON.parse(l) as { principal?: { process?: { pid?: string } } }).principal?.process?.pid)));
}

export async function benchDaemon(): Promise<Record<string, string | number>[]> {
  if (process.getuid?.() !== 0) throw new Error('the daemon bench needs root (eBPF, /proc of every process)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-bench-'));
  const rows: Record<string, string | number>[] = [];
  try {
    for (const agent of agents()) for (const capture of ['ebpf', 'procfs'] as const) {
      // A port of its own per run: the previous run's connections linger in TIME_WAIT for a minute.
      const server = net.createServer((s) => s.on('error', () => undefined).end());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as net.AddressInfo).port;
      const { child, events } = await startAgent(dir, port, capture, agent.argv);
      try {
        // Idle means steady state: V8's memory reducer runs a few full collections some seconds after
        // start-up (about 30 ms of CPU in all), which a window right after start would count as idle cost.
        await sleep(15_000);
        // 20 s: one clock tick (10 ms of CPU) is 0.05% of a core.
        const idle = await measure(child.pid as number, 20_000);
        const churn = await measure(child.pid as number, 0, () => processStarts(20, 10_000));
        let pids: number[] = [];
        const busy = await measure(child.pid as number, 0, async () => { pids = await shortConnects(port, 1000, 100); });
        await sleep(1500);
        const got = capturedPids(events);
        const caught = pids.filter((p) => got.has(p)).length;
        rows.push({
          agent: agent.name,
          capture,
          captured: `${caught}/${pids.length} (${((caught / Math.max(1, pids.length)) * 100).toFixed(1)}%)`,
          idle_cpu_pct: idle.agentCpu.toFixed(2),
          idle_rss_mb: idle.agentRss.toFixed(1),
          starts20_cpu_pct: churn.agentCpu.toFixed(2),
          bpftrace_starts20_cpu_pct: capture === 'ebpf' ? churn.childCpu.toFixed(2) : '-',
          busy_cpu_pct: busy.agentCpu.toFixed(2),
          busy_rss_mb: busy.agentRss.toFixed(1),
          bpftrace_idle_cpu_pct: capture === 'ebpf' ? idle.childCpu.toFixed(2) : '-',
          bpftrace_rss_mb: capture === 'ebpf' ? busy.childRss.toFixed(1) : '-',
        });
      } finally {
        await stopAgent(child);
        server.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) {
  benchDaemon().then((rows) => {
    console.log('daemon: capture rate of 1000 short-lived connects at ~100/s; CPU as % of one core');
    console.table(rows);
  }).catch((err: Error) => {
    console.error(err.message);
    process.exitCode = 1;
  });
}
