/**
 * UDM enum values and field limits used by udm.ts. Every enum value below was checked against the
 * google.backstory UDM proto (see the source list at the top of udm.ts); nothing here is guessed.
 */
import net from 'node:net';

/** Network.ApplicationProtocol names (the full enum; STOMP is not in it). */
const APPLICATION_PROTOCOLS = new Set([
  'AFP', 'APPC', 'AMQP', 'ATOM', 'BEEP', 'BITCOIN', 'BIT_TORRENT', 'CFDP', 'CIP', 'COAP', 'COTP', 'DCERPC', 'DDS',
  'DEVICE_NET', 'DHCP', 'DICOM', 'DNP3', 'DNS', 'E_DONKEY', 'ENRP', 'FAST_TRACK', 'FINGER', 'FREENET', 'FTAM', 'FTP',
  'GOOSE', 'GOPHER', 'GRPC', 'HL7', 'H323', 'HTTP', 'HTTPS', 'IEC104', 'IRCP', 'KADEMLIA', 'KRB5', 'LDAP', 'LPD',
  'MIME', 'MMS', 'MODBUS', 'MQTT', 'NETCONF', 'NFS', 'NIS', 'NNTP', 'NTCIP', 'NTP', 'OSCAR', 'PNRP', 'PTP', 'QUIC',
  'RDP', 'RELP', 'RIP', 'RLOGIN', 'RPC', 'RTMP', 'RTP', 'RTPS', 'RTSP', 'SAP', 'SDP', 'SIP', 'SLP', 'SMB', 'SMTP',
  'SNMP', 'SNTP', 'SSH', 'SSMS', 'STYX', 'SV', 'TCAP', 'TDS', 'TOR', 'TSP', 'VTP', 'WHOIS', 'WEB_DAV', 'X400', 'X500',
  'XMPP',
]);

/** The enum value for a protocol name from config; UNKNOWN_APPLICATION_PROTOCOL when UDM has none (STOMP). */
export function applicationProtocol(name: string): string {
  const upper = name.toUpperCase();
  return APPLICATION_PROTOCOLS.has(upper) ? upper : 'UNKNOWN_APPLICATION_PROTOCOL';
}

/** Noun.Platform from node's process.platform; other platforms are left out (UNKNOWN_PLATFORM is the default). */
const PLATFORMS: Partial<Record<NodeJS.Platform, string>> = { linux: 'LINUX', win32: 'WINDOWS', darwin: 'MAC', android: 'ANDROID' };

export function platform(p: NodeJS.Platform): string | undefined {
  return PLATFORMS[p];
}

/** Network.ConnectionState values, keyed by the state names adapters report (procfs, netstat, lsof). */
const CONNECTION_STATES: Readonly<Record<string, string>> = {
  ESTABLISHED: 'ESTABLISHED', SYN_SENT: 'SYN_SENT', SYN_RECV: 'SYN_RECEIVED', SYN_RECEIVED: 'SYN_RECEIVED',
  FIN_WAIT1: 'FIN_WAIT1', FIN_WAIT2: 'FIN_WAIT2', TIME_WAIT: 'TIME_WAIT', CLOSE: 'CLOSED', CLOSED: 'CLOSED',
  CLOSE_WAIT: 'CLOSE_WAIT', LAST_ACK: 'LAST_ACK', LISTEN: 'LISTENING', LISTENING: 'LISTENING',
};

/** TCP states only: UDP "ESTABLISHED" (a connected UDP socket) is not a connection state. CLOSING has no value. */
export function connectionState(transport: string, state: string): string | undefined {
  if (transport !== 'tcp') return undefined;
  return CONNECTION_STATES[state.toUpperCase().replace(/_(\d)$/, '$1')];
}

/** SecurityResult.SecurityCategory: a broker on the reputation list is known C2; everything else is suspicion. */
export const CATEGORY_C2 = 'NETWORK_COMMAND_AND_CONTROL';
export const CATEGORY_SUSPICIOUS = 'NETWORK_SUSPICIOUS';

/** AttackDetails for T1071.005 (tactic TA0011 Command and Control). */
export const ATTACK_DETAILS = {
  tactics: [{ id: 'TA0011', name: 'Command and Control' }],
  techniques: [{ id: 'T1071', name: 'Application Layer Protocol', subtechnique_id: 'T1071.005', subtechnique_name: 'Publish/Subscribe Protocols' }],
} as const;

/** Readable names for the analyzer's rule ids (judge.ts RULE, processes.ts ANALYTIC_BY_OS, beacon.ts); unknown ids name themselves. */
const RULE_NAMES: Readonly<Record<string, string>> = {
  'PUBSUB-EXTERNAL': 'DET0002 outbound pub/sub connection to an external broker',
  'BROKER-REPUTATION': 'DET0002 connection to a broker on brokerReputationList',
  'TOPIC-ANOMALY': 'DET0002 MQTT topic or payload anomaly (TopicAnomalyScore)',
  BEACONING: 'DET0002 periodic connections to a pub/sub broker (beaconing)',
  AN0002: 'DET0002 AN0002 unusual Windows process on a pub/sub connection',
  AN0003: 'DET0002 AN0003 unusual Linux process on a pub/sub connection',
  AN0004: 'DET0002 AN0004 unusual macOS process on a pub/sub connection',
};

export function ruleName(id: string): string {
  return RULE_NAMES[id] ?? id;
}

/**
 * Caps on text fields, in UTF-8 bytes. A longer value keeps its first bytes (never half a
 * character) and the event says so in additional.truncated_fields. Paths: PATH_MAX on Linux;
 * platform_version: 64 characters per the UDM usage guide; command lines: 64 KiB.
 */
export const FIELD_LIMITS = {
  commandLine: 64 * 1024,
  path: 4096,
  hostname: 255,
  user: 256,
  platformVersion: 64,
  name: 256,
  label: 4096,
  summary: 1024,
  description: 64 * 1024,
} as const;

/** At most this many detection_fields labels come from a finding's rule-specific details. */
export const MAX_DETAIL_LABELS = 64;

/**
 * An address as UDM wants it: IPv4-mapped IPv6 (::ffff:a.b.c.d, a dual-stack socket talking IPv4)
 * becomes dotted IPv4 so IP enrichment and the YARA-L private-range regex see the real peer.
 * Undefined for anything that is not an IP address, and for the unspecified address (0.0.0.0, ::).
 */
export function udmIp(ip: string): string | undefined {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  const out = mapped ? (mapped[1] as string) : ip;
  if (net.isIP(out) === 0) return undefined;
  if (out === '0.0.0.0' || out === '::') return undefined;
  return out;
}

/** principal.asset_id as the usage guide defines it: "VendorName.ProductName:ID", ID at most 128 of [A-Za-z0-9.-]. */
export function assetId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const clean = id.replace(/[^A-Za-z0-9.-]/g, '').slice(0, 128);
  return clean === '' ? undefined : `brokerwatch.brokerwatch:${clean}`;
}

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 timestamp for metadata.event_timestamp: kept as given when it already is one
 * (keeping sub-millisecond digits), otherwise parsed and written in UTC. Throws a RangeError for
 * text that is no time at all: the event would be rejected at ingestion anyway.
 */
export function rfc3339(time: string, what: string): string {
  if (RFC3339_RE.test(time) && !Number.isNaN(Date.parse(time))) return time;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) throw new RangeError(`${what} is not a timestamp: ${JSON.stringify(time.slice(0, 64))}`);
  return new Date(ms).toISOString();
}
