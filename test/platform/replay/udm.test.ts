import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ConnectionEvent, HostFacts } from '../../../src/core/types';
import { connectionToUdm, createUdmFormatter, toJsonLine } from '../../../src/format/udm';
import { DET0002_FINDING, LINUX_HOST, MQTT_TLS, STOMP_IPV6_WINDOWS, TIME_WAIT_NO_OWNER, WINDOW_CORRELATION, WINDOWS_HOST } from '../../format/udm-cases';
import { replay } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-udm-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeLines(name: string, values: unknown[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, values.map((v) => `${toJsonLine(v)}\n`).join(''));
  return file;
}

const GOLDEN = path.join(__dirname, '..', '..', 'fixtures', 'udm');

describe('replay: UDM', () => {
  it('reads back what the agent wrote: every field connectionToUdm carries comes back the same', async () => {
    const cases: Array<[ConnectionEvent, HostFacts]> = [[MQTT_TLS, LINUX_HOST], [STOMP_IPV6_WINDOWS, WINDOWS_HOST], [TIME_WAIT_NO_OWNER, LINUX_HOST]];
    const file = writeLines('roundtrip.jsonl', cases.map(([e, h]) => connectionToUdm(e, h, { version: '0.1.0', protocol: { name: 'MQTT', tls: true } })));
    for (const format of ['auto', 'udm'] as const) {
      const { records, source } = await replay([file], { format });
      assert.deepEqual(records.map((r) => r.event), [
        {
          time: '2025-11-03T10:15:30.123Z', adapter: 'procfs', transport: 'tcp', family: 4, state: 'ESTABLISHED',
          source: { ip: '10.20.0.5', port: 40312 }, destination: { ip: '198.51.100.7', port: 8883 }, direction: 'outbound',
          inode: 918273, netns: 'net:[4026531840]',
          // name is the executable's file name (UDM keeps the kernel's short name only when the path is unknown);
          // uid, argv, startTime and parentName are not UDM fields the formatter writes.
          process: { pid: 4242, ppid: 4100, name: 'python3.11', exe: '/usr/bin/python3.11', cmdline: 'python3 /opt/agent/beacon.py --broker 198.51.100.7', user: 'alice', parentExe: '/usr/bin/bash' },
          host: 'sensor-01.example.net', os: 'linux',
        },
        {
          time: '2025-11-03T10:16:00.5+01:00', adapter: 'iphlpapi', transport: 'tcp', family: 6, state: 'SYN_SENT',
          source: { ip: '2001:db8:30::42', port: 51000 }, destination: { ip: '2001:db8::7', port: 61613 }, direction: 'outbound',
          process: { pid: 7312, ppid: 612, name: 'powershell.exe', exe: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', cmdline: 'powershell.exe -NoProfile -EncodedCommand SQBFAFgA', user: 'CONTOSO\\svc-build' },
          host: 'WS-0042', os: 'windows',
        },
        {
          // The IPv4-mapped addresses come back as the IPv4 they carry (the canonical form of Endpoint.ip).
          time: '2025-11-03T10:17:00Z', adapter: 'lsof', transport: 'tcp', family: 4, state: 'TIME_WAIT',
          source: { ip: '10.40.0.7', port: 49152 }, destination: { ip: '198.51.100.9', port: 5672 }, direction: 'outbound',
          host: 'sensor-01.example.net', os: 'linux',
        },
      ], `format ${format}`);
      assert.equal(source.stats.byFormat.udm, 3);
    }
  });

  it('round-trips the fields of the agent formatter for a UDP socket and a socket uid with no user name', async () => {
    const udp: ConnectionEvent = {
      time: '2026-01-02T03:04:05.678Z', adapter: 'ebpf', transport: 'udp', family: 4, state: 'ESTABLISHED', uid: 1001,
      source: { ip: '10.0.0.9', port: 5353 }, destination: { ip: '198.51.100.44', port: 1883 }, process: { pid: 77, exe: '/opt/x/client', name: 'client' },
    };
    const fmt = createUdmFormatter({ hostname: 'edge-1', platform: 'darwin' }, { version: '0.1.0' });
    const file = writeLines('udp.jsonl', [fmt.connection(udp)]);
    const { records } = await replay([file]);
    assert.deepEqual(records.map((r) => r.event), [{
      time: '2026-01-02T03:04:05.678Z', adapter: 'ebpf', transport: 'udp', family: 4, state: 'ESTABLISHED',
      source: { ip: '10.0.0.9', port: 5353 }, destination: { ip: '198.51.100.44', port: 1883 }, direction: 'outbound',
      process: { pid: 77, exe: '/opt/x/client', name: 'client', uid: 1001 }, host: 'edge-1', os: 'darwin',
    }]);
  });

  it('reads a finding as the connection it is (the agent sends it instead of the connection); skips correlations and BEACONING', async () => {
    const fmt = createUdmFormatter(LINUX_HOST, { version: '0.1.0', now: () => new Date('2025-11-03T12:00:00Z') });
    const beacon = { ...DET0002_FINDING, id: 'b1', rules: ['BEACONING', ...DET0002_FINDING.rules] };
    const file = writeLines('sink.jsonl', [fmt.connection(MQTT_TLS), fmt.finding(DET0002_FINDING), fmt.correlation(WINDOW_CORRELATION), fmt.finding(beacon)]);
    const { records, source } = await replay([file]);
    assert.equal(records.length, 2);
    assert.equal(records[1]?.event.destination.port, DET0002_FINDING.destination.port);
    assert.equal(source.stats.skippedOther, 2);
    assert.equal(source.stats.malformed, 0);
  });

  it('reads the golden UDM files (lowerCamelCase too) and hostile text stays data', async () => {
    const camel = writeLines('camel.jsonl', [{
      udm: {
        metadata: { eventTimestamp: '2026-02-03T04:05:06Z', eventType: 'NETWORK_CONNECTION' },
        principal: { hostname: 'c1', ip: ['10.1.2.3'], port: 40000, process: { pid: '9', file: { fullPath: '/usr/bin/mosquitto_sub' }, commandLine: 'mosquitto_sub -t x' } },
        target: { ip: ['198.51.100.5'], port: 8883 }, network: { ipProtocol: 'TCP', direction: 'OUTBOUND' },
      },
    }]);
    const files = ['connection-mqtt-tls.json', 'connection-stomp-ipv6-windows.json', 'connection-time-wait.json', 'hostile.json', 'finding-det0002.json'].map((f) => path.join(GOLDEN, f));
    const { records, source } = await replay([...files, camel]);
    assert.deepEqual(records.map((r) => [r.event.host, r.event.destination.port]), [
      ['sensor-01.example.net', 8883], ['WS-0042', 61613], ['mbp-7', 5672], [records[3]?.event.host, records[3]?.event.destination.port],
      [records[4]?.event.host, records[4]?.event.destination.port], ['c1', 8883],
    ]);
    assert.equal(records[5]?.event.process?.cmdline, 'mosquitto_sub -t x');
    const hostile = JSON.parse(fs.readFileSync(files[3] as string, 'utf8')) as { principal: { process: { command_line: string } } };
    assert.equal(records[3]?.event.process?.cmdline, hostile.principal.process.command_line);
    assert.equal(source.stats.skippedOther, 0, 'the finding is read as its connection');
  });

  it('reports broken UDM records with their line, and reads on', async () => {
    const good = connectionToUdm(MQTT_TLS, LINUX_HOST, { version: '0.1.0' });
    const noTime = { ...good, metadata: { event_type: 'NETWORK_CONNECTION' } };
    const badIp = { ...good, target: { ip: ['198.51.100.256'], port: 8883 } };
    const file = path.join(dir, 'broken.jsonl');
    fs.writeFileSync(file, [toJsonLine(good), toJsonLine(noTime), '{"metadata": ', toJsonLine(badIp), '[1,2]', toJsonLine(good)].join('\n'));
    const { records, source } = await replay([file]);
    assert.deepEqual(records.map((r) => r.line), [1, 6]);
    assert.deepEqual(source.warnings().map((w) => w.message.slice(file.length)), [
      ':2: metadata.event_timestamp is not an RFC 3339 time',
      ':3: not valid JSON (Unexpected end of JSON input)',
      ':4: target.ip or target.port is missing or invalid',
      ':5: a JSON value that is not an object',
    ]);
  });
});

describe('replay: warnings are safe to print', () => {
  it('a record quoted in a reason cannot carry terminal escapes into the warning', async () => {
    const file = path.join(dir, 'escape.jsonl');
    fs.writeFileSync(file, '{"metadata": \u001b[2J\u001b]0;owned\u0007 }\n');
    const { source } = await replay([file]);
    const [w] = source.warnings();
    assert.equal(source.stats.malformed, 1);
    assert.match(w?.message ?? '', /escape\.jsonl:1: not valid JSON/);
    assert.doesNotMatch(w?.message ?? '', /[\u0000-\u001f]/);
  });
});
