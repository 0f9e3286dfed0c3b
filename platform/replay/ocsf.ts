/**
 * OCSF 1.1.0 records to ConnectionEvent (pure): what brokerwatch's stdout and file sinks write with
 * `format: ocsf` (src/format/ocsf.ts, which cites the schema). Network Activity [4001] is a
 * connection. A Detection Finding [2004] about one connection is that connection too: the agent
 * sends a connection that raised a finding once, as the finding, so it is read from the finding's
 * evidence and judged again. Correlations (evidences without connection_info) and BEACONING
 * findings (about a series of connections that are each in the file already) are skipped.
 * Read as part of the `jsonl` format (brokerwatch's own JSON).
 */
import { canonicalIp } from '../../src/core/ip';
import type { ConnectionEvent, EventOs, ProcessInfo } from '../../src/core/types';
import { bool, int, isObject, malformed, type Parsed, pick, text } from './fields';

const NETWORK_ACTIVITY = 4001;
const DETECTION_FINDING = 2004;
/** device.os.type_id: 100 Windows, 200 Linux, 300 macOS (os.type_id in the 1.1.0 schema). */
const OS_BY_TYPE: Readonly<Record<number, EventOs>> = { 100: 'windows', 200: 'linux', 300: 'darwin' };

export function looksLikeOcsf(obj: Record<string, unknown>): boolean {
  return typeof obj.class_uid === 'number' && isObject(obj.metadata);
}

function msToIso(v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function endpoint(v: unknown): { ip: string; port: number } | null {
  if (!isObject(v)) return null;
  const ip = canonicalIp(text(v.ip));
  return ip === null ? null : { ip, port: int(v.port, 65535) ?? 0 };
}

function processOf(v: unknown): ProcessInfo | undefined {
  if (!isObject(v)) return undefined;
  const pid = int(v.pid, 0xffffffff);
  if (pid === undefined) return undefined;
  const p: ProcessInfo = { pid };
  const set = (key: 'name' | 'exe' | 'cmdline' | 'user' | 'parentName' | 'parentExe', value: unknown): void => {
    const t = text(value);
    if (t !== '') p[key] = t;
  };
  set('name', v.name);
  set('exe', pick(v, 'file.path'));
  set('cmdline', v.cmd_line);
  set('user', pick(v, 'user.name'));
  const uid = int(pick(v, 'user.uid'), 0xffffffff);
  if (uid !== undefined) p.uid = uid;
  const start = msToIso(v.created_time);
  if (start) p.startTime = start;
  const parent = isObject(v.parent_process) ? v.parent_process : undefined;
  const ppid = parent ? int(parent.pid, 0xffffffff) : undefined;
  if (parent && ppid !== undefined) {
    p.ppid = ppid;
    set('parentName', parent.name);
    set('parentExe', pick(parent, 'file.path'));
  }
  return p;
}

function analyticIds(obj: Record<string, unknown>): string[] {
  const info = isObject(obj.finding_info) ? obj.finding_info : {};
  const related = Array.isArray(info.related_analytics) ? info.related_analytics : [];
  return [info.analytic, ...related].map((a) => (isObject(a) ? text(a.uid) : ''));
}

export function ocsfToEvent(obj: Record<string, unknown>): Parsed {
  if (obj.class_uid === NETWORK_ACTIVITY) return connection(obj, obj);
  if (obj.class_uid !== DETECTION_FINDING) return { kind: 'skip', reason: 'not-connection' };
  const evidence = Array.isArray(obj.evidences) && isObject(obj.evidences[0]) ? obj.evidences[0] : undefined;
  if (!evidence || !isObject(evidence.connection_info)) return { kind: 'skip', reason: 'not-connection' };
  if (analyticIds(obj).includes('BEACONING')) return { kind: 'skip', reason: 'finding' };
  return connection(obj, evidence);
}

/** record: time, actor, device, unmapped; parts: the endpoints and connection_info (the record or its evidence). */
function connection(obj: Record<string, unknown>, parts: Record<string, unknown>): Parsed {
  const time = msToIso(obj.time);
  if (time === undefined) return malformed('time is not epoch milliseconds');
  const info = isObject(parts.connection_info) ? parts.connection_info : {};
  const proto = text(info.protocol_name).toLowerCase();
  const transport = proto === 'tcp' || info.protocol_num === 6 ? 'tcp' : proto === 'udp' || info.protocol_num === 17 ? 'udp' : null;
  if (transport === null) return malformed('connection_info.protocol_name is not tcp or udp');
  const destination = endpoint(parts.dst_endpoint);
  if (destination === null) return malformed('dst_endpoint.ip is missing or invalid');
  const family = destination.ip.includes(':') ? 6 : 4;
  const source = endpoint(parts.src_endpoint) ?? { ip: family === 6 ? '::' : '0.0.0.0', port: 0 };
  const unmapped = isObject(obj.unmapped) ? obj.unmapped : {};
  const event: ConnectionEvent = {
    time,
    adapter: text(unmapped.adapter) || 'ocsf',
    transport,
    family,
    state: text(unmapped.tcp_state) || 'ESTABLISHED',
    source,
    destination,
    direction: info.direction_id === 1 ? 'inbound' : 'outbound',
  };
  const inode = int(unmapped.socket_inode);
  if (inode !== undefined) event.inode = inode;
  const netns = text(unmapped.netns);
  if (netns !== '') event.netns = netns;
  const process = processOf(pick(obj, 'actor.process'));
  if (process && bool(unmapped.exe_deleted) === true) process.exeDeleted = true;
  if (process) event.process = process;
  const host = text(pick(obj, 'device.hostname'));
  if (host !== '') event.host = host;
  const os = OS_BY_TYPE[Number(pick(obj, 'device.os.type_id'))];
  if (os) event.os = os;
  return { kind: 'event', event };
}
