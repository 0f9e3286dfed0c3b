import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { JudgedConnection, Verdict } from '../../../src/core/types';
import { createOcsfFormatter } from '../../../src/format/ocsf';
import { reportJson, type ScanReport } from '../../../src/format/report';
import { toJsonLine } from '../../../src/format/udm';
import { DET0002_FINDING, LINUX_HOST, MQTT_TLS, STOMP_IPV6_WINDOWS, TIME_WAIT_NO_OWNER, WINDOW_CORRELATION, WINDOWS_HOST } from '../../format/udm-cases';
import { replay } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-own-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const VERDICT: Verdict = { protocol: 'STOMP', tls: false, destinationClass: 'external', outcome: 'finding', reasons: ['x'] };

function scanReport(connections: JudgedConnection[]): ScanReport {
  return {
    tool: { name: 'brokerwatch', version: '0.1.0' }, time: '2025-11-03T10:30:00.000Z', host: WINDOWS_HOST, adapter: 'iphlpapi', mode: 'det0002',
    configFiles: [], warnings: [], stats: {}, summary: { judged: 2, findings: 2, allowed: 0, ignoredInternal: 0, ignoredLoopback: 0, inbound: 0 },
    connections, findings: [], groups: [], correlations: [],
  };
}

describe('replay: brokerwatch JSON', () => {
  it('streams the connections of a scan --json document, keyed by the document host and OS, verdicts dropped', async () => {
    const judged: JudgedConnection[] = [
      { ...STOMP_IPV6_WINDOWS, direction: 'outbound', verdict: { ...VERDICT, reasons: ['first'] } },
      { ...STOMP_IPV6_WINDOWS, source: { ip: '10.30.0.42', port: 51001 }, destination: { ip: '198.51.100.7', port: 61613 }, family: 4, direction: 'outbound', verdict: { ...VERDICT } },
    ];
    const file = path.join(dir, 'scan.json');
    fs.writeFileSync(file, reportJson(scanReport(judged)));
    for (const format of ['auto', 'jsonl'] as const) {
      const { records, source } = await replay([file], { format });
      const { verdict: _v, ...first } = judged[0] as JudgedConnection;
      assert.deepEqual(records[0]?.event, { ...first, host: 'WS-0042', os: 'windows' });
      assert.deepEqual(records.map((r) => [r.format, r.event.destination.ip, r.event.host, r.event.os]), [
        ['jsonl', '2001:db8::7', 'WS-0042', 'windows'], ['jsonl', '198.51.100.7', 'WS-0042', 'windows'],
      ]);
      assert.equal(records.every((r) => !('verdict' in r.event)), true);
      assert.equal(source.stats.malformed, 0, `format ${format}`);
    }
  });

  it('reads scan documents compacted to one line each (jq -c), each keyed by its own host', async () => {
    const file = path.join(dir, 'scans.jsonl');
    const linux = { ...scanReport([{ ...MQTT_TLS, direction: 'outbound', verdict: { ...VERDICT } }]), host: LINUX_HOST };
    const windows = scanReport([{ ...STOMP_IPV6_WINDOWS, direction: 'outbound', verdict: { ...VERDICT } }]);
    fs.writeFileSync(file, `${JSON.stringify(linux)}\n${JSON.stringify(windows)}\n`);
    const { records, source } = await replay([file]);
    assert.deepEqual(records.map((r) => [r.line, r.event.host, r.event.os, r.event.destination.port]), [
      [1, 'sensor-01.example.net', 'linux', 8883], [2, 'WS-0042', 'windows', 61613],
    ]);
    assert.equal(source.stats.malformed, 0);
  });

  it('reads JSON lines of ConnectionEvents, checks every field again, and keeps hostile strings as data', async () => {
    const hostile = { ...MQTT_TLS, process: { ...MQTT_TLS.process, pid: 1, cmdline: 'a\u0000b\u001b[31m"\\\u2028' } };
    const badPort = { ...MQTT_TLS, destination: { ip: '198.51.100.7', port: 70000 } };
    const noZone = { ...MQTT_TLS, time: '2025-11-03 10:15:30' };
    const inbound = { ...MQTT_TLS, direction: 'inbound', host: 'other-host', os: 'darwin' };
    const file = path.join(dir, 'events.jsonl');
    fs.writeFileSync(file, [hostile, badPort, noZone, inbound].map((v) => toJsonLine(v)).join('\n'));
    const { records, source } = await replay([file], { format: 'jsonl' });
    assert.deepEqual(records[0]?.event, { ...hostile, direction: 'outbound' });
    assert.deepEqual([records[1]?.line, records[1]?.event.direction, records[1]?.event.host, records[1]?.event.os], [4, 'inbound', 'other-host', 'darwin']);
    assert.deepEqual(source.warnings().map((w) => w.message.slice(file.length)), [
      ':2: source or destination is not an IP address and port',
      ':3: time is not an ISO 8601 time with a zone',
    ]);
  });

  it('with --format sysmon, brokerwatch records are skipped and counted, not judged', async () => {
    const file = path.join(dir, 'one.jsonl');
    fs.writeFileSync(file, `${toJsonLine(MQTT_TLS)}\n`);
    const { records, source } = await replay([file], { format: 'sysmon' });
    assert.equal(records.length, 0);
    assert.equal(source.stats.skippedOther, 1);
  });
});

describe('replay: OCSF lines of the file sink (format: ocsf)', () => {
  it('reads back Network Activity records with every field the formatter writes, and a finding as its connection', async () => {
    const linux = createOcsfFormatter(LINUX_HOST, { version: '0.1.0', now: () => new Date('2025-11-03T12:00:00Z') });
    const windows = createOcsfFormatter(WINDOWS_HOST, { version: '0.1.0' });
    const file = path.join(dir, 'ocsf.jsonl');
    const deleted = { ...MQTT_TLS, process: { ...MQTT_TLS.process, pid: 4242, exeDeleted: true } };
    const beacon = { ...DET0002_FINDING, id: 'b1', rules: ['PUBSUB-EXTERNAL', 'BEACONING'] };
    fs.writeFileSync(file, [
      linux.connection({ ...deleted, verdict: { ...VERDICT, protocol: 'MQTT', tls: true } }), linux.finding(DET0002_FINDING),
      linux.correlation(WINDOW_CORRELATION), linux.finding(beacon), windows.connection(STOMP_IPV6_WINDOWS), linux.connection(TIME_WAIT_NO_OWNER),
    ].map((r) => toJsonLine(r)).join('\n'));
    const { records, source } = await replay([file], { format: 'jsonl' });
    const { argv: _argv, ...mqttProcess } = deleted.process;
    // OCSF has one uid, the process's: the socket's own uid (the same here) is not a separate field.
    const { uid: _socketUid, ...mqtt } = deleted;
    assert.deepEqual(records.map((r) => r.event), [
      { ...mqtt, process: mqttProcess, direction: 'outbound', host: 'sensor-01.example.net', os: 'linux' },
      {
        // The finding's connection: its evidence's endpoints, the actor process, the finding time; the adapter is not in a finding.
        time: DET0002_FINDING.time, adapter: 'ocsf', transport: 'tcp', family: 4, state: 'ESTABLISHED', source: DET0002_FINDING.source,
        destination: DET0002_FINDING.destination, direction: 'outbound', process: DET0002_FINDING.process ?? undefined, host: 'sensor-01.example.net', os: 'linux',
      },
      {
        ...STOMP_IPV6_WINDOWS, time: '2025-11-03T09:16:00.500Z', direction: 'outbound', host: 'WS-0042', os: 'windows',
        process: { ...STOMP_IPV6_WINDOWS.process, pid: 7312 },
      },
      {
        ...TIME_WAIT_NO_OWNER, time: '2025-11-03T10:17:00.000Z', family: 4, source: { ip: '10.40.0.7', port: 49152 },
        destination: { ip: '198.51.100.9', port: 5672 }, direction: 'outbound', host: 'sensor-01.example.net', os: 'linux',
      },
    ]);
    assert.equal(source.stats.skippedOther, 2, 'the correlation and the BEACONING finding');
    assert.deepEqual(source.stats.byFormat, { sysmon: 0, udm: 0, jsonl: 4 });
  });
});
