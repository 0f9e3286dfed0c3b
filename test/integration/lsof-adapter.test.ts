/**
 * The lsof adapter against real sockets on Linux: clients in the root namespace connected to
 * listeners on network-namespace test hosts (test/helpers/lab.ts), scanned with the real CLI once
 * with `--adapter lsof` and once with `--adapter procfs`; both must find the same (pids, exes,
 * protocols, destinations, rules). Then URI-PATH live: a python3 client on 8083 whose command line
 * names ws://.../mqtt is a finding, the same client with a plain path is not.
 *
 * Needs root, iproute2, lsof, ps, mosquitto, mosquitto_sub and python3; skips without them (fails
 * under CI=true).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { Finding } from '../../src/core/types';
import type { ScanReport } from '../../src/format/report';
import { runScanJson } from '../helpers/cli';
import { type Lab, type LabProcess, realPython3, requireExecutable, useLab, waitForEstablished } from '../helpers/lab';

const labs = useLab(['lsof', 'ps', 'mosquitto', 'mosquitto_sub', 'python3']);

/** python3 client: connect (TCP or UDP) to argv[1]:argv[2], say so, hold the socket while stdin is open. */
const PY_CLIENT = [
  'import socket, sys',
  'host, port, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]',
  'fam = socket.AF_INET6 if ":" in host else socket.AF_INET',
  's = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)',
  's.connect((host, port))',
  'print("connected", flush=True)',
  'sys.stdin.read()',
].join('\n');

/** The comparable part of a finding: what the two adapters must agree on. */
function essence(f: Finding): string {
  const p = f.process;
  return JSON.stringify({
    pid: p?.pid, exe: p?.exe, name: p?.name, user: p?.user, cmdline: p?.cmdline, protocol: f.protocol, tls: f.tls, transport: f.transport,
    destination: f.destination, source: f.source, rules: f.rules, severity: f.severity, details: f.details ?? null,
  });
}

function mine(report: ScanReport, procs: readonly LabProcess[]): Finding[] {
  const pids = new Set(procs.map((p) => p.pid));
  return report.findings.filter((f) => f.process && pids.has(f.process.pid));
}

function describeReport(report: ScanReport): string {
  return `adapter ${report.adapter}, stats ${JSON.stringify(report.stats)}, warnings ${JSON.stringify(report.warnings)}, findings:\n  ${report.findings.map(essence).join('\n  ')}`;
}

async function pyClient(lab: Lab, python: string, host: string, port: number, kind: 'tcp' | 'udp', ...extra: string[]): Promise<LabProcess> {
  const p = lab.spawnRoot(python, ['-c', PY_CLIENT, host, String(port), kind, ...extra]);
  await p.waitForOutput(/^connected$/m, 10_000);
  if (kind === 'tcp') await waitForEstablished(p, host, port);
  return p;
}

test('scan --adapter lsof finds what --adapter procfs finds (pids, exes, protocols, destinations)', { timeout: 180_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  const ext = lab.external;
  const python = await realPython3();
  await lab.startMosquitto(ext, 1883);
  await lab.startTcpSink(ext, [{ ip: ext.ipv4, port: 5222 }, { ip: ext.ipv6 as string, port: 61613 }]);

  const sub = lab.spawnRoot('mosquitto_sub', ['-h', ext.ipv4, '-p', '1883', '-t', 'c2/beacon', '-i', `bw-lsof-${lab.index}`]);
  await waitForEstablished(sub, ext.ipv4, 1883);
  const clients = [
    sub,
    await pyClient(lab, python, ext.ipv6 as string, 1883, 'tcp'),       // IPv6 TCP to the broker
    await pyClient(lab, python, ext.ipv4, 5222, 'tcp', 'xmpp client'),  // an argument with a space
    await pyClient(lab, python, ext.ipv6 as string, 61613, 'tcp'),      // IPv6 STOMP
    await pyClient(lab, python, ext.ipv4Alt as string, 8883, 'udp'),    // connected UDP: no server needed
  ];

  const lsof = await runScanJson(['--adapter', 'lsof']);
  const procfs = await runScanJson(['--adapter', 'procfs']);
  assert.equal(lsof.report.adapter, 'lsof', lsof.stderr);
  assert.equal(procfs.report.adapter, 'procfs', procfs.stderr);
  for (const p of clients) assert.ok(p.running, `${p.describe()} still running during both scans`);

  const fromLsof = mine(lsof.report, clients).map(essence).sort();
  const fromProcfs = mine(procfs.report, clients).map(essence).sort();
  assert.equal(fromProcfs.length, clients.length, `procfs: one finding per client\n${describeReport(procfs.report)}`);
  assert.deepEqual(fromLsof, fromProcfs, `lsof and procfs disagree\n${describeReport(lsof.report)}\n${describeReport(procfs.report)}`);

  // Spot checks, so "equal" cannot mean "equally wrong".
  const bySub = mine(lsof.report, [sub])[0] as Finding;
  assert.equal(bySub.process?.exe, fs.realpathSync(requireExecutable('mosquitto_sub')));
  assert.deepEqual(bySub.destination, { ip: ext.ipv4, port: 1883 });
  assert.ok(bySub.rules.includes('TOPIC-ANOMALY'), `argv reached the topic rule: ${bySub.rules.join(',')}`);
  const udp = mine(lsof.report, [clients[4] as LabProcess])[0] as Finding;
  assert.deepEqual([udp.transport, udp.protocol, udp.destination], ['udp', 'MQTT', { ip: ext.ipv4Alt, port: 8883 }]);
  assert.equal(mine(lsof.report, [clients[3] as LabProcess])[0]?.destination.ip, ext.ipv6);
});

test('URI-PATH live: a client on 8083 with ws://.../mqtt in its command line is a finding, a plain path is not', { timeout: 120_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  const ext = lab.external;
  const python = await realPython3();
  await lab.startTcpSink(ext, [{ ip: ext.ipv4, port: 8083 }]);
  const broker = await pyClient(lab, python, ext.ipv4, 8083, 'tcp', `ws://${ext.ipv4}:8083/mqtt`);
  const plain = await pyClient(lab, python, ext.ipv4, 8083, 'tcp', `http://${ext.ipv4}:8083/index.html`);

  for (const adapter of ['procfs', 'lsof']) {
    const { report } = await runScanJson(['--adapter', adapter]);
    const found = mine(report, [broker]);
    assert.equal(found.length, 1, `${adapter}: one finding for the /mqtt client\n${describeReport(report)}`);
    const f = found[0] as Finding;
    assert.deepEqual(f.rules, ['URI-PATH', 'AN0003'], `${adapter}: python3 is on unusualProcessList.linux`);
    assert.equal(f.protocol, 'MQTT');
    assert.equal(f.severity, 'HIGH', 'MQTT HIGH, one lower for an inferred broker, one higher for an unusual process');
    assert.deepEqual(f.destination, { ip: ext.ipv4, port: 8083 });
    assert.deepEqual(f.details, { uriPath: '/mqtt', uriPathRegex: '/mqtt(\\b|/|$)', url: `ws://${ext.ipv4}:8083/mqtt`, webBrokerPort: 8083 });
    assert.deepEqual(mine(report, [plain]), [], `${adapter}: no finding for a plain path`);
    assert.ok(report.stats.candidates !== undefined && report.stats.candidates >= 2, `${adapter}: both 8083 connections were attributed`);
  }
});
