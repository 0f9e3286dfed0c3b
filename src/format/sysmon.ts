/**
 * Sysmon Event ID 3 ("Network connection detected") records in the JSON shape NXLog's
 * im_msvistalog + to_json() forwards from the Microsoft-Windows-Sysmon/Operational channel: the
 * event-log system fields (EventTime, Hostname, EventID, SourceName, Channel, ...) and the event's
 * EventData fields flattened beside them. Google SecOps parses these lines with its prebuilt
 * WINDOWS_SYSMON parser into UDM NETWORK_CONNECTION events with principal.process.file.full_path
 * (from Image), so the YARA-L rule t1071_005_pubsub_protocol_external_c2 runs on them unchanged.
 *
 * EventData fields: every field of Sysmon Event ID 3 (schema version 5): RuleName, UtcTime,
 * ProcessGuid, ProcessId, Image, User, Protocol, Initiated, SourceIsIpv6, SourceIp, SourceHostname,
 * SourcePort, SourcePortName, DestinationIsIpv6, DestinationIp, DestinationHostname,
 * DestinationPort, DestinationPortName. Values are strings, as NXLog writes EventData. Sources:
 * the Sysmon EID 3 data dictionary (OSSEM, ossemproject.com/dd/dictionaries/linux/sysmon/event-3),
 * NXLog's im_msvistalog field list and JSON samples of Sysmon events forwarded by NXLog, and Google's
 * "Collect Microsoft Windows Sysmon data" (WINDOWS_SYSMON; NXLog to the forwarder) and its change log
 * (ProcessId -> principal.process.pid, ProcessID -> observer.process.pid, ThreadID, Channel, ...).
 *
 * Findings: Sysmon's RuleName carries the names of the configuration rules an event matched; here it
 * carries the finding: "technique_id=T1071.005,technique_name=Publish/Subscribe Protocols,
 * rule=PUBSUB-EXTERNAL+AN0003,severity=HIGH,finding_id=<id> | reason | reason". Telemetry has "-",
 * as Sysmon writes for an event no named rule matched. README "Sending to Google SecOps" shows how a
 * parser extension maps it.
 *
 * Left out on purpose: Keywords (Sysmon's 0x8000000000000000 is beyond a JSON number's exact
 * range) and correlations (a Sysmon record of a correlation would count as one more connection in
 * the SIEM's `#net > 1`; the SIEM rule computes the aggregate itself).
 */
import crypto from 'node:crypto';
import type { ConnectionEvent, Finding, HostFacts, ProcessInfo, Transport } from '../core/types';
import { safeText } from '../core/text';
import { FIELD_LIMITS, udmIp } from './udm-enums';
import { logId, TextFields } from './udm-parts';

export type SysmonRecord = Record<string, unknown>;

export const SYSMON_PROVIDER_GUID = '{5770385F-C22A-43E0-BF4C-06F5698FFBD9}';
const RULE_NAME_LIMIT = 4096;

/** IANA service names of the pub/sub ports (what Sysmon's port-name lookup gives); "-" for the rest. */
const PORT_NAMES: Readonly<Record<number, string>> = {
  1883: 'mqtt', 8883: 'secure-mqtt', 5222: 'xmpp-client', 5269: 'xmpp-server', 5672: 'amqp', 5671: 'amqps',
};

export interface SysmonOptions {
  /** Written as ProcessID / ThreadID: the process that wrote the event (Sysmon's own, here the agent's). */
  agentPid: number;
}

/** "2025-11-03 10:15:30.123": Sysmon's UtcTime. */
function utcTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new RangeError(`sysmon: not a time: ${JSON.stringify(iso)}`);
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** "2025-11-03 10:15:30": NXLog's EventTime (the deployment guide asks for UTC clocks, so UTC). */
function eventTime(iso: string): string {
  return utcTime(iso).slice(0, 19);
}

/** A Sysmon-style process GUID, stable for one process: host, pid and start time (pid reuse gives a new one). */
export function processGuid(host: HostFacts, p: ProcessInfo): string {
  const h = crypto.createHash('sha256').update(JSON.stringify(['brokerwatch/process-guid/v1', host.assetId ?? host.hostname, p.pid, p.startTime ?? ''])).digest('hex');
  return `{${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}}`;
}

/** RecordNumber from a stable event id: 48 bits, so a JSON number carries it exactly; duplicates keep it. */
function recordNumber(id: string): number {
  return Number.parseInt(id.slice(0, 12), 16);
}

/** The user as Sysmon names it (DOMAIN\user on Windows, the name on Linux); the uid when no name is known. */
function userName(p: ProcessInfo | null | undefined, socketUid: number | undefined): string {
  if (p?.user !== undefined && p.user !== '') return p.user;
  const uid = p?.uid ?? socketUid;
  return uid !== undefined ? String(uid) : '-';
}

/** The account the event writer runs as (the agent: SYSTEM on Windows, root elsewhere). */
function writerAccount(host: HostFacts): Record<string, string> {
  return host.platform === 'win32'
    ? { Domain: 'NT AUTHORITY', AccountName: 'SYSTEM', UserID: 'S-1-5-18', AccountType: 'User' }
    : { AccountName: 'root', UserID: '0', AccountType: 'User' };
}

/** Reason text safe inside RuleName: one line, no field separator. */
function ruleText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/\|/g, '/');
}

/** The RuleName of a finding (see the header comment). */
export function findingRuleName(f: Finding): string {
  return [`technique_id=${f.technique},technique_name=Publish/Subscribe Protocols,rule=${f.rules.join('+')},severity=${f.severity},finding_id=${f.id}`, ...f.reasons.map(ruleText)].join(' | ');
}

interface Parts {
  time: string;
  transport: Transport;
  source: { ip: string; port: number };
  destination: { ip: string; port: number };
  process: ProcessInfo | null | undefined;
  socketUid: number | undefined;
  ruleName: string;
  id: string;
  /** The host the event names (replayed records), else this agent's host. */
  eventHost: string | undefined;
}

function record(p: Parts, host: HostFacts, options: SysmonOptions): SysmonRecord {
  const f = new TextFields();
  const proc = p.process ?? undefined;
  const image = f.text(proc?.exe ?? proc?.name, FIELD_LIMITS.path, 'Image') ?? '<unknown process>';
  const hostname = f.text(p.eventHost ?? host.hostname, FIELD_LIMITS.hostname, 'Hostname') ?? '-';
  const rule = f.text(p.ruleName, RULE_NAME_LIMIT, 'RuleName') ?? '-';
  // IPv4-mapped IPv6 is written as the IPv4 it carries (as in UDM): the SIEM's private-range checks see the peer.
  const sourceIp = udmIp(p.source.ip) ?? p.source.ip;
  const destinationIp = udmIp(p.destination.ip) ?? p.destination.ip;
  const data: [string, string][] = [
    ['RuleName', rule],
    ['UtcTime', utcTime(p.time)],
    // A GUID the event already carries (a replayed Sysmon record) is kept; else one is derived.
    ...(proc ? [['ProcessGuid', proc.guid ?? processGuid(host, proc)], ['ProcessId', String(proc.pid)]] as [string, string][] : []),
    ['Image', image],
    ['User', f.text(userName(proc, p.socketUid), FIELD_LIMITS.user, 'User') ?? '-'],
    ['Protocol', p.transport],
    ['Initiated', 'true'],
    ['SourceIsIpv6', String(sourceIp.includes(':'))],
    ['SourceIp', sourceIp],
    ['SourceHostname', hostname],
    ['SourcePort', String(p.source.port)],
    ['SourcePortName', '-'],
    ['DestinationIsIpv6', String(destinationIp.includes(':'))],
    ['DestinationIp', destinationIp],
    ['DestinationHostname', '-'],
    ['DestinationPort', String(p.destination.port)],
    ['DestinationPortName', PORT_NAMES[p.destination.port] ?? '-'],
  ];
  const when = eventTime(p.time);
  const out: SysmonRecord = {
    EventTime: when,
    Hostname: hostname,
    EventType: 'INFO',
    SeverityValue: 2,
    Severity: 'INFO',
    EventID: 3,
    SourceName: 'Microsoft-Windows-Sysmon',
    ProviderGuid: SYSMON_PROVIDER_GUID,
    Version: 5,
    Task: 3,
    OpcodeValue: 0,
    RecordNumber: recordNumber(p.id),
    ProcessID: options.agentPid,
    ThreadID: options.agentPid,
    Channel: 'Microsoft-Windows-Sysmon/Operational',
    ...writerAccount(host),
    // The rendered text, as Windows writes it; control characters in hostile values become \xNN so
    // a process name cannot forge a line of it.
    Message: `Network connection detected:\r\n${data.map(([k, v]) => `${k}: ${safeText(v)}`).join('\r\n')}`,
    Category: 'Network connection detected (rule: NetworkConnect)',
    Opcode: 'Info',
    ...Object.fromEntries(data),
    Computer: hostname,
    EventReceivedTime: when,
    SourceModuleName: 'brokerwatch',
    SourceModuleType: 'brokerwatch',
  };
  if (f.truncated.length > 0) out.TruncatedFields = f.truncated.join('; ');
  return out;
}

/** One observed connection (telemetry): RuleName "-". */
export function connectionToSysmon(e: ConnectionEvent, host: HostFacts, options: SysmonOptions): SysmonRecord {
  const socketKey = e.inode !== undefined && e.inode > 0 ? `inode:${e.inode}` : e.process?.startTime !== undefined ? `start:${e.process.startTime}` : '';
  const id = logId(['brokerwatch/sysmon-connection/v1', host.hostname, host.assetId ?? '', e.adapter, e.netns ?? '', e.transport, e.process?.pid ?? '',
    e.source.ip, e.source.port, e.destination.ip, e.destination.port, socketKey]);
  return record({ time: e.time, transport: e.transport, source: e.source, destination: e.destination, process: e.process, socketUid: e.uid, ruleName: '-', id, eventHost: e.host }, host, options);
}

/** A finding: the connection's record with the finding in RuleName. */
export function findingToSysmon(f: Finding, host: HostFacts, options: SysmonOptions): SysmonRecord {
  const id = logId(['brokerwatch/sysmon-finding/v1', host.hostname, host.assetId ?? '', f.id]);
  return record({ time: f.time, transport: f.transport, source: f.source, destination: f.destination, process: f.process, socketUid: undefined, ruleName: findingRuleName(f), id, eventHost: f.host }, host, options);
}

/** A formatter for the daemon. Correlations have no Sysmon form (see the header): null, nothing is sent. */
export function createSysmonFormatter(host: HostFacts, options: SysmonOptions = { agentPid: process.pid }) {
  return {
    connection: (c: ConnectionEvent): SysmonRecord => connectionToSysmon(c, host, options),
    finding: (f: Finding): SysmonRecord => findingToSysmon(f, host, options),
    correlation: (): null => null,
  };
}
