/**
 * Google SecOps (Chronicle) UDM events for connections, findings and per-host correlations.
 * Pure functions: the same input always gives the same object (golden tests hold the bytes).
 *
 * Field names are the UDM proto's snake_case names, as in the UDM field list and YARA-L paths; the
 * proto3 JSON mapping makes parsers accept them as well as the lowerCamelCase form. Absent values are
 * left out, never written as "" (proto3 treats both as unset).
 *
 * Sources (every field and enum value used here was checked in them):
 *  - The UDM proto, package google.backstory: googleapis/google-cloud-python,
 *    packages/google-backstory/google/backstory/types/udm.py (Metadata, Noun, Process, File, User,
 *    Network, SecurityResult, AttackDetails, Label; enums Metadata.EventType, Noun.Platform,
 *    Network.Direction/IpProtocol/ApplicationProtocol/ConnectionState, SecurityResult.SecurityCategory
 *    and ProductSeverity). Network.ApplicationProtocol has AMQP, MQTT and XMPP, but no STOMP.
 *  - https://cloud.google.com/chronicle/docs/reference/rest/Shared.Types/ApplicationProtocol
 *  - https://cloud.google.com/chronicle/docs/reference/rest/Shared.Types/Metadata (RFC 3339 timestamps)
 *  - https://cloud.google.com/chronicle/docs/unified-data-model/udm-usage (asset_id encoding
 *    "VendorName.ProductName:ID"; Noun.ip holds one address when the event is one connection, and
 *    exactly one beside a port; Noun.platform values; platform_version at most 64 characters)
 *  - https://cloud.google.com/chronicle/docs/unified-data-model/udm-field-list
 *  - https://protobuf.dev/programming-guides/proto3/#json (both field-name forms accepted;
 *    google.protobuf.Struct, the type of `additional`, is a plain JSON object), and the JSON sample in
 *    chronicle/api-samples-python ingestion/example_input/sample_udm_events.json.
 *
 * product_log_id (32 hex digits, the first 128 bits of a SHA-256 over a JSON array):
 *  - connection: ["brokerwatch/connection/v1", hostname, assetId, adapter, netns, transport, pid,
 *    source ip, source port, destination ip, destination port, socket key], where the socket key is
 *    "inode:N" when the kernel gave an inode, else "start:<process start time>", else "". It holds
 *    no observation time, so the same socket seen by two scans keeps its id (deduplicate on it).
 *  - finding: ["brokerwatch/finding/v1", hostname, assetId, finding.id] (finding.id already hashes
 *    the rules, process, 4-tuple and process start time).
 *  - correlation: ["brokerwatch/correlation/v1", hostname, assetId, rule, event_timestamp, window,
 *    event_count, protocols_seen, initiating_process, target_ips].
 */
import type { Correlation } from '../analyzer/analyze';
import type { ConnectionEvent, Endpoint, Finding, HostFacts, ProcessInfo, Transport } from '../core/types';
import { correlationToUdm } from './udm-correlation';
import {
  applicationProtocol, ATTACK_DETAILS, assetId, CATEGORY_C2, CATEGORY_SUSPICIOUS, connectionState, FIELD_LIMITS,
  MAX_DETAIL_LABELS, platform, rfc3339, ruleName, udmIp,
} from './udm-enums';
import { compact, type Label, labels, logId, metadata, TextFields, type UdmEvent, type UdmMeta, validPort } from './udm-parts';

export { toJsonLine } from './jsonline';
export { correlationToUdm } from './udm-correlation';
export { FIELD_LIMITS } from './udm-enums';
export type { UdmEvent, UdmMeta } from './udm-parts';

const REPUTATION_RULE = 'BROKER-REPUTATION';

function productEventType(kind: string, protocol: { name: string; tls: boolean } | undefined, f: TextFields): string {
  if (!protocol) return kind;
  const name = f.text(protocol.name, FIELD_LIMITS.name, 'metadata.product_event_type') ?? '';
  return `${kind}:${name}${protocol.tls ? '/TLS' : ''}`;
}

function processNoun(p: ProcessInfo | null | undefined, f: TextFields): UdmEvent | undefined {
  if (!p) return undefined;
  f.cutAtCapture(p, 'principal.process.command_line');
  return {
    pid: String(p.pid),
    command_line: f.text(p.cmdline, FIELD_LIMITS.commandLine, 'principal.process.command_line'),
    file: { full_path: f.text(p.exe, FIELD_LIMITS.path, 'principal.process.file.full_path') },
    parent_process: {
      pid: p.ppid !== undefined ? String(p.ppid) : undefined,
      file: { full_path: f.text(p.parentExe, FIELD_LIMITS.path, 'principal.process.parent_process.file.full_path') },
    },
  };
}

function userId(p: ProcessInfo | null | undefined, socketUid: number | undefined): string | undefined {
  if (p?.user !== undefined && p.user !== '') return p.user;
  const uid = p?.uid ?? socketUid;
  return uid !== undefined ? String(uid) : undefined;
}

/** principal for one connection: the host, the process, and the socket's own address and port. */
function connectionPrincipal(host: HostFacts, source: Endpoint, p: ProcessInfo | null | undefined, socketUid: number | undefined, f: TextFields): UdmEvent {
  const ip = udmIp(source.ip);
  return {
    hostname: f.text(host.hostname, FIELD_LIMITS.hostname, 'principal.hostname'),
    asset_id: assetId(host.assetId),
    ip: ip !== undefined ? [ip] : undefined,
    port: ip !== undefined ? validPort(source.port) : undefined,
    platform: platform(host.platform),
    platform_version: f.text(host.os, FIELD_LIMITS.platformVersion, 'principal.platform_version'),
    user: { userid: f.text(userId(p, socketUid), FIELD_LIMITS.user, 'principal.user.userid') },
    process: processNoun(p, f),
  };
}

function target(destination: Endpoint, f: TextFields): UdmEvent {
  const ip = udmIp(destination.ip);
  return {
    // The name the process resolved (wire inspection), never one the agent looked up.
    hostname: f.text(destination.hostname, FIELD_LIMITS.hostname, 'target.hostname'),
    ip: ip !== undefined ? [ip] : undefined,
    port: ip !== undefined ? validPort(destination.port) : undefined,
  };
}

function network(transport: Transport, state: string, protocol: string | undefined): UdmEvent {
  return {
    direction: 'OUTBOUND',
    ip_protocol: transport === 'udp' ? 'UDP' : 'TCP',
    application_protocol: protocol !== undefined ? applicationProtocol(protocol) : undefined,
    connection_state: connectionState(transport, state),
  };
}

/** A UDM NETWORK_CONNECTION event for one outbound connection. */
export function connectionToUdm(event: ConnectionEvent, host: HostFacts, meta: UdmMeta): UdmEvent {
  const f = new TextFields();
  const socketKey = event.inode !== undefined && event.inode > 0 ? `inode:${event.inode}` : event.process?.startTime !== undefined ? `start:${event.process.startTime}` : '';
  const id = logId(['brokerwatch/connection/v1', host.hostname, host.assetId ?? '', event.adapter, event.netns ?? '', event.transport, event.process?.pid ?? '',
    event.source.ip, event.source.port, event.destination.ip, event.destination.port, socketKey]);
  const out = {
    metadata: metadata(meta, 'NETWORK_CONNECTION', rfc3339(event.time, 'event time'), productEventType('pubsub_connection', meta.protocol, f), id),
    principal: connectionPrincipal(host, event.source, event.process, event.uid, f),
    target: target(event.destination, f),
    network: network(event.transport, event.state, meta.protocol?.name),
  };
  const additional = f.additional({
    adapter: f.text(event.adapter, FIELD_LIMITS.name, 'additional.adapter'),
    socket_inode: event.inode !== undefined && event.inode > 0 ? String(event.inode) : undefined,
    netns: f.text(event.netns, FIELD_LIMITS.name, 'additional.netns'),
    // The kernel's short name says something when the executable path could not be read.
    process_name: event.process?.exe === undefined ? f.text(event.process?.name, FIELD_LIMITS.name, 'additional.process_name') : undefined,
  });
  return compact({ ...out, additional }) as UdmEvent;
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Flattens a finding's details into labels: arrays repeat the key, nested objects join keys with ".". */
function detailLabels(details: Record<string, unknown>, prefix = ''): Label[] {
  const out: Label[] = [];
  for (const [k, v] of Object.entries(details)) {
    const key = prefix + snakeCase(k);
    const values = Array.isArray(v) ? v : [v];
    for (const item of values) {
      if (item === undefined || item === null) continue;
      if (typeof item === 'object' && !Array.isArray(item)) out.push(...detailLabels(item as Record<string, unknown>, `${key}.`));
      else out.push({ key, value: Array.isArray(item) ? JSON.stringify(item) : String(item) });
    }
  }
  return out;
}

function findingResult(finding: Finding, f: TextFields): UdmEvent {
  const dest = finding.destination.ip.includes(':') ? `[${finding.destination.ip}]:${finding.destination.port}` : `${finding.destination.ip}:${finding.destination.port}`;
  const fixed: Label[] = [
    ...finding.rules.map((r) => ({ key: 'rule_id', value: r })),
    { key: 'technique', value: finding.technique },
    { key: 'protocol', value: finding.protocol },
    { key: 'tls', value: String(finding.tls) },
    { key: 'transport', value: finding.transport },
    { key: 'state', value: finding.state },
    { key: 'finding_id', value: finding.id },
  ];
  let extra = finding.details ? detailLabels(finding.details) : [];
  if (extra.length > MAX_DETAIL_LABELS) {
    f.truncated.push(`security_result.detection_fields: ${extra.length} detail labels, kept ${MAX_DETAIL_LABELS}`);
    extra = extra.slice(0, MAX_DETAIL_LABELS);
  }
  const primary = finding.rules[0] ?? 'unknown';
  return {
    rule_name: ruleName(primary),
    rule_id: primary,
    category: [finding.rules.includes(REPUTATION_RULE) ? CATEGORY_C2 : CATEGORY_SUSPICIOUS],
    severity: finding.severity,
    summary: f.text(`outbound ${finding.protocol}${finding.tls ? ' over TLS' : ''} to ${dest}: ${finding.rules.join(', ')}`, FIELD_LIMITS.summary, 'security_result.summary'),
    description: f.text(finding.reasons.join('\n'), FIELD_LIMITS.description, 'security_result.description'),
    detection_fields: labels([...fixed, ...extra], f),
    attack_details: ATTACK_DETAILS,
  };
}

/** The connection event of a finding, with a security_result that says why it was flagged. */
export function findingToUdm(finding: Finding, host: HostFacts, meta: UdmMeta): UdmEvent {
  const f = new TextFields();
  const protocol = { name: finding.protocol, tls: finding.tls };
  const out = {
    metadata: metadata(meta, 'NETWORK_CONNECTION', rfc3339(finding.time, 'finding time'), productEventType('pubsub_finding', protocol, f),
      logId(['brokerwatch/finding/v1', host.hostname, host.assetId ?? '', finding.id])),
    principal: connectionPrincipal(host, finding.source, finding.process, undefined, f),
    target: target(finding.destination, f),
    network: network(finding.transport, finding.state, finding.protocol),
    security_result: [findingResult(finding, f)],
  };
  const additional = f.additional({
    process_name: finding.process && finding.process.exe === undefined ? f.text(finding.process.name, FIELD_LIMITS.name, 'additional.process_name') : undefined,
  });
  return compact({ ...out, additional }) as UdmEvent;
}

/** A formatter for the daemon: binds host facts and version; connections may carry the verdict's protocol. */
export function createUdmFormatter(host: HostFacts, options: { version: string; now?: () => Date }) {
  const now = options.now ?? (() => new Date());
  return {
    connection: (c: ConnectionEvent & { verdict?: { protocol: string; tls: boolean } }): UdmEvent =>
      connectionToUdm(c, host, { version: options.version, ...(c.verdict ? { protocol: { name: c.verdict.protocol, tls: c.verdict.tls } } : {}) }),
    finding: (f: Finding): UdmEvent => findingToUdm(f, host, { version: options.version }),
    correlation: (c: Correlation): UdmEvent => correlationToUdm(c, host, { version: options.version, time: now().toISOString() }),
  };
}
