/**
 * brokerwatch's own JSON to ConnectionEvent (pure): the `connections` of a `scan --json` document
 * (JudgedConnection: a ConnectionEvent plus its verdict, which is dropped: replay judges again) and
 * JSON lines holding one ConnectionEvent each. Every field is checked again: the file may have been
 * edited, and strings in it are as hostile as the processes they came from.
 */
import { canonicalIp } from '../../src/core/ip';
import type { ConnectionEvent, EventOs, ProcessInfo } from '../../src/core/types';
import { bool, eventTime, int, isObject, malformed, type Parsed, text } from './fields';

/** From the scan document's `host` (HostFacts): who recorded the connections after it. */
export interface DocumentHost {
  hostname?: string;
  os?: EventOs;
}

const OS_BY_PLATFORM: Readonly<Record<string, EventOs>> = { win32: 'windows', linux: 'linux', darwin: 'darwin', windows: 'windows' };

export function documentHost(host: unknown): DocumentHost {
  if (!isObject(host)) return {};
  const out: DocumentHost = {};
  const name = text(host.hostname);
  if (name !== '') out.hostname = name;
  const os = OS_BY_PLATFORM[text(host.platform)];
  if (os) out.os = os;
  return out;
}

export function looksLikeOwn(obj: Record<string, unknown>): boolean {
  return typeof obj.time === 'string' && typeof obj.transport === 'string' && isObject(obj.destination) && isObject(obj.source);
}

function endpoint(v: unknown): { ip: string; port: number } | null {
  if (!isObject(v)) return null;
  const ip = canonicalIp(text(v.ip));
  const port = int(v.port, 65535);
  return ip === null || port === undefined ? null : { ip, port };
}

const PROCESS_TEXT = ['name', 'exe', 'cmdline', 'user', 'startTime', 'parentExe', 'parentName', 'guid'] as const;

function processOf(v: unknown): ProcessInfo | undefined {
  if (!isObject(v)) return undefined;
  const pid = int(v.pid, 0xffffffff);
  if (pid === undefined) return undefined;
  const p: ProcessInfo = { pid };
  for (const key of PROCESS_TEXT) {
    if (typeof v[key] === 'string' && v[key] !== '') p[key] = v[key] as string;
  }
  const ppid = int(v.ppid, 0xffffffff);
  if (ppid !== undefined) p.ppid = ppid;
  const uid = int(v.uid, 0xffffffff);
  if (uid !== undefined) p.uid = uid;
  if (bool(v.exeDeleted) === true) p.exeDeleted = true;
  if (Array.isArray(v.argv) && v.argv.every((a) => typeof a === 'string')) p.argv = v.argv as string[];
  return p;
}

export function ownToEvent(obj: Record<string, unknown>, doc: DocumentHost = {}): Parsed {
  const time = eventTime(obj.time);
  if (time === undefined) return malformed('time is not an ISO 8601 time with a zone');
  const transport = text(obj.transport);
  if (transport !== 'tcp' && transport !== 'udp') return malformed('transport is not tcp or udp');
  const source = endpoint(obj.source);
  const destination = endpoint(obj.destination);
  if (source === null || destination === null) return malformed('source or destination is not an IP address and port');
  const event: ConnectionEvent = {
    time,
    adapter: text(obj.adapter) || 'jsonl',
    transport,
    family: destination.ip.includes(':') ? 6 : 4,
    state: text(obj.state) || 'ESTABLISHED',
    source,
    destination,
    direction: obj.direction === 'inbound' ? 'inbound' : 'outbound',
  };
  const inode = int(obj.inode);
  if (inode !== undefined) event.inode = inode;
  const uid = int(obj.uid, 0xffffffff);
  if (uid !== undefined) event.uid = uid;
  if (typeof obj.netns === 'string' && obj.netns !== '') event.netns = obj.netns;
  const process = processOf(obj.process);
  if (process) event.process = process;
  const host = text(obj.host) || doc.hostname;
  if (host) event.host = host;
  const os = OS_BY_PLATFORM[text(obj.os)] ?? doc.os;
  if (os) event.os = os;
  return { kind: 'event', event };
}
