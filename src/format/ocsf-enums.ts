/**
 * OCSF 1.1.0 enum values, captions and text limits used by ocsf.ts. Every value below was read in
 * the compiled OCSF 1.1.0 schema (ocsf/ocsf-lib-py schema_cache/schema-1.1.0.json, the export of
 * schema.ocsf.io/1.1.0); the source list is at the top of ocsf.ts. Nothing here is guessed.
 */
import net from 'node:net';
import type { DestinationClass, Severity } from '../core/types';

export const OCSF_VERSION = '1.1.0';
export const PRODUCT = 'brokerwatch';

/** Network Activity [4001], category Network Activity [4], activity 1 Open: type_uid 400101. */
export const NETWORK_ACTIVITY = {
  class_uid: 4001, class_name: 'Network Activity', category_uid: 4, category_name: 'Network Activity',
  activity_id: 1, activity_name: 'Open', type_uid: 400101, type_name: 'Network Activity: Open',
} as const;

/** Detection Finding [2004], category Findings [2], activity 1 Create: type_uid 200401. */
export const DETECTION_FINDING = {
  class_uid: 2004, class_name: 'Detection Finding', category_uid: 2, category_name: 'Findings',
  activity_id: 1, activity_name: 'Create', type_uid: 200401, type_name: 'Detection Finding: Create',
} as const;

/** Finding status_id 1 "New": the finding is new and yet to be reviewed (the consumer moves it on). */
export const STATUS_NEW = { status_id: 1, status: 'New' } as const;

/** severity_id (base_event): 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical. */
const SEVERITY_IDS: Readonly<Record<Severity, [number, string]>> = {
  INFORMATIONAL: [1, 'Informational'], LOW: [2, 'Low'], MEDIUM: [3, 'Medium'], HIGH: [4, 'High'], CRITICAL: [5, 'Critical'],
};

export function severity(s: Severity): { severity_id: number; severity: string } {
  const [id, caption] = SEVERITY_IDS[s];
  return { severity_id: id, severity: caption };
}

/** os.type_id: 100 Windows, 200 Linux, 201 Android, 300 macOS, 401 AIX, 400 Solaris; 99 Other otherwise. */
const OS_TYPES: Partial<Record<NodeJS.Platform, [number, string]>> = {
  win32: [100, 'Windows'], linux: [200, 'Linux'], android: [201, 'Android'], darwin: [300, 'macOS'], sunos: [400, 'Solaris'], aix: [401, 'AIX'],
};

export function osType(p: NodeJS.Platform): { type_id: number; type: string; name: string } {
  const t = OS_TYPES[p];
  return t ? { type_id: t[0], type: t[1], name: t[1] } : { type_id: 99, type: p, name: p };
}

/** network_connection_info.boundary_id: 1 Localhost, 2 Internal, 3 External. */
const BOUNDARIES: Readonly<Record<DestinationClass, [number, string]>> = {
  loopback: [1, 'Localhost'], internal: [2, 'Internal'], external: [3, 'External'],
};

export function boundary(c: DestinationClass): { boundary_id: number; boundary: string } {
  const [id, caption] = BOUNDARIES[c];
  return { boundary_id: id, boundary: caption };
}

/** IANA protocol numbers and the lowercase names network_connection_info.protocol_name asks for. */
export const IP_PROTOCOLS = { tcp: { protocol_name: 'tcp', protocol_num: 6 }, udp: { protocol_name: 'udp', protocol_num: 17 } } as const;

/** protocol_ver_id: 4 IPv4, 6 IPv6, with their captions as protocol_ver. */
export function ipVersion(ip: string): { protocol_ver_id: number; protocol_ver: string } | undefined {
  const v = net.isIP(ip);
  if (v === 4) return { protocol_ver_id: 4, protocol_ver: 'Internet Protocol version 4 (IPv4)' };
  if (v === 6) return { protocol_ver_id: 6, protocol_ver: 'Internet Protocol version 6 (IPv6)' };
  return undefined;
}

/**
 * finding_info.attacks for T1071.005. OCSF 1.1.0 has attack.sub_technique (uid e.g. T1595.001)
 * beside attack.technique (uid e.g. T1595), so the sub-technique goes there and the technique is
 * its parent T1071. attack.version (ATT&CK matrix version) is recommended, not required: left out
 * rather than guessed.
 */
export const ATTACK = {
  tactic: { uid: 'TA0011', name: 'Command and Control' },
  technique: { uid: 'T1071', name: 'Application Layer Protocol' },
  sub_technique: { uid: 'T1071.005', name: 'Publish/Subscribe Protocols' },
} as const;

/** analytic.type_id 1 "Rule": every brokerwatch detection is a rule over one connection or a window. */
export const ANALYTIC_RULE = { type_id: 1, type: 'Rule' } as const;

/** file.type_id 1 "Regular File": an executable on disk. (file.name and file.type_id are required.) */
export const REGULAR_FILE = { type_id: 1, type: 'Regular File' } as const;

/** device.type_id is required; the agent cannot tell a server from a desktop, so 0 "Unknown". */
export const DEVICE_UNKNOWN = { type_id: 0, type: 'Unknown' } as const;

/**
 * Caps in UTF-8 bytes. string_t has max_len 65535 in the 1.1.0 schema, so no string exceeds it;
 * paths get PATH_MAX. A longer value keeps its first bytes (never half a character) and the
 * record lists it in unmapped.truncated_fields.
 */
export const OCSF_LIMITS = {
  string: 65535,
  path: 4096,
  hostname: 255,
  name: 256,
  user: 256,
  message: 1024,
} as const;

/**
 * An address for ip_t: IPv4-mapped IPv6 (::ffff:a.b.c.d, a dual-stack socket talking IPv4) becomes
 * dotted IPv4, so the record shows the peer the packets went to. Undefined for non-addresses and
 * for the unspecified address (0.0.0.0, ::), which names no endpoint (as in udm.ts).
 */
export function ocsfIp(ip: string): string | undefined {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  const out = mapped ? (mapped[1] as string) : ip;
  if (net.isIP(out) === 0 || out === '0.0.0.0' || out === '::') return undefined;
  return out;
}

/** timestamp_t: milliseconds since the epoch. Throws for text that is no time at all. */
export function epochMs(time: string, what: string): number {
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) throw new RangeError(`${what} is not a timestamp: ${JSON.stringify(time.slice(0, 64))}`);
  return ms;
}
