/**
 * Pure decoders of the buffers GetExtendedTcpTable / GetExtendedUdpTable fill (the *_OWNER_PID
 * table classes). No I/O and no locale-dependent text: read.ts passes the bytes in.
 *
 * Layouts (iphlpapi's tcpmib.h / udpmib.h, x64 and x86 alike - every field is a DWORD or bytes):
 *   table:                  DWORD dwNumEntries, then the rows from offset 4
 *   MIB_TCPROW_OWNER_PID    24 bytes: state +0, local addr +4, local port +8, remote addr +12, remote port +16, pid +20
 *   MIB_TCP6ROW_OWNER_PID   56 bytes: local addr +0 (16), scope +16, local port +20, remote addr +24 (16),
 *                                     remote scope +40, remote port +44, state +48, pid +52
 *   MIB_UDPROW_OWNER_PID    12 bytes: local addr +0, local port +4, pid +8
 *   MIB_UDP6ROW_OWNER_PID   28 bytes: local addr +0 (16), scope +16, local port +20, pid +24
 * Addresses are in network byte order; a port is the first two bytes of its DWORD, big-endian
 * (the upper half is undefined and ignored). Counts and pids are little-endian.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Endpoint, Transport } from '../../../src/core/types';

/** MIB_TCP_STATE values, named as brokerwatch names TCP states on every platform. */
export const MIB_TCP_STATES: Readonly<Record<number, string>> = {
  1: 'CLOSE',
  2: 'LISTEN',
  3: 'SYN_SENT',
  4: 'SYN_RECV',
  5: 'ESTABLISHED',
  6: 'FIN_WAIT1',
  7: 'FIN_WAIT2',
  8: 'CLOSE_WAIT',
  9: 'CLOSING',
  10: 'LAST_ACK',
  11: 'TIME_WAIT',
  12: 'DELETE_TCB',
};

export interface TableRow {
  transport: Transport;
  family: 4 | 6;
  /** TCP state name; UDP rows are UNCONN (the owner-pid UDP table has no remote end). */
  state: string;
  local: Endpoint;
  remote: Endpoint;
  /** IPv6 scope ids (link-local addresses), 0 otherwise. */
  localScope: number;
  remoteScope: number;
  /** Owning process id; 0 = System Idle / no owner (and, under Wine, any socket Wine cannot attribute). */
  pid: number;
}

/** A buffer that does not hold what its header announces: the message names table, counts and sizes. */
export class TableParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TableParseError';
  }
}

const ROW_SIZE = { tcp4: 24, tcp6: 56, udp4: 12, udp6: 28 } as const;
export type TableKind = keyof typeof ROW_SIZE;

function ipv4At(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

function ipv6At(buf: Uint8Array, off: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((buf[off + i] as number) << 8) | (buf[off + i + 1] as number)).toString(16));
  // canonicalIp: RFC 5952 short form, IPv4-mapped written as the IPv4 it carries.
  return canonicalIp(groups.join(':')) as string;
}

function portAt(buf: Uint8Array, off: number): number {
  return ((buf[off] as number) << 8) | (buf[off + 1] as number);
}

function stateName(code: number): string {
  return MIB_TCP_STATES[code] ?? `UNKNOWN_${code}`;
}

/** The number of rows a buffer announces, checked against its length. */
function rowCount(buf: Uint8Array, kind: TableKind): number {
  if (buf.length < 4) throw new TableParseError(`${kind} table: ${buf.length} bytes, too short for the 4-byte row count`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = view.getUint32(0, true);
  const need = 4 + count * ROW_SIZE[kind];
  if (need > buf.length) {
    const whole = Math.floor((buf.length - 4) / ROW_SIZE[kind]);
    throw new TableParseError(`${kind} table truncated: ${count} rows of ${ROW_SIZE[kind]} bytes announced (${need} bytes), the buffer holds ${buf.length} bytes (${whole} whole rows)`);
  }
  return count;
}

/** Decodes a MIB_TCPTABLE_OWNER_PID (family 4) or MIB_TCP6TABLE_OWNER_PID (family 6) buffer. */
export function parseTcpTable(buf: Uint8Array, family: 4 | 6): TableRow[] {
  const kind: TableKind = family === 4 ? 'tcp4' : 'tcp6';
  const count = rowCount(buf, kind);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const rows: TableRow[] = [];
  for (let i = 0; i < count; i++) {
    const o = 4 + i * ROW_SIZE[kind];
    if (family === 4) {
      rows.push({
        transport: 'tcp', family, state: stateName(view.getUint32(o, true)),
        local: { ip: ipv4At(buf, o + 4), port: portAt(buf, o + 8) },
        remote: { ip: ipv4At(buf, o + 12), port: portAt(buf, o + 16) },
        localScope: 0, remoteScope: 0, pid: view.getUint32(o + 20, true),
      });
    } else {
      rows.push({
        transport: 'tcp', family, state: stateName(view.getUint32(o + 48, true)),
        local: { ip: ipv6At(buf, o), port: portAt(buf, o + 20) },
        remote: { ip: ipv6At(buf, o + 24), port: portAt(buf, o + 44) },
        localScope: view.getUint32(o + 16, true), remoteScope: view.getUint32(o + 40, true), pid: view.getUint32(o + 52, true),
      });
    }
  }
  return rows;
}

/** Decodes a MIB_UDPTABLE_OWNER_PID (family 4) or MIB_UDP6TABLE_OWNER_PID (family 6) buffer. */
export function parseUdpTable(buf: Uint8Array, family: 4 | 6): TableRow[] {
  const kind: TableKind = family === 4 ? 'udp4' : 'udp6';
  const count = rowCount(buf, kind);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const rows: TableRow[] = [];
  const anyRemote = { ip: family === 4 ? '0.0.0.0' : '::', port: 0 };
  for (let i = 0; i < count; i++) {
    const o = 4 + i * ROW_SIZE[kind];
    const local = family === 4 ? { ip: ipv4At(buf, o), port: portAt(buf, o + 4) } : { ip: ipv6At(buf, o), port: portAt(buf, o + 20) };
    rows.push({
      transport: 'udp', family, state: 'UNCONN', local, remote: { ...anyRemote },
      localScope: family === 4 ? 0 : view.getUint32(o + 16, true), remoteScope: 0,
      pid: view.getUint32(o + (family === 4 ? 8 : 24), true),
    });
  }
  return rows;
}
