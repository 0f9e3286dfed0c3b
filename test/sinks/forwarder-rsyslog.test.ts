// The forwarder sink and the spool against a real rsyslog (imtcp, and imtcp over TLS with the gtls
// driver), started by the test as its own process on a loopback port. What rsyslog wrote to its
// output file (template %rawmsg%) is what a Chronicle forwarder's syslog collector would get.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { OutRecord } from '../../src/core/sink';
import { memoryLogger } from '../../src/core/logger';
import { ForwarderError, ForwarderSink, type ForwarderSinkConfig, forwarderSinkSchema } from '../../src/sinks/forwarder/forwarder';
import { listSegments, SpooledSink, spoolSchema } from '../../src/sinks/spool/spool';
import { syslogHostname } from '../../src/sinks/forwarder/syslog';
import { REPO_ROOT } from '../helpers/cli';
import { freePort } from '../helpers/lab-net';
import { type LabProcess, spawnProcess } from '../helpers/lab-process';
import { requireTools, Rsyslog } from '../helpers/rsyslog';
import { makeTestPki, type TestPki } from '../helpers/test-pki';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const AGENT = path.join(REPO_ROOT, 'test', 'helpers', 'spool-agent.ts');

let tmp = '';
let pki: Promise<TestPki> | null = null;
const collectors: Rsyslog[] = [];
const children: LabProcess[] = [];

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-forwarder-'));
});

after(async () => {
  for (const c of children) await c.stop(1000);
  for (const r of collectors) await r.stop();
  if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
});

interface Tools { rsyslogd: string; openssl: string }

function tools(t: TestContext): Tools | null {
  return requireTools(t, ['rsyslogd', 'openssl']) as Tools | null;
}

function testPki(openssl: string): Promise<TestPki> {
  pki ??= makeTestPki(openssl, path.join(tmp, 'pki'));
  return pki;
}

async function collector(tl: Tools, name: string, tls: boolean): Promise<Rsyslog> {
  const p = tls ? await testPki(tl.openssl) : null;
  const r = new Rsyslog(tl.rsyslogd, path.join(tmp, name), await freePort(), p ? { caFile: p.caFile, certFile: p.serverCert, keyFile: p.serverKey } : null);
  collectors.push(r);
  return r;
}

function forwarderConfig(r: Rsyslog, over: Record<string, unknown> = {}): ForwarderSinkConfig {
  return forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: r.port, reconnect: { initialDelay: '50ms', maxDelay: '400ms' }, ...over });
}

/** The golden UDM and OCSF lines of the formatters' tests: real records, hostile text included. */
function fixtureLines(format: 'udm' | 'ocsf' | 'sysmon', names: readonly string[]): string[] {
  return names.map((n) => fs.readFileSync(path.join(FIXTURES, format, `${n}.json`), 'utf8').replace(/\n$/, ''));
}

const idOf = (r: OutRecord) => ((r.metadata as Record<string, unknown>).product_log_id ?? (r.metadata as Record<string, unknown>).uid) as string;

test('JSON lines over TCP: one event per line, byte for byte, and a 1 MB field is cut to the cap and says so', async (t) => {
  const tl = tools(t);
  if (!tl) return;
  const r = await collector(tl, 'tcp-json', false);
  await r.start();
  const golden = [
    ...fixtureLines('udm', ['connection-mqtt-tls', 'finding-det0002', 'hostile', 'hostile-1mb', 'correlation-window']),
    ...fixtureLines('ocsf', ['connection-mqtt-tls', 'finding-det0002', 'hostile']),
    ...fixtureLines('sysmon', ['connection-mqtt-tls', 'finding-det0002', 'hostile']),
  ];
  const records = golden.map((l) => JSON.parse(l) as OutRecord);
  const huge = JSON.parse(golden[1] as string) as OutRecord & { principal: { process: { command_line: string } } };
  const hostileText = 'a\nb\r\n"q" \\ \u0000\u001b[31m \u2028 é😀 ';
  huge.principal.process.command_line = hostileText.repeat(Math.ceil((1024 * 1024) / hostileText.length));
  const entries: { level: string; message: string }[] = [];
  const sink = new ForwarderSink(forwarderConfig(r), { log: memoryLogger(entries) });
  await sink.write([...records, huge]);
  await sink.close();
  const lines = await r.waitFor((ls) => ls.length >= golden.length + 1, `${golden.length + 1} lines`);
  assert.equal(lines.length, golden.length + 1, 'one line per event, no line split or merged');
  assert.deepEqual(lines.slice(0, golden.length), golden, 'the lines arrive exactly as the formatter made them');
  const cut = lines.at(-1) as string;
  assert.ok(Buffer.byteLength(cut, 'utf8') <= 256 * 1024, `the big event is within the 256 KiB cap: ${Buffer.byteLength(cut, 'utf8')} bytes`);
  const parsed = JSON.parse(cut) as typeof huge & { additional: { truncated_fields: string[] } };
  assert.equal(idOf(parsed), idOf(huge), 'the id survives');
  assert.ok(huge.principal.process.command_line.startsWith(parsed.principal.process.command_line), 'a prefix of the command line is kept');
  assert.ok(parsed.principal.process.command_line.length > 100_000, 'most of the cap is used for it');
  const note = parsed.additional.truncated_fields.find((f) => f.startsWith('principal.process.command_line: '));
  assert.match(note ?? '', /^principal\.process\.command_line: \d{7} bytes, kept \d+$/);
  assert.deepEqual(sink.stats.truncated, 1);
  assert.equal(sink.stats.sent, golden.length + 1);
});

test('RFC 5424 framing over TLS: header fields right, severity from the finding, the JSON intact', async (t) => {
  const tl = tools(t);
  if (!tl) return;
  const r = await collector(tl, 'tls-syslog', true);
  await r.start();
  const p = await testPki(tl.openssl);
  const golden = [...fixtureLines('udm', ['connection-mqtt-tls', 'finding-det0002', 'finding-reputation']), ...fixtureLines('ocsf', ['connection-mqtt-tls', 'finding-det0002'])];
  const records = golden.map((l) => JSON.parse(l) as OutRecord);
  const entries: { level: string; message: string }[] = [];
  const sink = new ForwarderSink(forwarderConfig(r, { framing: 'syslog', tls: { enabled: true, caFile: p.caFile } }), { log: memoryLogger(entries) });
  const before = Date.now();
  await sink.write(records);
  await sink.close();
  const lines = await r.waitFor((ls) => ls.length >= golden.length, `${golden.length} lines`);
  assert.equal(lines.length, golden.length);
  const expectedSeverity = records.map((rec) => {
    const sr = rec.security_result as { severity: string }[] | undefined;
    if (sr) return { CRITICAL: 2, HIGH: 3, MEDIUM: 4, LOW: 5 }[sr[0]?.severity as string] ?? 6;
    return rec.class_uid === 2004 ? ({ 5: 2, 4: 3, 3: 4, 2: 5 } as Record<number, number>)[rec.severity_id as number] ?? 6 : 6;
  });
  lines.forEach((line, i) => {
    const m = /^<(\d+)>1 (\S+) (\S+) brokerwatch (\d+) - - (\{.*\})$/.exec(line);
    assert.ok(m, `an RFC 5424 line: ${line.slice(0, 120)}`);
    assert.equal(Number(m[1]), 16 * 8 + (expectedSeverity[i] as number), `PRI of line ${i}: facility local0, severity ${expectedSeverity[i]}`);
    const ts = Date.parse(m[2] as string);
    assert.ok(ts >= before - 1000 && ts <= Date.now() + 1000, `timestamp ${m[2]}`);
    assert.equal(m[3], syslogHostname(os.hostname()));
    assert.equal(Number(m[4]), process.pid);
    assert.equal(m[5], golden[i], 'MSG is the JSON line, unchanged');
  });
  assert.ok(expectedSeverity.includes(2) && expectedSeverity.includes(6), 'both a critical finding and informational telemetry were checked');
  assert.ok(entries.some((e) => /connected \(TLS TLSv1\.[23], certificate verified\)/.test(e.message)), JSON.stringify(entries));
});

test('TLS with the wrong CA or the wrong name is refused with an error that names the problem', async (t) => {
  const tl = tools(t);
  if (!tl) return;
  const r = await collector(tl, 'tls-refuse', true);
  await r.start();
  const p = await testPki(tl.openssl);
  const record = JSON.parse(fixtureLines('udm', ['connection-mqtt-tls'])[0] as string) as OutRecord;

  const wrongCa = new ForwarderSink(forwarderConfig(r, { tls: { enabled: true, caFile: p.otherCaFile } }), { log: memoryLogger([]) });
  await assert.rejects(wrongCa.write([record]), (err: ForwarderError) => {
    assert.ok(err instanceof ForwarderError);
    assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(err.message, new RegExp(`^TLS certificate verification failed: collector 127\\.0\\.0\\.1:${r.port} presented a certificate not signed by the CA in tls\\.caFile \\(.*other-ca\\.pem\\)`));
    return true;
  });
  assert.ok(wrongCa.retryDelayMs() >= 0);
  assert.equal(wrongCa.stats.connectFailures, 1);
  await wrongCa.close();

  const wrongName = new ForwarderSink(forwarderConfig(r, { tls: { enabled: true, caFile: p.caFile, servername: 'collector.example.com' } }), { log: memoryLogger([]) });
  await assert.rejects(wrongName.write([record]), /TLS certificate verification failed: the certificate of collector 127\.0\.0\.1:\d+ is not valid for the name collector\.example\.com \(set tls\.servername/);
  await wrongName.close();

  const right = new ForwarderSink(forwarderConfig(r, { tls: { enabled: true, caFile: p.caFile, minVersion: 'TLSv1.3' } }), { log: memoryLogger([]) });
  await right.write([record]); // the right CA and name, TLS 1.3 only: accepted
  await right.close();

  // Verification off is possible only explicitly, and says so at every connect.
  const entries: { level: string; message: string }[] = [];
  const insecure = new ForwarderSink(forwarderConfig(r, { tls: { enabled: true, caFile: p.otherCaFile, insecureSkipVerify: true } }), { log: memoryLogger(entries) });
  await insecure.write([record]);
  await insecure.close();
  assert.ok(entries.some((e) => e.level === 'warn' && /TLS certificate verification is OFF \(tls\.insecureSkipVerify: true\)/.test(e.message)));
  const lines = await r.waitFor((ls) => ls.length >= 2, '2 lines');
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(r.lines().length, 2, 'nothing arrived over the refused connections');
  assert.equal(lines[0], fixtureLines('udm', ['connection-mqtt-tls'])[0]);
});

test('outage: the collector is stopped while 50 records are written; after its restart all 100 arrive', async (t) => {
  const tl = tools(t);
  if (!tl) return;
  const r = await collector(tl, 'outage', true);
  await r.start();
  const p = await testPki(tl.openssl);
  const entries: { level: string; message: string }[] = [];
  const log = memoryLogger(entries);
  const forwarder = new ForwarderSink(forwarderConfig(r, { tls: { enabled: true, caFile: p.caFile } }), { log });
  const spoolDir = path.join(tmp, 'outage-spool');
  const sink = await SpooledSink.open(spoolSchema.parse({ path: spoolDir, batchSize: 20, retry: { initialDelay: '50ms', maxDelay: '400ms' } }), forwarder, { log });
  const rec = (i: number): OutRecord => ({ metadata: { product_log_id: `outage-${i}`, event_type: 'NETWORK_CONNECTION' }, principal: { process: { command_line: `client ${i}` } } });
  try {
    for (let i = 0; i < 50; i++) await sink.write([rec(i)]);
    await r.waitFor((ls) => ls.length >= 50, 'the first 50 records');
    // Arrived is not yet confirmed: a record leaves the spool after the connection stayed healthy for ackGrace.
    const confirmBy = Date.now() + 5000;
    while (sink.stats().pending > 0 && Date.now() < confirmBy) await new Promise((res) => setTimeout(res, 20));
    assert.equal(sink.stats().delivered, 50);
    await r.stop();
    for (let i = 50; i < 100; i++) await sink.write([rec(i)]);
    const deadline = Date.now() + 5000;
    while (sink.stats().deliveryFailures === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.ok(sink.stats().deliveryFailures > 0, 'the outage was noticed');
    assert.equal(sink.stats().pending, 50, 'all 50 records written during the outage wait in the spool');
    await r.start();
    const lines = await r.waitFor((ls) => new Set(ls.map((l) => idOf(JSON.parse(l) as OutRecord))).size >= 100, '100 distinct ids');
    const ids = new Set(lines.map((l) => idOf(JSON.parse(l) as OutRecord)));
    assert.deepEqual([...ids].sort(), Array.from({ length: 100 }, (_, i) => `outage-${i}`).sort());
    await sink.flush();
    const s = sink.stats();
    assert.equal(s.pending, 0);
    assert.equal(s.delivered, 100);
    assert.ok(entries.some((e) => e.level === 'warn' && /delivery failed/.test(e.message)));
    assert.ok(entries.some((e) => e.level === 'info' && /delivery resumed/.test(e.message)));
  } finally {
    await sink.close();
  }
});

function agent(args: object, label: string): LabProcess {
  const proc = spawnProcess(process.execPath, ['--import', 'tsx', AGENT, JSON.stringify(args)], label, null, { cwd: REPO_ROOT });
  children.push(proc);
  return proc;
}

test('kill -9 of the agent while records are spooled: after a restart they arrive', async (t) => {
  const tl = tools(t);
  if (!tl) return;
  const r = await collector(tl, 'kill9', true); // not started yet: the collector is down
  const p = await testPki(tl.openssl);
  const spoolDir = path.join(tmp, 'kill9-spool');
  const common = {
    forwarder: { type: 'forwarder', host: '127.0.0.1', port: r.port, tls: { enabled: true, caFile: p.caFile }, reconnect: { initialDelay: '50ms', maxDelay: '300ms' } },
    spool: { path: spoolDir, fsync: 'never', retry: { initialDelay: '50ms', maxDelay: '300ms' } },
  };

  // 1. The collector is down: 30 records go to the spool; the agent is killed without warning.
  const first = agent({ ...common, mode: 'write', count: 30, prefix: 'down' }, 'agent 1');
  await first.waitForOutput(/SPOOLED 30/, 20_000);
  process.kill(first.pid, 'SIGKILL');
  assert.equal((await first.exited).signal, 'SIGKILL');
  assert.ok(listSegments(spoolDir).length > 0, 'the records are on disk');

  // 2. The collector is up and the agent is killed while it delivers 3000 records.
  await r.start();
  const second = agent({ ...common, mode: 'write', count: 3000, prefix: 'busy' }, 'agent 2');
  await second.waitForOutput(/SPOOLED 3000/, 20_000);
  process.kill(second.pid, 'SIGKILL');
  await second.exited;
  const beforeRestart = r.lines().length;

  // 3. A restarted agent delivers what is left.
  const third = agent({ ...common, mode: 'drain' }, 'agent 3');
  const m = await third.waitForOutput(/DRAINED (\{.*\})/, 30_000);
  assert.equal((await third.exited).code, 0, third.describe());
  const stats = JSON.parse(m[1] as string) as { pending: number; delivered: number };
  assert.equal(stats.pending, 0);
  const ids = new Set((await r.waitFor((ls) => ls.length >= 3030, '3030 lines')).map((l) => idOf(JSON.parse(l) as OutRecord)));
  for (let i = 0; i < 30; i++) assert.ok(ids.has(`down-${i}`), `down-${i} arrived`);
  for (let i = 0; i < 3000; i++) assert.ok(ids.has(`busy-${i}`), `busy-${i} arrived`);
  assert.equal(ids.size, 3030);
  t.diagnostic(`before the restart ${beforeRestart} lines had arrived; the restarted agent delivered ${stats.delivered} records; ${r.lines().length - 3030} duplicates in all`);
});
