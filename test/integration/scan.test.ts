/**
 * `brokerwatch scan --json` against real sockets: clients in the root namespace connected to real
 * brokers and listeners on network-namespace test hosts (test/helpers/lab.ts). Needs root,
 * iproute2, mosquitto and its clients, nc (OpenBSD), socat, python3 and prlimit; skips without them
 * (fails under CI=true).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Finding, JudgedConnection } from '../../src/core/types';
import type { ScanReport } from '../../src/format/report';
import { runCli, runScanJson } from '../helpers/cli';
import { freePort, type Lab, type LabProcess, realPython3, requireExecutable, waitForEstablished, useLab } from '../helpers/lab';

const labs = useLab(['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'nc', 'socat', 'python3', 'prlimit']);

/** An XMPP client's opening stream header, as an attacker would pipe it into nc. */
const XMPP_STREAM = "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n";
const STOMP_CONNECT = 'CONNECT\naccept-version:1.2\nhost:example.com\n\n\0';
/** python3 AMQP client: connect, send the AMQP 0-9-1 protocol header, hold the socket while stdin is open. */
const PY_AMQP = 'import socket, sys\ns = socket.create_connection((sys.argv[1], int(sys.argv[2])))\ns.sendall(b"AMQP\\x00\\x00\\x09\\x01")\nsys.stdin.read()\n';

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The executable path the kernel reports for a command started from PATH (symlinks resolved). */
function realExe(command: string): string {
  return fs.realpathSync(requireExecutable(command));
}

/** Config files are YAML; JSON is YAML, so the tests write JSON. */
function writeConfig(lab: Lab, name: string, config: Record<string, unknown>): string {
  return lab.writeFile(name, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * A config in which `port` is the only pub/sub port (a port listed under several protocols keeps
 * the first, MQTT). Other tests on this machine may hold connections to real pub/sub ports at the
 * same time; with this config their sockets cannot change what a "no finding" assertion sees.
 */
function onlyPort(port: number): Record<string, unknown> {
  return { protocolPortList: { MQTT: [port], XMPP: [port], AMQP: [port], STOMP: [port] } };
}

function brief(report: ScanReport): string {
  const conns = report.connections.map((c) => `${c.process?.pid ?? '?'} ${c.process?.exe ?? '?'} -> ${c.destination.ip}:${c.destination.port} ${c.verdict.outcome}`);
  return `exit report: summary ${JSON.stringify(report.summary)}, stats ${JSON.stringify(report.stats)}, warnings ${JSON.stringify(report.warnings)}, connections:\n  ${conns.join('\n  ')}`;
}

function findingOf(report: ScanReport, proc: LabProcess): Finding {
  const found = report.findings.filter((f) => f.process?.pid === proc.pid);
  assert.equal(found.length, 1, `one finding for ${proc.describe()}; ${brief(report)}`);
  return found[0] as Finding;
}

function connectionOf(report: ScanReport, proc: LabProcess): JudgedConnection {
  const found = report.connections.filter((c) => c.process?.pid === proc.pid);
  assert.equal(found.length, 1, `one connection for ${proc.describe()}; ${brief(report)}`);
  return found[0] as JudgedConnection;
}

interface Expected {
  exe: string;
  protocol: string;
  severity: Finding['severity'];
  rules: string[];
  ip: string;
  port: number;
}

function assertFinding(report: ScanReport, proc: LabProcess, sourcePort: number, sourceIp: string, want: Expected): Finding {
  const f = findingOf(report, proc);
  const what = `finding for ${proc.label}`;
  assert.equal(f.process?.exe, want.exe, `${what}: exe`);
  assert.equal(f.protocol, want.protocol, `${what}: protocol`);
  assert.equal(f.severity, want.severity, `${what}: severity (reasons: ${f.reasons.join(' | ')})`);
  assert.deepEqual(f.rules, want.rules, `${what}: rules`);
  assert.deepEqual(f.destination, { ip: want.ip, port: want.port }, `${what}: destination`);
  assert.deepEqual(f.source, { ip: sourceIp, port: sourcePort }, `${what}: source`);
  assert.equal(f.state, 'ESTABLISHED', `${what}: state`);
  assert.equal(f.transport, 'tcp');
  assert.equal(f.technique, 'T1071.005');
  const conn = connectionOf(report, proc);
  assert.equal(conn.verdict.outcome, 'finding');
  assert.equal(conn.verdict.destinationClass, 'external');
  return f;
}

test('scan --json attributes real pub/sub connections to their processes and judges them', { timeout: 90_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const ext = lab.external;
  const int = lab.internal;
  const ext6 = ext.ipv6 as string;
  const extAlt = ext.ipv4Alt as string;

  // Test hosts: a real mosquitto on both external IPv4 addresses and the IPv6 one, another on the
  // internal host, and a listener for XMPP (IPv4 and IPv6), AMQP, STOMP and HTTPS.
  await lab.startMosquitto(ext, 1883);
  await lab.startMosquitto(int, 1883);
  await lab.startTcpSink(ext, [
    { ip: ext.ipv4, port: 5222 }, { ip: ext6, port: 5222 }, { ip: ext.ipv4, port: 5672 }, { ip: ext.ipv4, port: 61613 }, { ip: ext.ipv4, port: 443 },
  ]);

  const python = await realPython3();
  const approvedExe = path.join(lab.tmpDir, 'approved-agent');
  fs.copyFileSync(requireExecutable('socat'), approvedExe);
  fs.chmodSync(approvedExe, 0o755);

  // Clients in the root namespace, each spawned directly (its pid is the socket's owner).
  const sub = lab.spawnRoot('mosquitto_sub', ['-h', ext.ipv4, '-p', '1883', '-t', 'c2/commands/#']);
  const pub = lab.spawnRoot('mosquitto_pub', ['-h', ext.ipv4, '-p', '1883', '-t', 'c2/beacon', '-l']);
  const xmpp = lab.spawnRoot('nc', [ext.ipv4, '5222'], { stdin: XMPP_STREAM });
  const amqp = lab.spawnRoot(python, ['-c', PY_AMQP, ext.ipv4, '5672']);
  const stomp = lab.spawnRoot('socat', ['STDIO', `TCP:${ext.ipv4}:61613`], { stdin: STOMP_CONNECT });
  const xmpp6 = lab.spawnRoot('nc', ['-6', ext6, '5222'], { stdin: XMPP_STREAM });
  const internal = lab.spawnRoot('mosquitto_sub', ['-h', int.ipv4, '-p', '1883', '-t', 'sensors/temperature']);
  const allowlisted = lab.spawnRoot('mosquitto_sub', ['-h', extAlt, '-p', '1883', '-t', 'sensors/temperature']);
  const https = lab.spawnRoot('nc', [ext.ipv4, '443']);
  const approved = lab.spawnRoot(approvedExe, ['STDIO', `TCP:${ext.ipv4}:5672`]);

  const [sSub, sPub, sXmpp, sAmqp, sStomp, sXmpp6] = await Promise.all([
    waitForEstablished(sub, ext.ipv4, 1883),
    waitForEstablished(pub, ext.ipv4, 1883),
    waitForEstablished(xmpp, ext.ipv4, 5222),
    waitForEstablished(amqp, ext.ipv4, 5672),
    waitForEstablished(stomp, ext.ipv4, 61613),
    waitForEstablished(xmpp6, ext6, 5222),
    waitForEstablished(internal, int.ipv4, 1883),
    waitForEstablished(allowlisted, extAlt, 1883),
    waitForEstablished(https, ext.ipv4, 443),
    waitForEstablished(approved, ext.ipv4, 5672),
  ]);

  const config = writeConfig(lab, 'scan.yaml', {
    brokerAllowList: [`${extAlt}/32`],
    appContextFilter: [{ process: `^${escapeRegex(approvedExe)}$`, comment: 'lab approved agent' }],
  });
  const { code, report, stderr } = await runScanJson(['--config', config]);
  assert.equal(code, 1, `exit code 1 with findings; stderr: ${stderr}; ${brief(report)}`);
  assert.equal(report.adapter, 'procfs');

  const v4 = ext.gatewayIpv4;
  const base = ['PUBSUB-EXTERNAL', 'AN0003'];
  // MQTT HIGH, raised by the unusual process (AN0003) and the C2-looking topic (capped at CRITICAL).
  const fSub = assertFinding(report, sub, sSub!.local.port, v4, { exe: realExe('mosquitto_sub'), protocol: 'MQTT', severity: 'CRITICAL', rules: [...base, 'TOPIC-ANOMALY'], ip: ext.ipv4, port: 1883 });
  assert.deepEqual(fSub.details?.topics, ['c2/commands/#']);
  const fPub = assertFinding(report, pub, sPub!.local.port, v4, { exe: realExe('mosquitto_pub'), protocol: 'MQTT', severity: 'CRITICAL', rules: [...base, 'TOPIC-ANOMALY'], ip: ext.ipv4, port: 1883 });
  assert.deepEqual(fPub.details?.topics, ['c2/beacon']);
  assert.equal(fPub.details?.payloadSource, 'stdin-lines');
  // XMPP and STOMP HIGH, raised to CRITICAL by the unusual process; AMQP MEDIUM raised to HIGH.
  assertFinding(report, xmpp, sXmpp!.local.port, v4, { exe: realExe('nc'), protocol: 'XMPP', severity: 'CRITICAL', rules: base, ip: ext.ipv4, port: 5222 });
  assertFinding(report, amqp, sAmqp!.local.port, v4, { exe: fs.realpathSync(python), protocol: 'AMQP', severity: 'HIGH', rules: base, ip: ext.ipv4, port: 5672 });
  assertFinding(report, stomp, sStomp!.local.port, v4, { exe: realExe('socat'), protocol: 'STOMP', severity: 'CRITICAL', rules: base, ip: ext.ipv4, port: 61613 });
  const f6 = assertFinding(report, xmpp6, sXmpp6!.local.port, ext.gatewayIpv6 as string, { exe: realExe('nc'), protocol: 'XMPP', severity: 'CRITICAL', rules: base, ip: ext6, port: 5222 });
  assert.match(f6.destination.ip, /^2001:db8:b7:/, 'IPv6 destination in RFC 5952 short form');
  assert.doesNotMatch(f6.destination.ip, /0db8|:0:0:|:0000/, 'IPv6 destination in RFC 5952 short form');

  // Benign: internal broker (counted, not listed), allowlisted broker, approved app, port 443.
  assert.ok(!report.connections.some((c) => c.process?.pid === internal.pid || c.destination.ip === int.ipv4), `internal connection not listed; ${brief(report)}`);
  assert.ok(report.summary.ignoredInternal >= 1, `summary.ignoredInternal counts the internal connection; ${brief(report)}`);
  const allowConn = connectionOf(report, allowlisted);
  assert.equal(allowConn.verdict.outcome, 'allowed');
  assert.match(allowConn.verdict.reasons.join(' '), /brokerAllowList/);
  assert.deepEqual(allowConn.destination, { ip: extAlt, port: 1883 });
  const approvedConn = connectionOf(report, approved);
  assert.equal(approvedConn.verdict.outcome, 'allowed');
  assert.match(approvedConn.verdict.reasons.join(' '), /appContextFilter/);
  assert.equal(approvedConn.process?.exe, approvedExe);
  for (const benign of [internal, allowlisted, https, approved]) {
    assert.ok(!report.findings.some((f) => f.process?.pid === benign.pid), `no finding for ${benign.label}`);
  }
  assert.ok(!report.connections.some((c) => c.process?.pid === https.pid || c.destination.port === 443), 'port 443 is not a pub/sub port');
  assert.ok(report.summary.allowed >= 2 && report.summary.findings >= 6 && report.summary.judged >= 8, brief(report));

  // The YARA-L aggregate names every process and target seen.
  const corr = report.correlations[0];
  assert.ok(corr, 'a per-host correlation');
  for (const exe of [realExe('mosquitto_sub'), realExe('mosquitto_pub'), realExe('nc'), realExe('socat'), fs.realpathSync(python)]) {
    assert.ok(corr.initiating_process.includes(exe), `correlation names ${exe}`);
  }
  for (const target of [ext.ipv4, ext6]) assert.ok(corr.target_ips.includes(target), `correlation names ${target}`);
});

test('scan judges loopback brokers only with --include-loopback', { timeout: 60_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const port = await freePort();
  await lab.startMosquitto('root', port);
  const pub = lab.spawnRoot('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'lab/loopback', '-l']);
  await waitForEstablished(pub, '127.0.0.1', port);
  const config = writeConfig(lab, 'loopback.yaml', onlyPort(port));

  const judged = await runScanJson(['--include-loopback', '--config', config]);
  assert.equal(judged.code, 1, `exit 1 with --include-loopback; ${brief(judged.report)}`);
  const f = findingOf(judged.report, pub);
  assert.deepEqual(f.destination, { ip: '127.0.0.1', port });
  assert.equal(f.protocol, 'MQTT');
  assert.equal(f.process?.exe, realExe('mosquitto_pub'));
  assert.deepEqual(f.rules, ['PUBSUB-EXTERNAL', 'AN0003']);
  assert.equal(f.severity, 'CRITICAL');
  assert.equal(connectionOf(judged.report, pub).verdict.destinationClass, 'external');

  const ignored = await runScanJson(['--config', config]);
  assert.equal(ignored.code, 0, `exit 0 without findings; ${brief(ignored.report)}`);
  assert.deepEqual(ignored.report.findings, []);
  assert.ok(!ignored.report.connections.some((c) => c.process?.pid === pub.pid), brief(ignored.report));
  assert.ok(ignored.report.summary.ignoredLoopback >= 1, `summary.ignoredLoopback counts it; ${brief(ignored.report)}`);
});

/** The hard RLIMIT_NOFILE of this process (what prlimit may raise a child's soft limit to without privileges). */
function hardNofile(): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
}

test('no fd walk on an idle host: 10,000 loopback sockets cost only the socket tables', { timeout: 90_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const CONNECTIONS = 5000;
  const nofile = Math.min(hardNofile(), 1 << 20);
  if (nofile < 2 * CONNECTIONS + 100) {
    const reason = `the hard open-file limit (${nofile}) is below the ${2 * CONNECTIONS + 100} this test needs`;
    if (process.env.CI === 'true') assert.fail(reason);
    t.skip(reason);
    return;
  }
  const port = await freePort();
  const config = writeConfig(lab, 'idle.yaml', onlyPort(port));
  // prlimit execs the command: the pid stays the flood's own.
  const flood = lab.spawnRoot('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, path.join(__dirname, '..', 'helpers', 'loopback-flood.mjs'), String(port), String(CONNECTIONS)]);
  await flood.waitForOutput(new RegExp(`^READY ${CONNECTIONS}$`, 'm'), 60_000);

  const idle = await runScanJson(['--config', config]);
  assert.equal(idle.code, 0, brief(idle.report));
  assert.equal(idle.report.stats.fdWalks, 0, `no /proc/<pid>/fd walk without candidates; ${brief(idle.report)}`);
  assert.equal(idle.report.stats.candidates, 0, brief(idle.report));
  // The netlink reader's kernel filter returns only sockets to a watched port (the clients' ends).
  assert.ok((idle.report.stats.sockets ?? 0) >= CONNECTIONS, `read at least ${CONNECTIONS} sockets; ${brief(idle.report)}`);
  assert.ok(idle.report.summary.ignoredLoopback >= CONNECTIONS, `every loopback client counted as ignored; ${brief(idle.report)}`);

  // One external candidate is enough to walk the fd tables, and it is found among the 10,000.
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port }]);
  const nc = lab.spawnRoot('nc', [lab.external.ipv4, String(port)]);
  await waitForEstablished(nc, lab.external.ipv4, port);
  const busy = await runScanJson(['--config', config]);
  assert.equal(busy.code, 1, brief(busy.report));
  assert.ok((busy.report.stats.fdWalks ?? 0) > 0, `fd walk with a candidate; ${brief(busy.report)}`);
  assert.ok((busy.report.stats.candidates ?? 0) >= 1, brief(busy.report));
  const f = findingOf(busy.report, nc);
  assert.equal(f.process?.exe, realExe('nc'));
  assert.deepEqual(f.destination, { ip: lab.external.ipv4, port });
});

test('the table of a host with hundreds of closed sockets fits on one screen, attributed findings first', { timeout: 90_000 }, async (t) => {
  const lab = labs.get(t);
  if (!lab) return;
  t.after(() => lab.stopAll());
  const SHORT = 300;
  const port = await freePort();
  const config = writeConfig(lab, 'closed.yaml', onlyPort(port));
  await lab.startTcpSink(lab.external, [{ ip: lab.external.ipv4, port }]);
  // 300 short connections, each closed by the client at once: closing sockets with no owner.
  const shortLived = lab.spawnRoot(await realPython3(), ['-c', `import socket, sys\nfor i in range(${SHORT}):\n    socket.create_connection((sys.argv[1], int(sys.argv[2]))).close()\nprint("DONE", flush=True)\nsys.stdin.read()\n`, lab.external.ipv4, String(port)]);
  await shortLived.waitForOutput(/^DONE$/m, 60_000);
  const nc = lab.spawnRoot('nc', [lab.external.ipv4, String(port)]);
  await waitForEstablished(nc, lab.external.ipv4, port);

  const json = await runScanJson(['--config', config]);
  const closed = json.report.findings.filter((f) => f.process === null && f.destination.port === port);
  assert.ok(closed.length >= SHORT - 10, `the closed sockets are findings in --json (${closed.length}); ${brief(json.report)}`);
  assert.ok(json.report.groups.some((g) => !g.attributed && g.count === closed.length), 'one group holds them');

  const r = await runCli(['scan', '--config', config]);
  assert.equal(r.code, 1);
  const lines = r.stdout.split('\n');
  const mine = lines.filter((l) => l.includes(`${lab.external.ipv4}:${port}`));
  assert.ok(lines.length < 45, `the table has ${lines.length} lines:\n${r.stdout}`);
  const header = lines.findIndex((l) => l.startsWith('SEVERITY'));
  assert.ok(header > 0, r.stdout);
  const firstOwnRow = lines.slice(header + 1).find((l) => /^[A-Z]+ /.test(l) && l.includes(`:${port} `));
  assert.match(firstOwnRow ?? '', new RegExp(`\\s${nc.pid}\\s`), `nc's attributed finding is listed before the closed sockets:\n${r.stdout}`);
  assert.ok(mine.some((l) => new RegExp(`^  ${closed.length} closed connections to ${escapeRegex(lab.external.ipv4)}:${port} `).test(l)), `one summary line for the closed sockets:\n${r.stdout}`);
});
