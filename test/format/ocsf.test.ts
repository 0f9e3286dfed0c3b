/**
 * OCSF 1.1.0 golden files: test/fixtures/ocsf/<case>.json hold the exact line sent for a known
 * input (the inputs are the UDM tests' cases, so both formats describe the same events).
 * UPDATE_GOLDEN=1 rewrites them; check the diff against the schema before committing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Verdict } from '../../src/core/types';
import {
  connectionToOcsf, correlationToOcsf, createOcsfFormatter, findingToOcsf, OCSF_LIMITS, type OcsfRecord, toJsonLine,
} from '../../src/format/ocsf';
import { connectionToUdm, correlationToUdm, findingToUdm } from '../../src/format/udm';
import type { RecordFormatter } from '../../src/engine/daemon';
import * as cases from './udm-cases';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'ocsf');

function golden(name: string, record: OcsfRecord): string {
  const file = path.join(FIXTURES, `${name}.json`);
  const actual = `${toJsonLine(record)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, actual);
  assert.ok(Buffer.from(actual, 'utf8').equals(fs.readFileSync(file)), `golden ${name}.json: bytes differ (UPDATE_GOLDEN=1 rewrites it; check the diff)`);
  return actual;
}

const get = (o: unknown, ...keys: (string | number)[]): unknown => keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

/** Absent values are left out: no "", no [], no {}, no undefined anywhere. */
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

/** The attributes OCSF 1.1.0 marks required for the classes and objects brokerwatch writes. */
function assertRequired(r: OcsfRecord): void {
  for (const k of ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'severity_id', 'time', 'metadata']) assert.ok(r[k] !== undefined, `${k} is required`);
  assert.equal(r.type_uid, (r.class_uid as number) * 100 + (r.activity_id as number), 'type_uid = class_uid * 100 + activity_id');
  assert.equal(get(r, 'metadata', 'version'), '1.1.0');
  assert.equal(get(r, 'metadata', 'product', 'vendor_name'), 'brokerwatch');
  assert.ok(Number.isInteger(r.time), 'time is a timestamp_t (ms)');
  const dev = r.device as Record<string, unknown> | undefined;
  if (dev) {
    assert.equal(typeof dev.type_id, 'number', 'device.type_id is required');
    assert.ok(get(dev, 'os') === undefined || (typeof get(dev, 'os', 'name') === 'string' && typeof get(dev, 'os', 'type_id') === 'number'));
  }
  const procs = [get(r, 'actor', 'process'), get(r, 'actor', 'process', 'parent_process'), ...((r.evidences as unknown[] | undefined) ?? []).map((e) => get(e, 'process'))];
  for (const p of procs.filter((x) => x !== undefined)) {
    assert.ok(get(p, 'pid') !== undefined, 'a process needs pid or uid');
    const file = get(p, 'file');
    if (file !== undefined) assert.ok(typeof get(file, 'name') === 'string' && typeof get(file, 'type_id') === 'number', 'file.name and file.type_id are required');
  }
  if (r.class_uid === 2004) {
    assert.equal(typeof get(r, 'finding_info', 'uid'), 'string');
    assert.equal(typeof get(r, 'finding_info', 'title'), 'string');
    assert.equal(typeof get(r, 'finding_info', 'analytic', 'type_id'), 'number');
  }
  const ci = r.connection_info as Record<string, unknown> | undefined;
  if (ci) assert.equal(ci.direction_id, 2, 'connection_info.direction_id is required');
}

const verdict = (protocol: string, tls: boolean, destinationClass: Verdict['destinationClass'] = 'external'): Verdict => ({
  protocol, tls, destinationClass, outcome: 'finding', reasons: [`outbound ${protocol} to an external broker`],
});

test('golden: MQTT over TLS connection from a Linux host (Network Activity: Open)', () => {
  const r = connectionToOcsf({ ...cases.MQTT_TLS, verdict: verdict('MQTT', true) }, cases.LINUX_HOST, cases.META);
  assert.equal(r.class_uid, 4001);
  assert.equal(r.type_uid, 400101);
  assert.equal(r.app_name, 'MQTT');
  assert.deepEqual(r.connection_info, {
    direction: 'Outbound', direction_id: 2, protocol_name: 'tcp', protocol_num: 6, protocol_ver_id: 4,
    protocol_ver: 'Internet Protocol version 4 (IPv4)', boundary_id: 3, boundary: 'External',
  });
  assert.deepEqual(get(r, 'actor', 'process', 'file'), { name: 'python3.11', path: '/usr/bin/python3.11', type_id: 1, type: 'Regular File' });
  assert.deepEqual(get(r, 'actor', 'process', 'user'), { name: 'alice', uid: '1000' });
  assertRequired(r);
  assertNoEmpty(r);
  golden('connection-mqtt-tls', r);
});

test('golden: STOMP over IPv6 from Windows', () => {
  const r = connectionToOcsf({ ...cases.STOMP_IPV6_WINDOWS, verdict: verdict('STOMP', false) }, cases.WINDOWS_HOST, cases.META);
  assert.equal(get(r, 'connection_info', 'protocol_ver_id'), 6);
  assert.deepEqual(get(r, 'device', 'os'), { name: 'Microsoft Windows 11 Pro', type_id: 100, type: 'Windows' });
  assert.equal(get(r, 'actor', 'process', 'file', 'name'), 'powershell.exe');
  assertRequired(r);
  assertNoEmpty(r);
  golden('connection-stomp-ipv6-windows', r);
});

test('golden: TIME_WAIT without an owner or verdict, IPv4-mapped addresses unwrapped, macOS', () => {
  const r = connectionToOcsf(cases.TIME_WAIT_NO_OWNER, cases.MAC_HOST, cases.META);
  assert.equal(r.actor, undefined);
  assert.equal(r.app_name, undefined, 'no verdict: the protocol is not known');
  assert.deepEqual(r.dst_endpoint, { ip: '198.51.100.9', port: 5672 });
  assert.equal(get(r, 'connection_info', 'protocol_ver_id'), 4, 'the packets are IPv4');
  assert.deepEqual(get(r, 'device', 'os'), { name: 'macOS', type_id: 300, type: 'macOS' });
  assertRequired(r);
  assertNoEmpty(r);
  golden('connection-time-wait', r);
});

test('golden: DET0002 finding (Detection Finding: Create) with T1071.005 and the connection as evidence', () => {
  const r = findingToOcsf(cases.DET0002_FINDING, cases.LINUX_HOST, cases.META);
  assert.equal(r.class_uid, 2004);
  assert.equal(r.type_uid, 200401);
  assert.equal(r.severity_id, 5);
  assert.equal(r.status_id, 1);
  assert.deepEqual(get(r, 'finding_info', 'attacks'), [{
    tactic: { uid: 'TA0011', name: 'Command and Control' },
    technique: { uid: 'T1071', name: 'Application Layer Protocol' },
    sub_technique: { uid: 'T1071.005', name: 'Publish/Subscribe Protocols' },
  }]);
  assert.deepEqual(get(r, 'finding_info', 'analytic'), { name: 'DET0002 outbound pub/sub connection to an external broker', uid: 'PUBSUB-EXTERNAL', type_id: 1, type: 'Rule' });
  assert.deepEqual(get(r, 'finding_info', 'related_analytics', 0, 'uid'), 'AN0003');
  assert.deepEqual(get(r, 'evidences', 0, 'dst_endpoint'), { ip: '198.51.100.7', port: 1883 });
  assert.equal(get(r, 'unmapped', 'exe_deleted'), true);
  assertRequired(r);
  assertNoEmpty(r);
  golden('finding-det0002', r);
});

test('golden: reputation finding without an owning process, XMPP over TLS to IPv6', () => {
  const r = findingToOcsf(cases.REPUTATION_FINDING, cases.LINUX_HOST, cases.META);
  assert.equal(r.actor, undefined);
  assert.equal(get(r, 'evidences', 0, 'process'), undefined);
  assert.equal(get(r, 'unmapped', 'tls'), true);
  assertRequired(r);
  assertNoEmpty(r);
  golden('finding-reputation', r);
});

test('golden: YARA-L aggregates (window and snapshot) as Detection Findings', () => {
  const w = correlationToOcsf(cases.WINDOW_CORRELATION, cases.LINUX_HOST, cases.META);
  assert.equal(w.count, 3);
  assert.equal(w.start_time, Date.parse('2025-11-03T10:00:00.000Z'));
  assert.equal(w.end_time, Date.parse('2025-11-03T11:00:00.000Z'));
  assertRequired(w);
  assertNoEmpty(w);
  golden('correlation-window', w);
  const s = correlationToOcsf(cases.SNAPSHOT_CORRELATION, cases.LINUX_HOST, { ...cases.META, time: '2025-11-03T12:00:00.000Z' });
  assert.equal(s.start_time, undefined);
  assertRequired(s);
  assertNoEmpty(s);
  golden('correlation-snapshot', s);
  assert.throws(() => correlationToOcsf(cases.SNAPSHOT_CORRELATION, cases.LINUX_HOST, cases.META), RangeError);
});

test('golden: hostile command line, names and paths stay data on one line', () => {
  const r = connectionToOcsf({ ...cases.HOSTILE_EVENT, verdict: verdict('MQTT', false) }, cases.LINUX_HOST, cases.META);
  const line = golden('hostile', r);
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
  assert.doesNotMatch(line.slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, 'no raw control or separator characters');
  const back = JSON.parse(line) as OcsfRecord;
  assert.equal(get(back, 'actor', 'process', 'cmd_line'), cases.HOSTILE_TEXT.replace(/\ud800(?![\udc00-\udfff])|(?<![\ud800-\udbff])\udc00/g, '\ufffd'));
  assert.equal(get(back, 'actor', 'process', 'user', 'name'), 'eve"\\\n');
  assertRequired(r);
});

test('golden: 1 MB command line is cut at the string limit on a character boundary, and the record says so', () => {
  const r = connectionToOcsf({ ...cases.hostileMegabyteEvent(), verdict: verdict('MQTT', false) }, cases.LINUX_HOST, cases.META);
  const line = golden('hostile-1mb', r);
  const cmd = get(JSON.parse(line), 'actor', 'process', 'cmd_line') as string;
  assert.ok(Buffer.byteLength(cmd, 'utf8') <= OCSF_LIMITS.string);
  assert.ok(Buffer.byteLength(cmd, 'utf8') > OCSF_LIMITS.string - 4, 'cut close to the limit');
  assert.ok(!cmd.endsWith('\ufffd'), 'no half character at the cut');
  const notes = get(r, 'unmapped', 'truncated_fields') as string[];
  assert.ok(notes.some((n) => /^actor\.process\.cmd_line: \d+ bytes, kept \d+$/.test(n)), notes.join('; '));
  assert.ok(notes.some((n) => n.startsWith('actor.process.file.path')));
  assert.ok(Buffer.byteLength(line) < 200 * 1024, 'well under a forwarder\'s 1 MB line');
});

test('metadata.uid is the UDM product_log_id of the same record: one id across formats, stable per socket', () => {
  const c = connectionToOcsf(cases.MQTT_TLS, cases.LINUX_HOST, cases.META);
  assert.equal(get(c, 'metadata', 'uid'), get(connectionToUdm(cases.MQTT_TLS, cases.LINUX_HOST, cases.META), 'metadata', 'product_log_id'));
  assert.equal(get(connectionToOcsf({ ...cases.MQTT_TLS, time: '2025-11-03T11:00:00Z' }, cases.LINUX_HOST, cases.META), 'metadata', 'uid'), get(c, 'metadata', 'uid'));
  assert.equal(get(findingToOcsf(cases.YARAL_FINDING, cases.LINUX_HOST, cases.META), 'metadata', 'uid'),
    get(findingToUdm(cases.YARAL_FINDING, cases.LINUX_HOST, cases.META), 'metadata', 'product_log_id'));
  assert.equal(get(correlationToOcsf(cases.WINDOW_CORRELATION, cases.LINUX_HOST, cases.META), 'metadata', 'uid'),
    get(correlationToUdm(cases.WINDOW_CORRELATION, cases.LINUX_HOST, cases.META), 'metadata', 'product_log_id'));
});

test('unspecified source and UDP; rule details from the wire are capped', () => {
  const udp = connectionToOcsf({ ...cases.MQTT_TLS, transport: 'udp', state: 'ESTABLISHED', source: { ip: '0.0.0.0', port: 5353 } }, cases.LINUX_HOST, cases.META);
  assert.equal(udp.src_endpoint, undefined);
  assert.equal(get(udp, 'connection_info', 'protocol_num'), 17);
  assert.equal(get(udp, 'unmapped', 'tcp_state'), undefined);
  assert.throws(() => connectionToOcsf({ ...cases.MQTT_TLS, time: 'yesterday' }, cases.LINUX_HOST, cases.META), RangeError);
  const topics = Array.from({ length: 200 }, (_, i) => `t/${i}/${'x'.repeat(10_000)}`);
  const f = findingToOcsf({ ...cases.DET0002_FINDING, details: { topics } }, cases.LINUX_HOST, cases.META);
  assert.equal((get(f, 'unmapped', 'details', 'topics') as string[]).length, 64);
  assert.ok((get(f, 'unmapped', 'truncated_fields') as string[]).some((n) => n === 'unmapped.details.topics: 200 items, kept 64'));
});

test('createOcsfFormatter is the daemon\'s RecordFormatter and is deterministic', () => {
  const fmt: RecordFormatter = createOcsfFormatter(cases.LINUX_HOST, { version: '9.9.9', now: () => new Date('2025-11-03T12:00:00.000Z') });
  const judged = { ...cases.MQTT_TLS, direction: 'outbound' as const, verdict: verdict('XMPP', true, 'internal') };
  const c = fmt.connection(judged);
  assert.equal(c.app_name, 'XMPP');
  assert.equal(get(c, 'connection_info', 'boundary'), 'Internal');
  assert.equal(get(c, 'metadata', 'product', 'version'), '9.9.9');
  assert.equal(get(fmt.correlation(cases.SNAPSHOT_CORRELATION), 'time'), Date.parse('2025-11-03T12:00:00.000Z'));
  assert.equal(toJsonLine(fmt.finding(cases.DET0002_FINDING)), toJsonLine(fmt.finding(cases.DET0002_FINDING)));
});
