/**
 * Delivery through the whole agent: the real `run` daemon (eBPF capture) sends UDM over the
 * forwarder sink, with its spool, to a real rsyslog standing in for the Chronicle forwarder's
 * syslog collector. The collector goes away and comes back; the agent is killed with SIGKILL and
 * started again. Every connection must arrive (at least once; counted by distinct product_log_id).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { REPO_ROOT } from '../helpers/cli';
import { freePort, type Lab, type LabProcess, requireExecutable, useLab } from '../helpers/lab';
import { requireTools, Rsyslog } from '../helpers/rsyslog';
import { until } from '../helpers/until';

const labs = useLab(['nc', 'bpftrace']);
const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');

interface Received {
  id: string;
  pid: number;
}

function received(r: Rsyslog): Received[] {
  return r.lines().map((l) => {
    const e = JSON.parse(l) as { metadata: { product_log_id: string }; principal?: { process?: { pid?: string } } };
    return { id: e.metadata.product_log_id, pid: Number(e.principal?.process?.pid) };
  });
}

function runShort(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(c.pid as number));
  });
}

async function connects(lab: Lab, n: number): Promise<number[]> {
  const nc = requireExecutable('nc');
  const pids: number[] = [];
  for (let i = 0; i < n; i++) pids.push(await runShort(nc, ['-z', '-w', '2', lab.external.ipv4, '5222']));
  return pids;
}

async function startDaemon(lab: Lab, config: string): Promise<LabProcess> {
  const d = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT });
  await d.waitForOutput(/capturing with eBPF/, 30_000);
  return d;
}

/** Waits until every pid has an event among the received lines; returns the distinct ids of those events. */
async function allArrive(r: Rsyslog, pids: number[], what: string): Promise<Set<string>> {
  const want = new Set(pids);
  const lines = await r.waitFor(() => {
    const got = new Set(received(r).map((x) => x.pid));
    return pids.every((p) => got.has(p));
  }, what, 30_000);
  return new Set(lines.map((l) => JSON.parse(l) as { metadata: { product_log_id: string }; principal?: { process?: { pid?: string } } })
    .filter((e) => want.has(Number(e.principal?.process?.pid)))
    .map((e) => e.metadata.product_log_id));
}

test('collector outage and agent kill -9: every connection reaches rsyslog through the spool', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  const tools = requireTools(t, ['rsyslogd']);
  if (!tools) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);
  const collector = new Rsyslog(tools.rsyslogd as string, fs.mkdtempSync(path.join(lab.tmpDir, 'rsyslog-')), await freePort());
  t.after(() => collector.stop());
  await collector.start();
  const spool = path.join(lab.tmpDir, 'spool');
  const config = lab.writeFile('delivery.yaml', [
    'adapter: ebpf',
    `control: { socket: ${JSON.stringify(path.join(lab.tmpDir, 'ctl', 'bw.sock'))} }`,
    'beaconing: { enabled: false, minConnections: 5, maxJitter: 0.2, minPeriod: 1s, maxTracked: 100 }',
    'sinks:',
    `  - { type: forwarder, host: 127.0.0.1, port: ${collector.port}, format: udm, reconnect: { initialDelay: 100ms, maxDelay: 500ms }, spool: { path: ${JSON.stringify(spool)}, fsync: always, retry: { initialDelay: 100ms, maxDelay: 1s } } }`,
  ].join('\n'));

  let daemon = await startDaemon(lab, config);
  const first = await connects(lab, 50);
  const idsFirst = await allArrive(collector, first, 'the first 50 connections');
  assert.equal(idsFirst.size, 50, 'one event per connection');

  await collector.stop();
  const during = await connects(lab, 50);
  await collector.start();
  const idsAll = await allArrive(collector, [...first, ...during], 'all 100 connections after the outage').catch((err: Error) => {
    throw new Error(`${err.message}\nagent: ${daemon.describe()}`);
  });
  assert.equal(idsAll.size, 100, '100 connections, 100 distinct product_log_id');

  // Spooled while the collector is down, then the agent dies without a chance to flush.
  await collector.stop();
  const spooled = await connects(lab, 20);
  // Kill only once each of the 20 is in the spool's files (fsync: always, so on disk): looked up, not
  // slept for. Not the spool's pending count: other tests' connections to 5222 may be spooled too.
  await until('the 20 connections in the spool files', () => {
    const text = fs.readdirSync(spool).map((f) => path.join(spool, f)).filter((f) => fs.statSync(f).isFile()).map((f) => fs.readFileSync(f, 'latin1')).join('\n');
    return spooled.every((pid) => text.includes(`"pid":"${pid}"`));
  }, 30_000);
  process.kill(daemon.pid, 'SIGKILL');
  await daemon.exited;
  await collector.start();
  daemon = await startDaemon(lab, config);
  const idsSpooled = await allArrive(collector, spooled, 'the 20 connections spooled before kill -9');
  assert.equal(idsSpooled.size, 20);
  process.kill(daemon.pid, 'SIGTERM');
  assert.equal((await daemon.exited).code, 0);
});
