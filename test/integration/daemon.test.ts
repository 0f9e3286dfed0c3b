/**
 * The `run` daemon end to end, with real parts: eBPF (bpftrace) and procfs capture of real short-
 * lived connections to an external test host, the file sink, the eBPF -> procfs fallback, a live
 * beacon, and SIGHUP reloads (a broken config keeps the old one).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { REPO_ROOT, runCli } from '../helpers/cli';
import { type Lab, type LabProcess, realPython3, requireExecutable, useLab, waitForEstablished } from '../helpers/lab';
import { readJsonLines, until as waitUntil } from '../helpers/until';

const until = <T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 20000): Promise<T> => waitUntil(what, fn, timeoutMs, 100);

const labs = useLab(['nc', 'bpftrace']);
const ENTRY = path.join(REPO_ROOT, 'test', 'helpers', 'brokerwatch-src.ts');

interface UdmLine {
  principal?: { process?: { pid?: string; file?: { full_path?: string } } };
  target?: { ip?: string[]; port?: number };
  security_result?: { rule_id?: string; detection_fields?: { key: string; value: string }[] }[];
}

const readEvents = (file: string): UdmLine[] => readJsonLines<UdmLine>(file);

/** Runs a short-lived command to completion and returns its pid (no shell). */
function runShort(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(c.pid as number));
  });
}

function daemonConfig(lab: Lab, name: string, extra: string): { config: string; events: string; socket: string } {
  const events = path.join(lab.tmpDir, `${name}-events.jsonl`);
  const socket = path.join(lab.tmpDir, `${name}-ctl`, 'bw.sock');
  const config = lab.writeFile(`${name}.yaml`, [
    'pollInterval: 100ms',
    `control: { socket: ${JSON.stringify(socket)} }`,
    `sinks: [{ type: file, path: ${JSON.stringify(events)} }]`,
    extra,
  ].join('\n'));
  return { config, events, socket };
}

async function startDaemon(lab: Lab, config: string, env?: NodeJS.ProcessEnv): Promise<LabProcess> {
  const d = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT, ...(env ? { env } : {}) });
  await d.waitForOutput(/capturing with|falling back to procfs/, 30_000);
  return d;
}

async function stopDaemon(d: LabProcess): Promise<void> {
  process.kill(d.pid, 'SIGTERM');
  const status = await d.exited;
  assert.equal(status.code, 0, `the daemon exits 0 on SIGTERM: ${d.describe()}`);
}

function pidsWithExe(events: UdmLine[], exe: string): Set<number> {
  return new Set(events.filter((e) => e.principal?.process?.file?.full_path === exe).map((e) => Number(e.principal?.process?.pid)));
}

async function shortConnects(lab: Lab, nc: string, python: string): Promise<{ ncPids: number[]; pyPids: number[] }> {
  const ext = lab.external.ipv4;
  const ncPids: number[] = [];
  for (let i = 0; i < 200; i++) ncPids.push(await runShort(nc, ['-z', '-w', '2', ext, '1883']));
  const pyPids: number[] = [];
  const script = 'import socket,sys\ns=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\ns.close()';
  for (let i = 0; i < 50; i++) pyPids.push(await runShort(python, ['-c', script, ext, '5672']));
  return { ncPids, pyPids };
}

test('capture: ebpf attributes every one of 250 short-lived connects; procfs polling catches fewer', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const nc = fs.realpathSync(requireExecutable('nc'));
  const python = await realPython3();
  const pythonExe = fs.realpathSync(python);
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 1883 }, { ip: lab.external.ipv4, port: 5672 }]);

  const ebpf = daemonConfig(lab, 'ebpf', 'adapter: ebpf\nbeaconing: { enabled: false, minConnections: 5, maxJitter: 0.2, minPeriod: 1s, maxTracked: 100 }');
  const d = await startDaemon(lab, ebpf.config);
  assert.match(d.output(), /capturing with eBPF/);
  const { ncPids, pyPids } = await shortConnects(lab, nc, python);
  await until('every connect in the file sink', () => {
    const ev = readEvents(ebpf.events);
    const n = pidsWithExe(ev, nc);
    const p = pidsWithExe(ev, pythonExe);
    return ncPids.every((pid) => n.has(pid)) && pyPids.every((pid) => p.has(pid));
  });
  await stopDaemon(d);
  const events = readEvents(ebpf.events);
  for (const pid of ncPids) {
    const e = events.find((x) => Number(x.principal?.process?.pid) === pid);
    assert.equal(e?.principal?.process?.file?.full_path, nc, `nc pid ${pid}`);
    assert.deepEqual(e?.target, { ip: [lab.external.ipv4], port: 1883 });
  }
  for (const pid of pyPids) {
    const e = events.find((x) => Number(x.principal?.process?.pid) === pid);
    assert.equal(e?.principal?.process?.file?.full_path, pythonExe, `python pid ${pid}`);
    assert.equal(e?.target?.port, 5672);
  }

  const procfs = daemonConfig(lab, 'procfs', 'adapter: procfs');
  const p = await startDaemon(lab, procfs.config);
  const second = await shortConnects(lab, nc, python);
  await new Promise((r) => setTimeout(r, 500));
  await stopDaemon(p);
  const polled = readEvents(procfs.events);
  const caught = [...second.ncPids, ...second.pyPids].filter((pid) => polled.some((e) => Number(e.principal?.process?.pid) === pid)).length;
  t.diagnostic(`procfs polling every 100 ms attributed ${caught} of 250 short-lived connects (eBPF: 250 of 250)`);
});

test('adapter: ebpf with bpftrace unavailable: one line says why, procfs polling runs, and status shows the fallback', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }]);
  const missing = path.join(lab.tmpDir, 'no-such-dir', 'bpftrace');
  const { config, events, socket } = daemonConfig(lab, 'fallback', `adapter: ebpf\nbpftracePath: ${JSON.stringify(missing)}`);
  const d = await startDaemon(lab, config);
  assert.match(d.output(), /eBPF capture unavailable \(.*no-such-dir\/bpftrace.*\); falling back to procfs polling/);
  assert.doesNotMatch(d.output(), /capturing with eBPF|adapter unavailable/);
  const nc = lab.spawnRoot(requireExecutable('nc'), [lab.external.ipv4, '5222'], { stdin: '<stream:stream to="example.org">' });
  await waitForEstablished(nc, lab.external.ipv4, 5222);
  const hit = await until('the held XMPP connection in the sink', () => readEvents(events).find((e) => Number(e.principal?.process?.pid) === nc.pid));
  assert.equal(hit.security_result?.[0]?.rule_id, 'PUBSUB-EXTERNAL');
  await d.waitForOutput(/control socket listening/, 10_000);
  const st = await runCli(['status', '--json', '--socket', socket]);
  assert.equal(st.code, 0, st.stderr);
  const capture = (JSON.parse(st.stdout) as { capture: { source: string; fallbacks: string[]; pollErrors: number; eventsLost: number; warnings: unknown[] } }).capture;
  assert.equal(capture.source, 'procfs');
  assert.match(capture.fallbacks[0] as string, /^ebpf: .*no-such-dir\/bpftrace/);
  assert.equal(capture.pollErrors, 0);
  assert.ok(Array.isArray(capture.warnings));
  await stopDaemon(d);
});

test('a live 1-second beacon raises a BEACONING finding with its period', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 61613 }]);
  const { config, events } = daemonConfig(lab, 'beacon', 'adapter: ebpf');
  const d = await startDaemon(lab, config);
  const nc = fs.realpathSync(requireExecutable('nc'));
  const started = Date.now();
  let beacon: UdmLine | undefined;
  while (!beacon && Date.now() - started < 15_000) {
    await runShort(nc, ['-z', '-w', '2', lab.external.ipv4, '61613']);
    await new Promise((r) => setTimeout(r, 1000));
    beacon = readEvents(events).find((e) => e.security_result?.some((s) => s.rule_id === 'BEACONING'));
  }
  await stopDaemon(d);
  assert.ok(beacon, 'a BEACONING finding within 15 s');
  assert.equal(beacon.principal?.process?.file?.full_path, nc);
  const fields = beacon.security_result?.find((s) => s.rule_id === 'BEACONING')?.detection_fields ?? [];
  const period = Number(fields.find((f) => /period/i.test(f.key))?.value);
  assert.ok(period >= 900 && period <= 1500, `period ${period} ms from ${JSON.stringify(fields)}`);
});

test('SIGHUP: a broken config is refused and the old one stays; a good one takes effect', async (t: TestContext) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port: 5222 }, { ip: lab.external.ipv4Alt as string, port: 5222 }]);
  // The deprecated spelling still starts, with one notice saying what to write instead.
  const { config, events } = daemonConfig(lab, 'hup', 'capture: procfs');
  const good = fs.readFileSync(config, 'utf8');
  // A SIGHUP while the agent starts (a log rotation, a config push) is held, never fatal: it reloads once capture runs.
  const d = lab.spawnRoot(process.execPath, ['--import', 'tsx', ENTRY, 'run', '--config', config], { cwd: REPO_ROOT });
  await d.waitForOutput(/brokerwatch \S+ starting \(pid/, 30_000);
  process.kill(d.pid, 'SIGHUP');
  await d.waitForOutput(/configuration reloaded/, 30_000);
  assert.ok(d.running, d.describe());
  assert.match(d.output(), /hup\.yaml: capture: is deprecated .*Replace `capture: procfs` with `adapter: procfs`/);
  assert.match(d.output(), /capturing with procfs polling/);
  const ncPath = requireExecutable('nc');

  fs.writeFileSync(config, `${good}\nbrokerAllowList: [not a broker!]\n`);
  process.kill(d.pid, 'SIGHUP');
  await d.waitForOutput(/reload refused, the previous configuration stays in force: .*brokerAllowList\[0\]/, 10_000);
  assert.ok(d.running);
  const first = lab.spawnRoot(ncPath, [lab.external.ipv4, '5222']);
  await waitForEstablished(first, lab.external.ipv4, 5222);
  const hit = await until('a finding under the old config', () => readEvents(events).find((e) => Number(e.principal?.process?.pid) === first.pid));
  assert.equal(hit.security_result?.[0]?.rule_id, 'PUBSUB-EXTERNAL');

  // A capture change whose new capture cannot start: refused, the running capture stays.
  fs.writeFileSync(config, `${good.replace('capture: procfs', 'adapter: procfs')}\nprocRoot: ${JSON.stringify(path.join(lab.tmpDir, 'no-proc'))}\n`);
  process.kill(d.pid, 'SIGHUP');
  await d.waitForOutput(/reload refused, the previous configuration stays in force: the new capture could not start \(procfs adapter unavailable: no procfs at .*no-proc.*\); the previous capture \(procfs\) keeps running/, 10_000);
  assert.ok(d.running);

  fs.writeFileSync(config, `${good.replace('capture: procfs', 'adapter: procfs')}\nbrokerAllowList: [${lab.external.ipv4Alt}]\n`);
  process.kill(d.pid, 'SIGHUP');
  await d.waitForOutput(/configuration reloaded[\s\S]*configuration reloaded/, 10_000);
  const second = lab.spawnRoot(ncPath, [lab.external.ipv4Alt as string, '5222']);
  await waitForEstablished(second, lab.external.ipv4Alt as string, 5222);
  const allowed = await until('the allowlisted connection in the sink', () => readEvents(events).find((e) => Number(e.principal?.process?.pid) === second.pid));
  assert.equal(allowed.security_result, undefined, 'an allowlisted broker is telemetry, not a finding');
  await stopDaemon(d);
});
