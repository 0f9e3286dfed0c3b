/**
 * The `sysmon` record format: Sysmon Event ID 3 in NXLog's JSON shape for the WINDOWS_SYSMON parser.
 * Golden lines in test/fixtures/sysmon/ (UPDATE_GOLDEN=1 rewrites them; read the diff). Inputs are the
 * UDM cases (documentation addresses only).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { toJsonLine } from '../../src/format/jsonline';
import { connectionToSysmon, createSysmonFormatter, findingRuleName, findingToSysmon, processGuid, type SysmonRecord } from '../../src/format/sysmon';
import { defaultIdOf, defaultIsFinding } from '../../src/sinks/delivery';
import { syslogSeverity } from '../../src/sinks/forwarder/syslog';
import { parseJsonRecord } from '../../platform/replay/parse';
import * as cases from './udm-cases';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'sysmon');
const OPTS = { agentPid: 812 };

/** Every EventData field of Sysmon Event ID 3 (schema version 5), in Sysmon's order. */
const EID3_FIELDS = [
  'RuleName', 'UtcTime', 'ProcessGuid', 'ProcessId', 'Image', 'User', 'Protocol', 'Initiated', 'SourceIsIpv6', 'SourceIp',
  'SourceHostname', 'SourcePort', 'SourcePortName', 'DestinationIsIpv6', 'DestinationIp', 'DestinationHostname',
  'DestinationPort', 'DestinationPortName',
];
/** The event-log fields NXLog's im_msvistalog writes beside them (Keywords left out: see sysmon.ts). */
const NXLOG_FIELDS = [
  'EventTime', 'Hostname', 'EventType', 'SeverityValue', 'Severity', 'EventID', 'SourceName', 'ProviderGuid', 'Version', 'Task',
  'OpcodeValue', 'RecordNumber', 'ProcessID', 'ThreadID', 'Channel', 'AccountName', 'UserID', 'AccountType', 'Message', 'Category',
  'Opcode', 'EventReceivedTime', 'SourceModuleName', 'SourceModuleType', 'Computer',
];

function golden(name: string, record: SysmonRecord): void {
  const file = path.join(FIXTURES, `${name}.json`);
  const actual = `${toJsonLine(record)}\n`;
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, actual);
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `golden ${name}.json differs (UPDATE_GOLDEN=1 rewrites it; read the diff)`);
}

function assertEid3(r: SysmonRecord): void {
  for (const k of [...EID3_FIELDS, ...NXLOG_FIELDS]) assert.ok(k in r, `field ${k} present`);
  for (const k of EID3_FIELDS) assert.equal(typeof r[k], 'string', `${k} is a string, as NXLog writes EventData`);
  assert.equal(r.EventID, 3);
  assert.equal(r.SourceName, 'Microsoft-Windows-Sysmon');
  assert.equal(r.Channel, 'Microsoft-Windows-Sysmon/Operational');
  assert.equal(r.Initiated, 'true');
  assert.match(r.UtcTime as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
  assert.match(r.EventTime as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.match(r.ProcessGuid as string, /^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$/);
  assert.ok(Number.isSafeInteger(r.RecordNumber));
  // The rendered Message holds each EventData line, in order.
  const lines = (r.Message as string).split('\r\n');
  assert.equal(lines[0], 'Network connection detected:');
  assert.deepEqual(lines.slice(1).map((l) => l.slice(0, l.indexOf(':'))), EID3_FIELDS.filter((k) => k in r));
}

test('golden: MQTT over TLS connection from a Linux host (telemetry: RuleName "-")', () => {
  const r = connectionToSysmon(cases.MQTT_TLS, cases.LINUX_HOST, OPTS);
  assertEid3(r);
  assert.equal(r.RuleName, '-');
  assert.equal(r.Image, '/usr/bin/python3.11');
  assert.equal(r.ProcessId, '4242');
  assert.equal(r.User, 'alice');
  assert.equal(r.Protocol, 'tcp');
  assert.equal(r.DestinationPort, '8883');
  assert.equal(r.DestinationPortName, 'secure-mqtt');
  assert.equal(r.AccountName, 'root');
  assert.equal(defaultIsFinding(r), false);
  golden('connection-mqtt-tls', r);
});

test('golden: STOMP over IPv6 from Windows - IsIpv6 flags, DOMAIN\\user, SYSTEM as the writer', () => {
  const r = connectionToSysmon(cases.STOMP_IPV6_WINDOWS, cases.WINDOWS_HOST, OPTS);
  assertEid3(r);
  assert.equal(r.SourceIsIpv6, 'true');
  assert.equal(r.DestinationIsIpv6, 'true');
  assert.equal(r.DestinationIp, '2001:db8::7');
  assert.equal(r.User, 'CONTOSO\\svc-build');
  assert.equal(r.UserID, 'S-1-5-18');
  assert.equal(r.Domain, 'NT AUTHORITY');
  assert.equal(r.UtcTime, '2025-11-03 09:16:00.500', 'times are UTC');
  golden('connection-stomp-ipv6-windows', r);
});

test('golden: no owning process - no ProcessGuid/ProcessId, Image <unknown process>, mapped IPv4 written as IPv4', () => {
  const r = connectionToSysmon(cases.TIME_WAIT_NO_OWNER, cases.MAC_HOST, OPTS);
  assert.ok(!('ProcessGuid' in r) && !('ProcessId' in r));
  assert.equal(r.Image, '<unknown process>');
  assert.equal(r.DestinationIp, '198.51.100.9');
  assert.equal(r.DestinationIsIpv6, 'false');
  golden('connection-time-wait', r);
});

test('golden: a finding carries rule ids, severity, id and reasons in RuleName', () => {
  const r = findingToSysmon(cases.DET0002_FINDING, cases.LINUX_HOST, OPTS);
  assertEid3(r);
  const [head, ...reasons] = (r.RuleName as string).split(' | ');
  assert.equal(head, 'technique_id=T1071.005,technique_name=Publish/Subscribe Protocols,rule=PUBSUB-EXTERNAL+AN0003+TOPIC-ANOMALY,severity=CRITICAL,finding_id=5f0c2d9e8a7b6c11');
  assert.deepEqual(reasons, cases.DET0002_FINDING.reasons);
  assert.equal(defaultIsFinding(r), true, 'the spool keeps findings over telemetry');
  assert.equal(syslogSeverity(r, true), 2, 'RFC 5424 severity from RuleName: CRITICAL');
  golden('finding-det0002', r);
  golden('finding-reputation', findingToSysmon(cases.REPUTATION_FINDING, cases.LINUX_HOST, OPTS));
});

test('hostile text stays one JSON line and cannot forge a line of Message or a field of RuleName', () => {
  const r = connectionToSysmon(cases.HOSTILE_EVENT, cases.LINUX_HOST, OPTS);
  const line = toJsonLine(r);
  assert.ok(!/[\n\r\u2028\u2029]/.test(line));
  const lines = (r.Message as string).split('\r\n');
  assert.equal(lines.length, 1 + EID3_FIELDS.length, 'no extra Message line from a newline in the process name');
  const f = { ...cases.DET0002_FINDING, reasons: ['a | forged\r\nline'] };
  assert.equal(findingRuleName(f).split(' | ').length, 2);
  golden('hostile', r);
});

test('ids: the same socket gives the same RecordNumber; a reused pid gets a new ProcessGuid', () => {
  const a = connectionToSysmon(cases.MQTT_TLS, cases.LINUX_HOST, OPTS);
  const b = connectionToSysmon({ ...cases.MQTT_TLS, time: '2025-11-03T11:00:00Z' }, cases.LINUX_HOST, OPTS);
  assert.equal(a.RecordNumber, b.RecordNumber);
  assert.equal(defaultIdOf(a), `sysmon:${a.RecordNumber as number}`);
  const p = cases.MQTT_TLS.process!;
  assert.notEqual(processGuid(cases.LINUX_HOST, p), processGuid(cases.LINUX_HOST, { ...p, startTime: '2025-11-03T12:00:00.000Z' }));
});

test('the formatter has no record for a correlation (it would count as a connection in #net)', () => {
  const f = createSysmonFormatter(cases.LINUX_HOST, OPTS);
  assert.equal(f.correlation(), null);
  assert.equal(f.finding(cases.DET0002_FINDING).EventID, 3);
});

test('round trip: a sysmon line read back by the replay parser is the same connection', () => {
  for (const [e, host] of [[cases.MQTT_TLS, cases.LINUX_HOST], [cases.STOMP_IPV6_WINDOWS, cases.WINDOWS_HOST]] as const) {
    const line = toJsonLine(connectionToSysmon(e, host, OPTS));
    const { format, parsed } = parseJsonRecord(line, 'auto');
    assert.equal(format, 'sysmon', 'recognised as a Sysmon record');
    assert.equal(parsed.kind, 'event', JSON.stringify(parsed));
    if (parsed.kind !== 'event') continue;
    const back = parsed.event;
    assert.equal(back.time, new Date(e.time).toISOString());
    assert.deepEqual([back.transport, back.source, back.destination, back.direction], [e.transport, e.source, e.destination, 'outbound']);
    assert.deepEqual([back.process?.pid, back.process?.exe, back.process?.user], [e.process?.pid, e.process?.exe, e.process?.user]);
    assert.equal(back.process?.guid, processGuid(host, e.process!));
    assert.equal(back.host, host.hostname);
    // And written again from what was read, the guid and host are kept.
    const again = connectionToSysmon(back, cases.MAC_HOST, OPTS);
    assert.equal(again.ProcessGuid, back.process?.guid);
    assert.equal(again.Hostname, host.hostname);
  }
});
