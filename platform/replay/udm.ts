/**
 * UDM NETWORK_CONNECTION events to ConnectionEvent (pure): Chronicle / Google SecOps exports and
 * brokerwatch's own UDM output (src/format/udm.ts writes it; this reads back every field it writes).
 * Field names in both proto3 JSON forms (snake_case and lowerCamelCase). An event wrapped as
 * {"udm": {...}} is unwrapped. A finding is a connection too: the agent sends a connection that
 * raised a finding once, as the finding (NETWORK_CONNECTION plus security_result), so it is read as
 * the connection it is and judged again. Only derived findings (BEACONING, about a series of
 * connections that are each in the file already) are skipped.
 */
import { canonicalIp } from '../../src/core/ip';
import type { ConnectionEvent, EventOs, ProcessInfo } from '../../src/core/types';
import { baseName, eventTime, int, isObject, malformed, osFromPath, type Parsed, pick, text } from './fields';

/** Network.ConnectionState back to the state names adapters report (procfs names, see udm-enums.ts). */
const STATES: Readonly<Record<string, string>> = {
  ESTABLISHED: 'ESTABLISHED', SYN_SENT: 'SYN_SENT', SYN_RECEIVED: 'SYN_RECV', FIN_WAIT1: 'FIN_WAIT1', FIN_WAIT2: 'FIN_WAIT2',
  TIME_WAIT: 'TIME_WAIT', CLOSED: 'CLOSE', CLOSE_WAIT: 'CLOSE_WAIT', LAST_ACK: 'LAST_ACK', LISTENING: 'LISTEN',
};
const PLATFORMS: Readonly<Record<string, EventOs>> = { WINDOWS: 'windows', LINUX: 'linux', MAC: 'darwin' };

/** The object is UDM when it has metadata with an event type or timestamp and a principal or target. */
export function looksLikeUdm(obj: Record<string, unknown>): boolean {
  const u = isObject(obj.udm) ? obj.udm : obj;
  return isObject(u.metadata) && (isObject(u.principal) || isObject(u.target) || isObject(u.network));
}

function firstIp(noun: Record<string, unknown>): unknown {
  const ip = noun.ip;
  return Array.isArray(ip) ? ip[0] : ip;
}

function processOf(principal: Record<string, unknown>, additional: Record<string, unknown>): ProcessInfo | undefined {
  const p = isObject(principal.process) ? principal.process : undefined;
  const pid = p ? int(pick(p, 'pid'), 0xffffffff) : undefined;
  if (!p || pid === undefined) return undefined;
  const out: ProcessInfo = { pid };
  const exe = text(pick(p, 'file.full_path', 'file.fullPath'));
  const name = text(additional.process_name);
  if (exe !== '') out.exe = exe;
  if (name !== '' || exe !== '') out.name = name !== '' ? name : baseName(exe);
  const cmdline = text(pick(p, 'command_line', 'commandLine'));
  if (cmdline !== '') out.cmdline = cmdline;
  const ppid = int(pick(p, 'parent_process.pid', 'parentProcess.pid'), 0xffffffff);
  if (ppid !== undefined) out.ppid = ppid;
  const parentExe = text(pick(p, 'parent_process.file.full_path', 'parentProcess.file.fullPath'));
  if (parentExe !== '') out.parentExe = parentExe;
  // connectionToUdm writes the user name when known, else the numeric uid.
  const user = text(pick(principal, 'user.userid'));
  if (/^\d{1,10}$/.test(user)) out.uid = Number(user);
  else if (user !== '') out.user = user;
  const guid = text(pick(p, 'product_specific_process_id', 'productSpecificProcessId'));
  if (guid !== '') out.guid = guid;
  return out;
}

export function udmToEvent(record: Record<string, unknown>): Parsed {
  const u = isObject(record.udm) ? record.udm : record;
  const type = text(pick(u, 'metadata.event_type', 'metadata.eventType'));
  if (type !== 'NETWORK_CONNECTION') return { kind: 'skip', reason: 'not-connection' };
  const results = pick(u, 'security_result', 'securityResult');
  if (Array.isArray(results) && results.some((r) => isObject(r) && text(pick(r, 'rule_id', 'ruleId')) === 'BEACONING')) return { kind: 'skip', reason: 'finding' };
  const time = eventTime(pick(u, 'metadata.event_timestamp', 'metadata.eventTimestamp'));
  if (time === undefined) return malformed('metadata.event_timestamp is not an RFC 3339 time');
  const principal = isObject(u.principal) ? u.principal : {};
  const target = isObject(u.target) ? u.target : {};
  const network = isObject(u.network) ? u.network : {};
  const additional = isObject(u.additional) ? u.additional : {};
  const proto = text(pick(network, 'ip_protocol', 'ipProtocol')).toUpperCase();
  if (proto !== 'TCP' && proto !== 'UDP') return malformed('network.ip_protocol is not TCP or UDP');
  const dst = canonicalIp(text(firstIp(target)));
  const dport = int(target.port, 65535);
  if (dst === null || dport === undefined) return malformed('target.ip or target.port is missing or invalid');
  const family = dst.includes(':') ? 6 : 4;
  // udmIp leaves out the unspecified address; an absent principal.ip means the socket had none.
  const src = canonicalIp(text(firstIp(principal))) ?? (family === 6 ? '::' : '0.0.0.0');
  const transport = proto === 'TCP' ? 'tcp' : 'udp';
  const state = STATES[text(pick(network, 'connection_state', 'connectionState')).toUpperCase()] ?? 'ESTABLISHED';
  const event: ConnectionEvent = {
    time,
    adapter: text(additional.adapter) || 'udm',
    transport,
    family,
    state,
    source: { ip: src, port: int(principal.port, 65535) ?? 0 },
    destination: { ip: dst, port: dport },
    direction: text(network.direction).toUpperCase() === 'INBOUND' ? 'inbound' : 'outbound',
  };
  const inode = int(additional.socket_inode);
  if (inode !== undefined) event.inode = inode;
  const netns = text(additional.netns);
  if (netns !== '') event.netns = netns;
  const process = processOf(principal, additional);
  if (process) event.process = process;
  const host = text(pick(principal, 'hostname', 'asset.hostname'));
  if (host !== '') event.host = host;
  const os = PLATFORMS[text(principal.platform).toUpperCase()] ?? (process?.exe ? osFromPath(process.exe) : undefined);
  if (os) event.os = os;
  return { kind: 'event', event };
}
