import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  connectionToUdm, correlationToUdm, createUdmFormatter, FIELD_LIMITS, findingToUdm, toJsonLine, type UdmEvent,
} from '../../src/format/udm';
import * as cases from './udm-cases';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'udm');

/** Compares the exact bytes of one UDM line with test/fixtures/udm/<name>.json (UPDATE_GOLDEN=1 rewrites it). */
function golden(name: string, event: UdmEvent): void {
  const file = path.join(FIXTURES, `${name}.json`);
  const actual = `${toJsonLine(event)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, actual);
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `golden ${name}.json differs (UPDATE_GOLDEN=1 rewrites it; eyeball the diff)`);
  assert.ok(Buffer.from(actual, 'utf8').equals(fs.readFileSync(file)), `golden ${name}.json: bytes differ`);
}

/** UDM leaves absent fields out: no "", no [], no {} anywhere. */
function assertNoEmpty(value: unknown, where = '$'): void {
  if (Array.isArray(value)) {
    assert.ok(value.length > 0, `${where} is an empty array`);
    value.forEach((v, i) => assertNoEmpty(v, `${where}[${i}]`));
  } else if (value !== null && typeof value === 'object') {
    assert.ok(Object.keys(value).length > 0, `${where} is an empty object`);
    for (const [k, v] of Object.entries(value)) assertNoEmpty(v, `${where}.${k}`);
  } else {
    assert.notEqual(value, '', `${where} is an empty string`);
    assert.notEqual(value, undefined, `${where} is undefined`);
  }
}

const get = (o: unknown, ...keys: (string | number)[]): unknown => keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

test('golden: MQTT over TLS connection from a Linux host', () => {
  golden('connection-mqtt-tls', connectionToUdm(cases.MQTT_TLS, cases.LINUX_HOST, { ...cases.META, protocol: { name: 'MQTT', tls: true } }));
});

test('golden: STOMP over IPv6 from Windows (no UDM enum: UNKNOWN_APPLICATION_PROTOCOL, name in product_event_type)', () => {
  const e = connectionToUdm(cases.STOMP_IPV6_WINDOWS, cases.WINDOWS_HOST, { ...cases.META, protocol: { name: 'STOMP', tls: false } });
  assert.equal(get(e, 'network', 'application_protocol'), 'UNKNOWN_APPLICATION_PROTOCOL');
  assert.equal(get(e, 'metadata', 'product_event_type'), 'pubsub_connection:STOMP');
  golden('connection-stomp-ipv6-windows', e);
});

test('golden: TIME_WAIT without an owner, IPv4-mapped addresses unwrapped, macOS host without asset id', () => {
  const e = connectionToUdm(cases.TIME_WAIT_NO_OWNER, cases.MAC_HOST, { ...cases.META, protocol: { name: 'AMQP', tls: false } });
  assert.deepEqual(get(e, 'target', 'ip'), ['198.51.100.9']);
  assert.equal(get(e, 'principal', 'process'), undefined);
  golden('connection-time-wait', e);
});

test('golden: DET0002 finding with an unusual process and a topic anomaly', () => {
  golden('finding-det0002', findingToUdm(cases.DET0002_FINDING, cases.LINUX_HOST, cases.META));
});

test('golden: reputation finding is NETWORK_COMMAND_AND_CONTROL, others NETWORK_SUSPICIOUS', () => {
  const bad = findingToUdm(cases.REPUTATION_FINDING, cases.LINUX_HOST, cases.META);
  assert.deepEqual(get(bad, 'security_result', 0, 'category'), ['NETWORK_COMMAND_AND_CONTROL']);
  assert.deepEqual(get(findingToUdm(cases.DET0002_FINDING, cases.LINUX_HOST, cases.META), 'security_result', 0, 'category'), ['NETWORK_SUSPICIOUS']);
  golden('finding-reputation', bad);
});

test('golden: YARA-L parity finding', () => {
  golden('finding-yaral', findingToUdm(cases.YARAL_FINDING, cases.LINUX_HOST, cases.META));
});

test('golden: windowed correlation is a GENERIC_EVENT with the outcome variables as detection_fields', () => {
  const e = correlationToUdm(cases.WINDOW_CORRELATION, cases.LINUX_HOST, cases.META);
  assert.equal(get(e, 'metadata', 'event_type'), 'GENERIC_EVENT');
  assert.equal(get(e, 'metadata', 'event_timestamp'), '2025-11-03T11:00:00.000Z');
  golden('correlation-window', e);
});

test('golden: snapshot correlation takes its time from meta.time', () => {
  golden('correlation-snapshot', correlationToUdm(cases.SNAPSHOT_CORRELATION, cases.LINUX_HOST, { ...cases.META, time: '2025-11-03T12:00:00.000Z' }));
  assert.throws(() => correlationToUdm(cases.SNAPSHOT_CORRELATION, cases.LINUX_HOST, cases.META), /needs meta\.time/);
});

test('golden: hostile strings stay inside their JSON values', () => {
  const e = connectionToUdm(cases.HOSTILE_EVENT, cases.LINUX_HOST, { ...cases.META, protocol: { name: 'MQTT', tls: false } });
  golden('hostile', e);
  const line = toJsonLine(e);
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, 'no raw control or line-separator character');
  const back = JSON.parse(line) as UdmEvent;
  const expected = cases.HOSTILE_TEXT.replace('\ud800', '\ufffd').replace('\udc00', '\ufffd');
  assert.equal(get(back, 'principal', 'process', 'command_line'), expected, 'only the lone surrogates changed (to U+FFFD)');
  assert.equal(get(back, 'principal', 'user', 'userid'), 'eve"\\\n');
  assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(line, 'utf8')), line);
});

test('golden: a 1 MiB command line is cut at 64 KiB on a character boundary, and the event says so', () => {
  const input = cases.hostileMegabyteEvent();
  const e = connectionToUdm(input, cases.LINUX_HOST, { ...cases.META, protocol: { name: 'MQTT', tls: false } });
  golden('hostile-1mb', e);
  const back = JSON.parse(toJsonLine(e)) as UdmEvent;
  const cmd = get(back, 'principal', 'process', 'command_line') as string;
  const bytes = Buffer.byteLength(cmd, 'utf8');
  assert.ok(bytes <= FIELD_LIMITS.commandLine && bytes > FIELD_LIMITS.commandLine - 4, `kept ${bytes} bytes`);
  const original = input.process!.cmdline!.replace('\ud800', '\ufffd').replace('\udc00', '\ufffd');
  assert.ok(original.startsWith(cmd), 'the kept text is a prefix of the original');
  assert.ok(Buffer.byteLength(get(back, 'principal', 'process', 'file', 'full_path') as string) <= FIELD_LIMITS.path);
  const notes = get(back, 'additional', 'truncated_fields') as string[];
  assert.ok(notes.some((n) => n.startsWith(`principal.process.command_line: ${Buffer.byteLength(original, 'utf8')} bytes, kept ${bytes}`)), notes.join(' | '));
  assert.ok(notes.some((n) => n.startsWith('principal.process.file.full_path: ')));
});

test('every golden event leaves absent fields out', () => {
  for (const e of [
    connectionToUdm(cases.MQTT_TLS, cases.LINUX_HOST, cases.META),
    connectionToUdm(cases.TIME_WAIT_NO_OWNER, cases.MAC_HOST, cases.META),
    findingToUdm(cases.REPUTATION_FINDING, cases.LINUX_HOST, cases.META),
    correlationToUdm(cases.WINDOW_CORRELATION, { hostname: 'h', platform: 'freebsd' }, cases.META),
  ]) assertNoEmpty(e);
  const bare = connectionToUdm(cases.TIME_WAIT_NO_OWNER, { hostname: 'h', platform: 'freebsd' }, cases.META);
  assert.equal(get(bare, 'principal', 'platform'), undefined, 'no UDM platform for freebsd: left out');
  assert.equal(get(bare, 'network', 'application_protocol'), undefined, 'no protocol given: left out');
  const noExe = connectionToUdm({ ...cases.MQTT_TLS, process: { pid: 77, name: 'kworker\n' } }, cases.LINUX_HOST, cases.META);
  assert.deepEqual(get(noExe, 'principal', 'process'), { pid: '77' });
  assert.equal(get(noExe, 'additional', 'process_name'), 'kworker\n', 'the short name stands in when the path is unknown');
  assert.equal(get(noExe, 'principal', 'user', 'userid'), '1000', 'the socket owner uid when the process gave no user');
});

test('product_log_id is stable per socket and differs between sockets', () => {
  const id = (e: typeof cases.MQTT_TLS) => get(connectionToUdm(e, cases.LINUX_HOST, cases.META), 'metadata', 'product_log_id');
  const base = id(cases.MQTT_TLS);
  assert.match(base as string, /^[0-9a-f]{32}$/);
  assert.equal(id({ ...cases.MQTT_TLS, time: '2025-11-03T10:20:00.000Z' }), base, 'a later scan of the same socket');
  assert.notEqual(id({ ...cases.MQTT_TLS, inode: 918274 }), base);
  assert.notEqual(id({ ...cases.MQTT_TLS, source: { ip: '10.20.0.5', port: 40313 } }), base);
  assert.notEqual(get(connectionToUdm(cases.MQTT_TLS, cases.WINDOWS_HOST, cases.META), 'metadata', 'product_log_id'), base, 'another host');
});

test('UDP, unspecified source address and time normalisation', () => {
  const udp = connectionToUdm({ ...cases.MQTT_TLS, transport: 'udp', state: 'UNCONN', source: { ip: '0.0.0.0', port: 5353 } }, cases.LINUX_HOST, cases.META);
  assert.equal(get(udp, 'network', 'ip_protocol'), 'UDP');
  assert.equal(get(udp, 'network', 'connection_state'), undefined);
  assert.equal(get(udp, 'principal', 'ip'), undefined, '0.0.0.0 says nothing: left out, and the port with it');
  assert.equal(get(udp, 'principal', 'port'), undefined);
  const rfc = connectionToUdm({ ...cases.MQTT_TLS, time: 'Mon, 03 Nov 2025 10:15:30 GMT' }, cases.LINUX_HOST, cases.META);
  assert.equal(get(rfc, 'metadata', 'event_timestamp'), '2025-11-03T10:15:30.000Z');
  const nanos = connectionToUdm({ ...cases.MQTT_TLS, time: '2025-11-03T10:15:30.123456789Z' }, cases.LINUX_HOST, cases.META);
  assert.equal(get(nanos, 'metadata', 'event_timestamp'), '2025-11-03T10:15:30.123456789Z', 'RFC 3339 kept as given');
  assert.throws(() => connectionToUdm({ ...cases.MQTT_TLS, time: 'yesterday' }, cases.LINUX_HOST, cases.META), RangeError);
  const windowsState = connectionToUdm({ ...cases.MQTT_TLS, state: 'FIN_WAIT_2' }, cases.LINUX_HOST, cases.META);
  assert.equal(get(windowsState, 'network', 'connection_state'), 'FIN_WAIT2');
});

test('many rule-specific details are capped at 64 labels, and the event says so', () => {
  const topics = Array.from({ length: 200 }, (_, i) => `t/${i}`);
  const e = findingToUdm({ ...cases.DET0002_FINDING, details: { topics } }, cases.LINUX_HOST, cases.META);
  const fields = get(e, 'security_result', 0, 'detection_fields') as { key: string }[];
  assert.equal(fields.filter((l) => l.key === 'topics').length, 64);
  assert.match((get(e, 'additional', 'truncated_fields') as string[])[0] as string, /200 detail labels, kept 64/);
});

test('createUdmFormatter takes the protocol from the verdict and stamps snapshot correlations with now()', () => {
  const f = createUdmFormatter(cases.LINUX_HOST, { version: '9.9.9', now: () => new Date('2025-11-03T12:00:00.000Z') });
  const c = f.connection({ ...cases.MQTT_TLS, verdict: { protocol: 'XMPP', tls: true } });
  assert.equal(get(c, 'network', 'application_protocol'), 'XMPP');
  assert.equal(get(c, 'metadata', 'product_version'), '9.9.9');
  assert.equal(get(f.correlation(cases.SNAPSHOT_CORRELATION), 'metadata', 'event_timestamp'), '2025-11-03T12:00:00.000Z');
  assert.equal(get(f.finding(cases.YARAL_FINDING), 'metadata', 'event_type'), 'NETWORK_CONNECTION');
});

test('a command line cut when it was captured is said in truncated_fields', () => {
  const p = cases.MQTT_TLS.process as NonNullable<typeof cases.MQTT_TLS.process>;
  const cut = connectionToUdm({ ...cases.MQTT_TLS, process: { ...p, argvTruncated: true } }, cases.LINUX_HOST, cases.META);
  const notes = get(JSON.parse(toJsonLine(cut)) as UdmEvent, 'additional', 'truncated_fields') as string[];
  assert.deepEqual(notes, ['principal.process.command_line: cut when captured (only its beginning was readable)']);
  const whole = JSON.parse(toJsonLine(connectionToUdm(cases.MQTT_TLS, cases.LINUX_HOST, cases.META))) as UdmEvent;
  assert.equal((whole as { additional?: { truncated_fields?: unknown } }).additional?.truncated_fields, undefined);
});
