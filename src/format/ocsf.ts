/**
 * OCSF 1.1.0 records: Network Activity [4001] for each observed connection, Detection Finding
 * [2004] for findings and per-host correlations. Pure functions: the same input always gives the
 * same object (golden tests hold the bytes). Absent values are left out, never written as "".
 * For a forwarder or Bindplane collector whose log type is OCSF; UDM (udm.ts) is for the API.
 *
 * Sources (every attribute, requirement and enum value used here was read in them):
 *  - The compiled OCSF 1.1.0 schema, i.e. the export of https://schema.ocsf.io/1.1.0/ as cached by the
 *    OCSF project in ocsf/ocsf-lib-py, schema_cache/schema-1.1.0.json: classes detection_finding
 *    (finding_info required, evidences, resources, status_id New/In Progress/Suppressed/Resolved,
 *    actor and device from the host profile), dhcp_activity / ftp_activity / ssh_activity (the
 *    attributes every class extending `network` has in 1.1.0: app_name, actor, device,
 *    connection_info, src_endpoint, dst_endpoint); objects metadata, product, process, file, user,
 *    device, os, network_endpoint, network_connection_info, finding_info, analytic, attack, tactic,
 *    technique, sub_technique, evidences; types timestamp_t (ms epoch) and string_t (max_len 65535).
 *  - https://schema.ocsf.io/1.1.0/classes/network_activity and
 *    https://docs.tenzir.com/reference/ocsf/1-1-0/classes/network_activity (4001 extends network;
 *    activity_id 1 Open).
 *  - https://schema.ocsf.io/1.1.0/classes/detection_finding; OCSF v1.1.0 release notes
 *    https://github.com/ocsf/ocsf-schema/releases/tag/v1.1.0 (Detection Finding added, #877).
 *  - ocsf/ocsf-schema events/network/network.json (app_name: "The name of the application
 *    associated with the event" - where the pub/sub protocol goes).
 *
 * Required attributes that the agent cannot know get their "Unknown" value (device.type_id 0);
 * required objects are only written when their required parts exist (a process needs a pid, a file
 * a name). Everything brokerwatch knows that OCSF has no attribute for goes under `unmapped`.
 *
 * metadata.uid is the same stable id as the UDM record's metadata.product_log_id for the same
 * connection, finding or correlation (see udm.ts), so duplicates can be removed downstream and the
 * two formats joined.
 */
import crypto from 'node:crypto';
import type { Correlation } from '../analyzer/analyze';
import { baseName } from '../analyzer/processes';
import type { ConnectionEvent, Endpoint, Finding, HostFacts, ProcessInfo, Transport, Verdict } from '../core/types';
import {
  ANALYTIC_RULE, ATTACK, boundary, DETECTION_FINDING, DEVICE_UNKNOWN, epochMs, IP_PROTOCOLS, ipVersion, NETWORK_ACTIVITY,
  OCSF_LIMITS, OCSF_VERSION, ocsfIp, osType, PRODUCT, REGULAR_FILE, severity, STATUS_NEW,
} from './ocsf-enums';
import { rfc3339, ruleName } from './udm-enums';
import { compact, TextFields } from './udm-parts';

export { toJsonLine } from './jsonline';
export { OCSF_LIMITS } from './ocsf-enums';

export interface OcsfMeta {
  /** brokerwatch's version: metadata.product.version. */
  version: string;
  /** Event time for records that carry none (a "snapshot" correlation of a one-shot scan). */
  time?: string;
}

export type OcsfRecord = Record<string, unknown>;
/** A connection as the daemon hands it over: with the analyzer's verdict when there is one. */
export type OcsfConnection = ConnectionEvent & { verdict?: Verdict };

/** The same derivation as udm.ts product_log_id: first 128 bits of SHA-256 over a JSON array. */
function eventUid(parts: readonly unknown[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

function metadata(meta: OcsfMeta, uid: string): OcsfRecord {
  // actor and device are attributes of the host profile in 1.1.0: say that it is applied.
  return { version: OCSF_VERSION, product: { name: PRODUCT, vendor_name: PRODUCT, version: meta.version }, uid, profiles: ['host'] };
}

function validPort(port: number): number | undefined {
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined;
}

/** network_endpoint: at least one of ip/uid/name/hostname is required, so no ip means no endpoint. */
function endpoint(e: Endpoint): OcsfRecord | undefined {
  const ip = ocsfIp(e.ip);
  // hostname: the name the process resolved (wire inspection); OCSF network_endpoint.hostname.
  if (ip === undefined) return undefined;
  return e.hostname !== undefined ? { hostname: e.hostname.slice(0, 255), ip, port: validPort(e.port) } : { ip, port: validPort(e.port) };
}

function executable(path: string | undefined, f: TextFields, where: string): OcsfRecord | undefined {
  const full = f.text(path, OCSF_LIMITS.path, `${where}.path`);
  if (full === undefined || path === undefined) return undefined;
  // The name from the whole path: a cut path may end anywhere.
  const name = f.text(baseName(path), OCSF_LIMITS.name, `${where}.name`);
  return name === undefined ? undefined : { name, path: full, ...REGULAR_FILE };
}

function startMs(p: ProcessInfo): number | undefined {
  const ms = p.startTime !== undefined ? Date.parse(p.startTime) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/** process: pid (its constraint asks for pid or uid), name, file, command line, user, parent. */
function processObject(p: ProcessInfo | null | undefined, socketUid: number | undefined, f: TextFields, where: string): OcsfRecord | undefined {
  if (!p) return undefined;
  const uid = p.uid ?? socketUid;
  const name = p.name ?? (p.exe !== undefined ? baseName(p.exe) : undefined);
  f.cutAtCapture(p, `${where}.cmd_line`);
  return {
    pid: p.pid,
    name: f.text(name, OCSF_LIMITS.name, `${where}.name`),
    file: executable(p.exe, f, `${where}.file`),
    cmd_line: f.text(p.cmdline, OCSF_LIMITS.string, `${where}.cmd_line`),
    created_time: startMs(p),
    user: { name: f.text(p.user, OCSF_LIMITS.user, `${where}.user.name`), uid: uid !== undefined ? String(uid) : undefined },
    parent_process: p.ppid === undefined ? undefined : {
      pid: p.ppid,
      name: f.text(p.parentName, OCSF_LIMITS.name, `${where}.parent_process.name`),
      file: executable(p.parentExe, f, `${where}.parent_process.file`),
    },
  };
}

/** device: the host the agent runs on (device.hostname, ip, uid, os; type_id is required). */
function device(host: HostFacts, f: TextFields): OcsfRecord {
  const os = osType(host.platform);
  const ip = (host.ips ?? []).map(ocsfIp).find((a) => a !== undefined);
  return {
    hostname: f.text(host.hostname, OCSF_LIMITS.hostname, 'device.hostname'),
    ip,
    uid: f.text(host.assetId, OCSF_LIMITS.name, 'device.uid'),
    os: { name: f.text(host.os, OCSF_LIMITS.name, 'device.os.name') ?? os.name, type_id: os.type_id, type: os.type },
    ...DEVICE_UNKNOWN,
  };
}

function connectionInfo(transport: Transport, destination: Endpoint, verdict: Verdict | undefined): OcsfRecord {
  const ip = ocsfIp(destination.ip);
  return {
    direction: 'Outbound',
    direction_id: 2,
    ...IP_PROTOCOLS[transport],
    ...(ip !== undefined ? ipVersion(ip) : {}),
    ...(verdict ? boundary(verdict.destinationClass) : {}),
  };
}

function describeEndpoint(e: Endpoint): string {
  const ip = ocsfIp(e.ip) ?? e.ip;
  return ip.includes(':') ? `[${ip}]:${e.port}` : `${ip}:${e.port}`;
}

function who(p: ProcessInfo | null | undefined): string {
  if (!p) return 'an unknown process';
  return `${p.exe !== undefined ? baseName(p.exe) : p.name ?? '?'} (pid ${p.pid})`;
}

/** A Network Activity "Open" record for one outbound connection (severity Informational: telemetry). */
export function connectionToOcsf(event: OcsfConnection, host: HostFacts, meta: OcsfMeta): OcsfRecord {
  const f = new TextFields();
  const v = event.verdict;
  const socketKey = event.inode !== undefined && event.inode > 0 ? `inode:${event.inode}` : event.process?.startTime !== undefined ? `start:${event.process.startTime}` : '';
  const uid = eventUid(['brokerwatch/connection/v1', host.hostname, host.assetId ?? '', event.adapter, event.netns ?? '', event.transport, event.process?.pid ?? '',
    event.source.ip, event.source.port, event.destination.ip, event.destination.port, socketKey]);
  const protocol = v ? `${v.protocol}${v.tls ? ' over TLS' : ''} ` : '';
  const out = {
    ...NETWORK_ACTIVITY,
    ...severity('INFORMATIONAL'),
    time: epochMs(event.time, 'event time'),
    message: f.text(`outbound ${protocol}connection from ${who(event.process)} to ${describeEndpoint(event.destination)}`, OCSF_LIMITS.message, 'message'),
    metadata: metadata(meta, uid),
    app_name: v ? f.text(v.protocol, OCSF_LIMITS.name, 'app_name') : undefined,
    actor: { process: processObject(event.process, event.uid, f, 'actor.process') },
    device: device(host, f),
    src_endpoint: endpoint(event.source),
    dst_endpoint: endpoint(event.destination),
    connection_info: connectionInfo(event.transport, event.destination, v),
  };
  const unmapped = f.additional({
    adapter: f.text(event.adapter, OCSF_LIMITS.name, 'unmapped.adapter'),
    tcp_state: event.transport === 'tcp' ? event.state : undefined,
    socket_inode: event.inode !== undefined && event.inode > 0 ? event.inode : undefined,
    netns: f.text(event.netns, OCSF_LIMITS.name, 'unmapped.netns'),
    exe_deleted: event.process?.exeDeleted === true ? true : undefined,
    tls: v ? v.tls : undefined,
    verdict: v ? { outcome: v.outcome, reasons: v.reasons.map((r, i) => f.text(r, OCSF_LIMITS.string, `unmapped.verdict.reasons[${i}]`)) } : undefined,
  });
  return compact({ ...out, unmapped }) as OcsfRecord;
}

/** At most this many entries of one array in a finding's rule-specific details (topics seen, ...). */
const MAX_DETAIL_ITEMS = 64;

/** Rule-specific details can hold text from the wire (MQTT topics): cap every string and list. */
function capDetails(value: unknown, f: TextFields, path: string): unknown {
  if (typeof value === 'string') return f.text(value, OCSF_LIMITS.name * 16, path);
  if (Array.isArray(value)) {
    if (value.length > MAX_DETAIL_ITEMS) f.truncated.push(`${path}: ${value.length} items, kept ${MAX_DETAIL_ITEMS}`);
    return value.slice(0, MAX_DETAIL_ITEMS).map((v, i) => capDetails(v, f, `${path}[${i}]`));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, capDetails(v, f, `${path}.${k}`)]));
  }
  return value;
}

function analytic(rule: string): OcsfRecord {
  return { name: ruleName(rule), uid: rule, ...ANALYTIC_RULE };
}

/** A Detection Finding for one flagged connection; the connection itself is the evidence. */
export function findingToOcsf(finding: Finding, host: HostFacts, meta: OcsfMeta): OcsfRecord {
  const f = new TextFields();
  const primary = finding.rules[0] ?? 'unknown';
  const proc = processObject(finding.process, undefined, f, 'actor.process');
  const dest = describeEndpoint(finding.destination);
  const summary = `outbound ${finding.protocol}${finding.tls ? ' over TLS' : ''} to ${dest} from ${who(finding.process)}: ${finding.rules.join(', ')}`;
  const out = {
    ...DETECTION_FINDING,
    ...severity(finding.severity),
    ...STATUS_NEW,
    time: epochMs(finding.time, 'finding time'),
    message: f.text(summary, OCSF_LIMITS.message, 'message'),
    metadata: metadata(meta, eventUid(['brokerwatch/finding/v1', host.hostname, host.assetId ?? '', finding.id])),
    finding_info: {
      uid: finding.id,
      title: f.text(`${ruleName(primary)}: ${finding.protocol}${finding.tls ? '/TLS' : ''} to ${dest}`, OCSF_LIMITS.message, 'finding_info.title'),
      desc: f.text(finding.reasons.join('\n'), OCSF_LIMITS.string, 'finding_info.desc'),
      types: finding.rules.map(ruleName),
      analytic: analytic(primary),
      related_analytics: finding.rules.slice(1).map(analytic),
      attacks: [ATTACK],
      created_time: epochMs(finding.time, 'finding time'),
    },
    actor: { process: proc },
    device: device(host, f),
    evidences: [{
      process: proc,
      src_endpoint: endpoint(finding.source),
      dst_endpoint: endpoint(finding.destination),
      connection_info: connectionInfo(finding.transport, finding.destination, undefined),
    }],
  };
  const unmapped = f.additional({
    app_name: f.text(finding.protocol, OCSF_LIMITS.name, 'unmapped.app_name'),
    tls: finding.tls,
    tcp_state: finding.transport === 'tcp' ? finding.state : undefined,
    exe_deleted: finding.process?.exeDeleted === true ? true : undefined,
    details: finding.details ? capDetails(finding.details, f, 'unmapped.details') : undefined,
  });
  return compact({ ...out, unmapped }) as OcsfRecord;
}

/**
 * The YARA-L rule's per-host aggregate as a Detection Finding: count is #net, start_time/end_time
 * the window. Target addresses are evidences; initiating processes are only paths (a process object
 * needs a pid), so they go under unmapped with the rule's other outcome variables.
 */
export function correlationToOcsf(c: Correlation, host: HostFacts, meta: OcsfMeta): OcsfRecord {
  const f = new TextFields();
  const when = c.window !== 'snapshot' ? c.window.end : meta.time;
  if (when === undefined) throw new RangeError('correlationToOcsf: a snapshot correlation needs meta.time');
  const time = epochMs(when, 'correlation time');
  const windowText = c.window === 'snapshot' ? 'snapshot' : `${c.window.start}/${c.window.end}`;
  // Same inputs as udm.ts (its event_timestamp), so both formats give one aggregate the same id.
  const uid = eventUid(['brokerwatch/correlation/v1', host.hostname, host.assetId ?? '', c.rule, rfc3339(when, 'correlation time'), windowText,
    c.event_count, c.protocols_seen, c.initiating_process, c.target_ips]);
  const out = {
    ...DETECTION_FINDING,
    ...severity(c.severity),
    ...STATUS_NEW,
    time,
    count: c.event_count,
    start_time: c.window !== 'snapshot' ? epochMs(c.window.start, 'window start') : undefined,
    end_time: c.window !== 'snapshot' ? time : undefined,
    message: f.text(`${c.event_count} outbound pub/sub connection events (${c.protocols_seen.join(', ')}) to ${c.connection_count} external address(es) from ${c.host}`,
      OCSF_LIMITS.message, 'message'),
    metadata: metadata(meta, uid),
    finding_info: {
      uid,
      title: ruleName(c.rule),
      desc: `YARA-L ${c.rule}: more than one matching NETWORK_CONNECTION event from one host (#net > 1) over ${windowText}`,
      types: [ruleName(c.rule)],
      analytic: analytic(c.rule),
      attacks: [ATTACK],
      created_time: time,
    },
    device: device(host, f),
    evidences: c.target_ips.map((ip) => ({ dst_endpoint: ocsfIp(ip) !== undefined ? { ip: ocsfIp(ip) } : undefined })),
  };
  const unmapped = f.additional({
    connection_count: c.connection_count,
    protocols_seen: c.protocols_seen,
    initiating_process: c.initiating_process.map((p, i) => f.text(p, OCSF_LIMITS.path, `unmapped.initiating_process[${i}]`)),
    target_ips: c.target_ips,
  });
  return compact({ ...out, unmapped }) as OcsfRecord;
}

/** A formatter for the daemon (its RecordFormatter): binds host facts and version. */
export function createOcsfFormatter(host: HostFacts, options: { version: string; now?: () => Date }) {
  const now = options.now ?? (() => new Date());
  return {
    connection: (c: OcsfConnection): OcsfRecord => connectionToOcsf(c, host, { version: options.version }),
    finding: (f: Finding): OcsfRecord => findingToOcsf(f, host, { version: options.version }),
    correlation: (c: Correlation): OcsfRecord => correlationToOcsf(c, host, { version: options.version, time: now().toISOString() }),
  };
}
