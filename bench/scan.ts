/**
 * One-shot scans, whole process, side by side in one run: what a user types and waits for.
 *   brokerwatch scan --json (the release binary, and the checkout through node), ss -tanp,
 *   lsof -i -n -P and systeminformation's networkConnections() in a node process of its own,
 * each timed from fork to exit with its CPU time and peak RSS (bench/measure.py, wait4 rusage),
 * median of `rounds` interleaved runs, on (a) 5,000 loopback connections plus 400 connections to an
 * external broker on a test host (a network namespace, 198.51.100.0/24) and (b) the host without
 * that load. The floors are measured beside them: the release binary's --version, a Node 26 SEA
 * that only exits, `node -e 0`, and ss doing only the kernel work a scan needs (fd walk, filtered dump).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, Lab } from '../test/helpers/lab';

const REPO = path.resolve(__dirname, '..');
export const RELEASE_BIN = path.join(REPO, 'dist', 'release', 'linux-x64', 'brokerwatch');

export interface Measured {
  case: string;
  tool: string;
  wallMs: number;
  cpuMs: number;
  peakRssMb: number;
  runs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const MEASURE = path.join(__dirname, 'measure.py');

/**
 * Every command `rounds` times, interleaved (round 1 of each, then round 2 of each...), so a burst
 * of load on a shared machine lands on all of them alike; medians of wall, CPU and peak RSS. Each
 * executable is first dropped from the page cache and run once to read it back (measure.py --evict).
 */
function measureAll(cmds: [string, string[]][], rounds: number, label: string): Measured[] {
  for (const [, cmd] of cmds) {
    execFileSync('python3', [MEASURE, '--evict', cmd[0] as string]);
    execFileSync('python3', [MEASURE, ...cmd]);
  }
  const runs = cmds.map(() => ({ wall: [] as number[], cpu: [] as number[], rss: [] as number[] }));
  for (let i = 0; i < rounds; i++) {
    cmds.forEach(([, cmd], k) => {
      const [wall, kb, , cpu] = execFileSync('python3', [MEASURE, ...cmd], { encoding: 'utf8' }).trim().split(' ').map(Number);
      const r = runs[k] as (typeof runs)[number];
      r.wall.push((wall as number) * 1000);
      r.cpu.push((cpu as number) * 1000);
      r.rss.push((kb as number) / 1024);
    });
  }
  return cmds.map(([name], k) => {
    const r = runs[k] as (typeof runs)[number];
    return { case: label, tool: name, wallMs: Math.round(median(r.wall)), cpuMs: Math.round(median(r.cpu)), peakRssMb: Math.round(median(r.rss)), runs: rounds };
  });
}

function tool(name: string): string | null {
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => `${d}/${name}`).find((p) => fs.existsSync(p)) ?? null;
}

function waitReady(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready: ${out}`)));
  });
}

/**
 * A Node single executable application that only exits, built from the release's own Node 26 (left in
 * .cache/release by the build): the start-up floor of any SEA, beside the release binary's --version.
 */
function trivialSea(dir: string): string | null {
  const node = path.join(REPO, '.cache', 'release', 'work', 'linux-x64', 'node');
  if (!fs.existsSync(node)) return null;
  fs.writeFileSync(path.join(dir, 'exit.js'), '');
  const out = path.join(dir, 'trivial-sea');
  fs.writeFileSync(path.join(dir, 'sea.json'), JSON.stringify({ main: path.join(dir, 'exit.js'), output: out, executable: node, disableExperimentalSEAWarning: true, useCodeCache: false }));
  execFileSync(node, ['--build-sea', path.join(dir, 'sea.json')], { stdio: 'ignore' });
  return out;
}

function commands(port: number, sea: string | null): [string, string[]][] {
  const node = process.execPath;
  const list: [string, string[]][] = [];
  if (fs.existsSync(RELEASE_BIN)) list.push(['brokerwatch scan --json (release binary)', [RELEASE_BIN, 'scan', '--json']]);
  list.push(['brokerwatch scan --json (checkout, node)', [node, path.join(REPO, 'bin', 'brokerwatch.js'), 'scan', '--json']]);
  const ss = tool('ss');
  if (ss) {
    list.push(['ss -tanp', [ss, '-tanp']]);
    // The kernel work a scan cannot skip: every process's fd walk (-p) and a port-filtered dump, without printing every socket.
    list.push([`ss -tanp 'dport = :${port}'`, [ss, '-tanp', `dport = :${port}`]]);
  }
  const lsof = tool('lsof');
  if (lsof) list.push(['lsof -i -n -P', [lsof, '-i', '-n', '-P']]);
  list.push(['systeminformation networkConnections()', [node, '-e', "require('systeminformation').networkConnections().then((c) => console.log(c.length))"]]);
  if (fs.existsSync(RELEASE_BIN)) list.push(['floor: release binary --version', [RELEASE_BIN, '--version']]);
  if (sea) list.push(['floor: a Node 26 SEA that only exits', [sea]]);
  list.push(['floor: node -e 0', [node, '-e', '0']]);
  return list;
}

export async function benchScan(rounds = 11, loopback = 5000, external = 400): Promise<Measured[]> {
  const lab = await Lab.create();
  const out: Measured[] = [];
  const children: ChildProcess[] = [];
  try {
    const port = 1883;
    // The embedded default config: the test host (198.51.100.0/24) is external to it.
    await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port }]);
    const floodPort = await freePort();
    const flood = spawn('prlimit', [`--nofile=${2 * loopback + 1024}`, process.execPath, path.join(REPO, 'test', 'helpers', 'loopback-flood.mjs'), String(floodPort), String(loopback)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(flood);
    await waitReady(flood, 'loopback-flood');
    const hold = spawn('prlimit', [`--nofile=${external + 1024}`, process.execPath, path.join(__dirname, 'hold-connections.mjs'), lab.external.ipv4, String(port), String(external)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(hold);
    await waitReady(hold, 'hold-connections');
    const sea = trivialSea(lab.tmpDir);
    const busy = `${loopback} loopback + ${external} external pub/sub connections`;
    out.push(...measureAll(commands(port, sea), rounds, busy));
    for (const c of children.splice(0)) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1000)); // let the RST'd sockets go
    out.push(...measureAll(commands(port, sea), rounds, 'idle host'));
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await lab.cleanup();
  }
  return out;
}
