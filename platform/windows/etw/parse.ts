/**
 * Pure codecs for the ETW real-time consumer (read.ts does the calls):
 *   - EVENT_TRACE_PROPERTIES for StartTraceW / ControlTraceW (built here, the session name appended)
 *   - EVENT_RECORD's header, as the EventRecordCallback receives it
 *   - the payload of Microsoft-Windows-Kernel-Network "TCPv4/TCPv6: connection attempted"
 *     (event 12 / 28, task KERNEL_NETWORK_TASK_TCPIP), template from the provider's manifest:
 *       PID u32, size u32, daddr, saddr (IPv4: 4 bytes, IPv6: 16 bytes, network order),
 *       dport u16, sport u16 (network order), mss, sackopt, tsopt, wsopt u16, rcvwin u32,
 *       rcvwinscale, sndwinscale u16, seqnum u32, connid u32
 * All x64 layouts (evntrace.h, evntcons.h).
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Endpoint } from '../../../src/core/types';

export const KERNEL_NETWORK_PROVIDER = '7dd42a49-5329-4832-8dfd-43d979153a88';
export const EVENT_TCP_CONNECT_V4 = 12;
export const EVENT_TCP_CONNECT_V6 = 28;
/** KERNEL_NETWORK_KEYWORD_IPV4 | KERNEL_NETWORK_KEYWORD_IPV6 */
export const KERNEL_NETWORK_KEYWORDS = 0x10n | 0x20n;

export const EVENT_TRACE_PROPERTIES_SIZE = 120;
export const EVENT_RECORD_SIZE = 112;
const WNODE_FLAG_TRACED_GUID = 0x00020000;
const EVENT_TRACE_REAL_TIME_MODE = 0x00000100;
/** Room for the session name and the (unused) log file name after the structure. */
const NAME_ROOM = 1024 * 2;

export class EtwParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EtwParseError';
  }
}

/** A GUID string as the 16 bytes of its in-memory layout (Data1-3 little-endian, Data4 as is). */
export function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new EtwParseError(`not a GUID: ${guid}`);
  const b = Buffer.from(hex, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

export function guidString(buf: Uint8Array, offset = 0): string {
  const b = Buffer.from(buf.subarray(offset, offset + 16));
  if (b.length < 16) throw new EtwParseError(`GUID at +${offset}: only ${b.length} bytes`);
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** EVENT_TRACE_PROPERTIES for a real-time session named `name` (QPC clock), with room for the name. */
export function buildTraceProperties(name: string): Buffer {
  if (name.length * 2 + 2 > NAME_ROOM / 2) throw new EtwParseError(`session name too long: ${name.length} characters`);
  const buf = Buffer.alloc(EVENT_TRACE_PROPERTIES_SIZE + NAME_ROOM);
  buf.writeUInt32LE(buf.length, 0); // Wnode.BufferSize
  buf.writeUInt32LE(1, 40); // Wnode.ClientContext: QueryPerformanceCounter timestamps
  buf.writeUInt32LE(WNODE_FLAG_TRACED_GUID, 44); // Wnode.Flags
  buf.writeUInt32LE(EVENT_TRACE_REAL_TIME_MODE, 64); // LogFileMode
  buf.writeUInt32LE(1, 68); // FlushTimer: 1 s, so a connect is seen within a second
  buf.writeUInt32LE(EVENT_TRACE_PROPERTIES_SIZE, 116); // LoggerNameOffset
  buf.write(name, EVENT_TRACE_PROPERTIES_SIZE, 'utf16le');
  return buf;
}

export interface EventHeader {
  providerId: string;
  id: number;
  version: number;
  opcode: number;
  /** The process the header names (for kernel providers often not the connecting one: use the payload's PID). */
  headerPid: number;
  /** Raw EVENT_HEADER.TimeStamp (QPC ticks in a ClientContext=1 session). */
  timestamp: bigint;
  userDataLength: number;
}

/** EVENT_RECORD: EVENT_HEADER (80 bytes: ProcessId +12, TimeStamp +16, ProviderId +24, Id +40, Version +42, Opcode +45), UserDataLength +86. */
export function parseEventHeader(buf: Uint8Array): EventHeader {
  if (buf.length < EVENT_RECORD_SIZE) throw new EtwParseError(`EVENT_RECORD truncated: ${buf.length} of ${EVENT_RECORD_SIZE} bytes`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    providerId: guidString(buf, 24),
    id: v.getUint16(40, true),
    version: v.getUint8(42),
    opcode: v.getUint8(45),
    headerPid: v.getUint32(12, true),
    timestamp: v.getBigInt64(16, true),
    userDataLength: v.getUint16(86, true),
  };
}

export interface ConnectAttempt {
  pid: number;
  family: 4 | 6;
  source: Endpoint;
  destination: Endpoint;
}

function addr(buf: Uint8Array, off: number, family: 4 | 6): string {
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((buf[off + i] as number) << 8) | (buf[off + i + 1] as number)).toString(16));
  return canonicalIp(groups.join(':')) as string;
}

/** Decodes event 12 (IPv4) or 28 (IPv6); null for any other event id. Needs the fields up to sport. */
export function parseConnectAttempt(id: number, payload: Uint8Array): ConnectAttempt | null {
  if (id !== EVENT_TCP_CONNECT_V4 && id !== EVENT_TCP_CONNECT_V6) return null;
  const family = id === EVENT_TCP_CONNECT_V4 ? 4 : 6;
  const alen = family === 4 ? 4 : 16;
  const need = 8 + 2 * alen + 4;
  if (payload.length < need) throw new EtwParseError(`Kernel-Network event ${id} payload truncated: ${payload.length} bytes, the fields up to sport need ${need}`);
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const portsAt = 8 + 2 * alen;
  return {
    pid: v.getUint32(0, true),
    family,
    destination: { ip: addr(payload, 8, family), port: v.getUint16(portsAt, false) },
    source: { ip: addr(payload, 8 + alen, family), port: v.getUint16(portsAt + 2, false) },
  };
}
