// The forwarder sink's pure parts (size cap, syslog framing, config) and its connection handling
// against real TCP servers in this process that behave like the Chronicle forwarder does: cut idle
// connections, or reset a connection under a write.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import type { OutRecord } from '../../src/core/sink';
import { memoryLogger } from '../../src/core/logger';
import { Backoff } from '../../src/sinks/backoff';
import { parseByteSize } from '../../src/config/parts';
import { toJsonLine } from '../../src/format/jsonline';
import { defaultIdOf, defaultIsFinding, fastJsonLine } from '../../src/sinks/delivery';
import { ForwarderError, ForwarderSink, forwarderSinkSchema } from '../../src/sinks/forwarder/forwarder';
import { capRecord, waterLevel } from '../../src/sinks/forwarder/size-cap';
import { syslogHeader, syslogHostname, syslogSeverity } from '../../src/sinks/forwarder/syslog';
import { until } from '../helpers/until';

const servers: net.Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

test('config: defaults, sizes with units, and the limits that must hold', () => {
  const c = forwarderSinkSchema.parse({ type: 'forwarder', host: 'collector.example.net' });
  assert.equal(c.port, 10514);
  assert.equal(c.format, 'sysmon', 'the default: Sysmon EID 3 lines for the prebuilt WINDOWS_SYSMON parser');
  assert.equal(c.framing, 'json');
  assert.equal(c.syslog.facility, 'local0');
  assert.deepEqual(c.tls, { enabled: false, caFile: null, certFile: null, keyFile: null, servername: null, minVersion: 'TLSv1.2', insecureSkipVerify: false });
  assert.equal(c.maxEventBytes, 262144);
  assert.equal(c.ackGrace, 250);
  assert.equal(c.idleClose, 50_000);
  assert.deepEqual(c.reconnect, { initialDelay: 500, maxDelay: 30_000 });
  assert.equal(forwarderSinkSchema.parse({ type: 'forwarder', host: 'h', maxEventBytes: '512KiB' }).maxEventBytes, 524288);
  assert.throws(() => forwarderSinkSchema.parse({ type: 'forwarder', host: 'h', maxEventBytes: '1MB' }), /below 1000000/);
  assert.throws(() => forwarderSinkSchema.parse({ type: 'forwarder', host: 'h', tls: { enabled: true, certFile: 'c.pem' } }), /certFile and tls.keyFile go together/);
  assert.throws(() => forwarderSinkSchema.parse({ type: 'forwarder', host: 'h', tls: { verify: false } }), /verify/);
  assert.equal(parseByteSize('8MiB'), 8 * 1024 * 1024);
  assert.equal(parseByteSize('500KB'), 500_000);
  assert.equal(parseByteSize('lots'), null);
});

test('RFC 5424 header bytes and the severity mapping', () => {
  const t = new Date('2026-01-02T03:04:05.678Z');
  assert.equal(syslogHeader(16, 6, t, 'sensor-01', 4242), '<134>1 2026-01-02T03:04:05.678Z sensor-01 brokerwatch 4242 - - ');
  assert.equal(syslogHostname('bad host\u001b[1m\u00e9'), 'bad_host_[1m_');
  assert.equal(syslogHostname(''), '-');
  assert.equal(syslogSeverity({ security_result: [{ severity: 'LOW' }, { severity: 'HIGH' }] }, true), 3, 'the most severe result');
  assert.equal(syslogSeverity({ class_uid: 2004, severity_id: 5 }, true), 2);
  assert.equal(syslogSeverity({ class_uid: 4001, severity_id: 1 }, false), 6);
  assert.equal(syslogSeverity({ security_result: [{}] }, true), 4, 'a finding without a readable severity is a warning');
  assert.equal(syslogSeverity({ metadata: {} }, false), 6);
});

test('findings and ids are recognised in UDM and OCSF records', () => {
  assert.equal(defaultIsFinding({ security_result: [{ severity: 'HIGH' }] }), true);
  assert.equal(defaultIsFinding({ class_uid: 2004 }), true);
  assert.equal(defaultIsFinding({ class_uid: 4001, metadata: { uid: 'x' } }), false);
  assert.equal(defaultIsFinding({ metadata: { product_log_id: 'x' } }), false);
  assert.equal(defaultIdOf({ metadata: { product_log_id: 'abc' } }), 'abc');
  assert.equal(defaultIdOf({ metadata: { uid: 'def' } }), 'def');
  assert.equal(defaultIdOf({ x: 1 }), undefined);
});

test('fastJsonLine gives exactly the bytes of toJsonLine, hostile text included', () => {
  const values: unknown[] = [
    { a: 'plain', n: 1, b: [true, null] },
    { cmd: 'x\n"\\\u0000\u001b[2J\u007f\u009b\u2028\u2029 é😀', lone: 'hi\ud800lo \udc00 end', pair: '\ud83d\ude00' },
    { text: 'a literal backslash-u: \\ud800 stays text' },
    { del: 'ascii only but \u007f', tab: '\t' },
    { ['key\u2028']: 'v' },
    'just a string\u0085',
  ];
  for (const v of values) assert.equal(fastJsonLine(v, toJsonLine), toJsonLine(v), JSON.stringify(v));
  assert.throws(() => fastJsonLine(undefined, toJsonLine), TypeError);
});

test('water level: the longest strings are cut to one common length', () => {
  assert.equal(waterLevel([1000, 10, 10], 500), 500);
  assert.equal(waterLevel([1000, 800, 10], 600), 600);
  assert.equal(waterLevel([100, 100], 1000), 0);
});

test('size cap: only the long strings are cut, the event stays valid and says what was cut', () => {
  const hostile = 'x\n"\\\u0000\u001b\u2028é😀'.repeat(40_000);
  const udm: OutRecord = {
    metadata: { product_log_id: '0123456789abcdef0123456789abcdef' },
    principal: { process: { command_line: hostile, file: { full_path: '/usr/bin/python3' } } },
    security_result: [{ description: 'y'.repeat(300_000) }],
    additional: { truncated_fields: ['principal.process.file.full_path: 5000 bytes, kept 4096'] },
  };
  const max = 64 * 1024;
  const r = capRecord(udm, { maxBytes: max });
  assert.ok(r.json !== null);
  assert.ok(Buffer.byteLength(r.json, 'utf8') <= max, `${Buffer.byteLength(r.json, 'utf8')} bytes`);
  assert.ok(Buffer.byteLength(r.json, 'utf8') > max - 2048, 'the cap is used, not wasted');
  assert.ok(!r.json.includes('\n') && !r.json.includes('\u2028'), 'one line');
  const out = JSON.parse(r.json) as typeof udm & { principal: { process: { command_line: string; file: { full_path: string } } }; additional: { truncated_fields: string[] } };
  assert.equal((out.metadata as { product_log_id: string }).product_log_id, '0123456789abcdef0123456789abcdef');
  assert.equal(out.principal.process.file.full_path, '/usr/bin/python3');
  assert.ok(hostile.startsWith(out.principal.process.command_line), 'a prefix, no split character');
  assert.equal(out.additional.truncated_fields[0], 'principal.process.file.full_path: 5000 bytes, kept 4096', 'earlier notes are kept');
  assert.match(out.additional.truncated_fields[1] ?? '', /^principal\.process\.command_line: 600000 bytes, kept \d+$/);
  assert.match(out.additional.truncated_fields[2] ?? '', /^security_result\[0\]\.description: 300000 bytes, kept \d+$/);

  const ocsf = capRecord({ class_uid: 4001, metadata: { uid: 'u' }, actor: { process: { cmd_line: hostile } } }, { maxBytes: max });
  assert.ok(ocsf.json !== null);
  assert.match(JSON.stringify((JSON.parse(ocsf.json) as { unmapped: unknown }).unmapped), /actor\.process\.cmd_line: 600000 bytes/);
  const other = capRecord({ text: hostile }, { maxBytes: max });
  assert.ok(other.json !== null);
  assert.match(other.json, /"brokerwatch_truncated":\["text: 600000 bytes, kept \d+"\]/);

  const small = { metadata: { product_log_id: 'a' }, n: 1 };
  assert.deepEqual(capRecord(small, { maxBytes: max }), { json: '{"metadata":{"product_log_id":"a"},"n":1}', notes: [] });
  const hopeless = capRecord({ many: Array.from({ length: 20_000 }, (_, i) => i) }, { maxBytes: 4096 });
  assert.equal(hopeless.json, null);
});

test('backoff: full jitter under a doubling ceiling, capped, reset after success', () => {
  let x = 0.999;
  const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => x });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [99, 199, 399, 799, 999, 999]);
  b.reset();
  x = 0.5;
  assert.equal(b.next(), 50);
});

/** A TCP collector: keeps every line; `onSocket` lets a test act like the forwarder (idle cut, reset). */
async function lineServer(onSocket?: (s: net.Socket) => void): Promise<{ port: number; lines: string[]; connections: () => number }> {
  const lines: string[] = [];
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
    });
    s.on('error', () => undefined);
    onSocket?.(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, lines, connections: () => connections };
}

const rec = (i: number): OutRecord => ({ metadata: { product_log_id: `id-${i}` }, n: i });

test('a collector that cuts idle connections (like the forwarder after 60 s) costs nothing: the next write reconnects', async () => {
  const srv = await lineServer((s) => s.setTimeout(150, () => s.end())); // a 150 ms idle cut
  const sink = new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: srv.port, ackGrace: '20ms' }), { log: memoryLogger([]) });
  await sink.write([rec(1)]);
  await until('the cut noticed by the sink', () => sink.stats.connected === false, 10_000, 20);
  await sink.write([rec(2)]);
  await sink.close();
  await until('both lines at the collector', () => srv.lines.length >= 2, 10_000, 20);
  assert.deepEqual(srv.lines.map((l) => (JSON.parse(l) as { n: number }).n), [1, 2]);
  assert.equal(srv.connections(), 2);
});

test('idleClose: the sink closes an idle connection itself, before the collector would', async () => {
  let closedByClient = 0;
  const srv = await lineServer((s) => s.on('end', () => closedByClient++));
  const sink = new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: srv.port, ackGrace: '10ms', idleClose: '100ms' }), { log: memoryLogger([]) });
  await sink.write([rec(1)]);
  await until('the sink closing its idle connection (the collector never does here)', () => closedByClient === 1, 10_000, 20);
  await sink.write([rec(2)]);
  await sink.close();
  assert.equal(srv.connections(), 2);
});

test('a connection reset under a write is not a delivery: write() rejects, and a retry hint follows', async () => {
  const srv = await lineServer((s) => s.once('data', () => s.resetAndDestroy()));
  const entries: { level: string; message: string }[] = [];
  const sink = new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: srv.port, ackGrace: '300ms', reconnect: { initialDelay: '1s', maxDelay: '1s' } }), {
    log: memoryLogger(entries), random: () => 0.5,
  });
  await assert.rejects(sink.write([rec(1)]), (err: ForwarderError) => err instanceof ForwarderError && /ECONNRESET|closed/.test(err.message));
  const hint = sink.retryDelayMs();
  assert.ok(hint > 300 && hint <= 500, `retry in ${hint} ms`);
  await assert.rejects(sink.write([rec(2)]), (err: ForwarderError) => err.code === 'BACKOFF', 'during the backoff a write fails at once');
  assert.ok(entries.some((e) => e.level === 'warn' && /the batch is not confirmed/.test(e.message)));
  await sink.close();
});

test('a refused connection names the collector and asks whether it listens', async () => {
  const port = srvPortThatIsClosed();
  const sink = new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: await port }), { log: memoryLogger([]) });
  await assert.rejects(sink.write([rec(1)]), /^ForwarderError: collector 127\.0\.0\.1:\d+ refused the connection \(is the collector listening on that port\?\)$/);
  await sink.close();
});

async function srvPortThatIsClosed(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('write after close is an error, and a missing CA file is named', async () => {
  const sink = new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: 9, tls: { enabled: true, caFile: '/nonexistent/ca.pem' } }), { log: memoryLogger([]) });
  await assert.rejects(sink.write([rec(1)]), /tls\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT/);
  await sink.close();
  await assert.rejects(sink.write([rec(1)]), /write after close/);
});
