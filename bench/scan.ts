/**
 * One-shot scans, whole process, side by side in one run: what a user types and waits for.
 *   brokerwatch scan --json (the release binary, and the checkout through node), ss -tanp,
 *   lsof -i -n -P and systeminformation's networkConnections() in a node process of its own,
 * each timed from fork to exit with its peak RSS (bench/measure.py, wait4 rusage), median of
 * `rounds` runs, on (a) 5,000 loopback connections plus 400 connections to an external broker on
 * a test host (a network namespace, 198.51.100.0/24) and (b) the host without that load. The
 * floors are measured beside them: the release binary's --version and `node -e 0`.
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
  peakRssMb: number;
  runs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function measure(cmd: string[], rounds: number): { wallMs: number; peakRssMb: number } {
  const walls: number[] = [];
  const rss: number[] = [];
  execFileSync('python3', [path.join(__dirname, 'measure.py'), ...cmd]); // warm the page cache
  for (let i = 0; i < rounds; i++) {
    const [wall, kb] = execFileSync('python3', [path.join(__dirname, 'measure.py'), ...cmd], { encoding: 'utf8' }).trim().split(' ').map(Number);
    walls.push((wall as number) * 1000);
    rss.push((kb as number) / 1024);
  }
  return { wallMs: median(walls), peakRssMb: median(rss) };
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

function commands(): [string, string[]][] {
  const node = process.execPath;
  const list: [string, string[]][] = [];
  if (fs.existsSync(RELEASE_BIN)) list.push(['brokerwatch scan --json (release binary)', [RELEASE_BIN, 'scan', '--json']]);
  list.push(['brokerwatch scan --json (checkout, node)', [node, path.join(REPO, 'bin', 'brokerwatch.js'), 'scan', '--json']]);
  const ss = tool('ss');
  if (ss) list.push(['ss -tanp', [ss, '-tanp']]);
  const lsof = tool('lsof');
  if (lsof) list.push(['lsof -i -n -P', [lsof, '-i', '-n', '-P']]);
  list.push(['systeminformation networkConnections()', [node, '-e', "require('systeminformation').networkConnections().then((c) => console.log(c.length))"]]);
  if (fs.existsSync(RELEASE_BIN)) list.push(['floor: release binary --version', [RELEASE_BIN, '--version']]);
  list.push(['floor: node -e 0', [node, '-e', '0']]);
  return list;
}

export async function benchScan(rounds = 7, loopback = 5000, external = 400): Promise<Measured[]> {
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
    const busy = `${loopback} loopback + ${external} external pub/sub connections`;
    for (const [name, cmd] of commands()) out.push({ case: busy, tool: name, ...measure(cmd, rounds), runs: rounds });
    for (const c of children.splice(0)) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1000)); // let the RST'd sockets go
    for (const [name, cmd] of commands()) out.push({ case: 'idle host', tool: name, ...measure(cmd, rounds), runs: rounds });
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await lab.cleanup();
  }
  return out;
}
