/**
 * Pure decoders for the buffers macOS libproc fills: proc_listallpids, proc_pidpath,
 * proc_pidinfo(PROC_PIDLISTFDS) and proc_pidfdinfo(PROC_PIDFDSOCKETINFO). No I/O, no koffi: read.ts
 * makes the calls and hands the bytes here, so this file runs and is tested on any OS.
 *
 * Layouts from xnu bsd/sys/proc_info.h (struct proc_fdinfo, socket_fdinfo, socket_info,
 * in_sockinfo, tcp_sockinfo) for LP64 little-endian, the ABI of both macOS architectures (x86-64
 * and arm64). test/fixtures/darwin/libproc/gen.c transcribes those structs and has the C compiler
 * check every offset below.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Endpoint, Transport } from '../../../src/core/types';

export const PROC_PIDLISTFDS = 1;
export const PROC_PIDLISTFD_SIZE = 8; // struct proc_fdinfo { int32_t proc_fd; uint32_t proc_fdtype; }
export const PROC_PIDFDSOCKETINFO = 3;
export const PROC_PIDFDSOCKETINFO_SIZE = 792; // sizeof(struct socket_fdinfo)
export const PROC_PIDPATHINFO_MAXSIZE = 4096; // 4 * MAXPATHLEN
export const PROX_FDTYPE_SOCKET = 2;

export const AF_INET = 2;
/** AF_INET6 is 30 on Darwin (10 on Linux, 23 on Windows). */
export const AF_INET6 = 30;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const SOCKINFO_IN = 1;
const SOCKINFO_TCP = 2;
const INI_IPV4 = 0x1;

/** Byte offsets inside struct socket_fdinfo (pfi: proc_fileinfo, 24 bytes; psi: socket_info). */
export const SOCKET_FDINFO = {
  soiProtocol: 24 + 156,
  soiFamily: 24 + 160,
  soiKind: 24 + 232,
  /** soi_proto: the union holding in_sockinfo (SOCKINFO_IN) or tcp_sockinfo (SOCKINFO_TCP). */
  soiProto: 24 + 240,
} as const;

/** Offsets inside struct in_sockinfo (also the first member of tcp_sockinfo). */
const IN_SOCKINFO = { fport: 0, lport: 4, vflag: 24, faddr: 32, laddr: 48 } as const;
/** tcp_sockinfo.tcpsi_state follows the 80-byte in_sockinfo. */
const TCPSI_STATE = 80;
/** In struct in4in6_addr the IPv4 address follows three 32-bit pad words. */
const IN4IN6_ADDR4 = 12;

/** TSI_S_* (proc_info.h) as the Linux state names procfs reports. */
const TCP_STATES: readonly string[] = [
  'CLOSE', 'LISTEN', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT1', 'CLOSING', 'LAST_ACK', 'FIN_WAIT2', 'TIME_WAIT',
];

export interface FdEntry {
  fd: number;
  type: number;
}

/** proc_pidinfo(PROC_PIDLISTFDS): `bytes` (its return value) worth of proc_fdinfo records. */
export function parseFdList(buf: Buffer, bytes = buf.length): FdEntry[] {
  const n = Math.floor(Math.min(bytes, buf.length) / PROC_PIDLISTFD_SIZE);
  const out: FdEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ fd: buf.readInt32LE(i * 8), type: buf.readUInt32LE(i * 8 + 4) });
  return out;
}

/** The descriptors of type socket, the only ones worth a PROC_PIDFDSOCKETINFO call. */
export function socketFds(entries: readonly FdEntry[]): number[] {
  return entries.filter((e) => e.type === PROX_FDTYPE_SOCKET).map((e) => e.fd);
}

/** proc_listpids / proc_listallpids: an int32 array; zero entries are unused slots. */
export function parsePidList(buf: Buffer, bytes = buf.length): number[] {
  const n = Math.floor(Math.min(bytes, buf.length) / 4);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const pid = buf.readInt32LE(i * 4);
    if (pid > 0) out.push(pid);
  }
  return out;
}

/** proc_pidpath: a NUL-terminated UTF-8 path (the return value is its length); null when empty. */
export function parsePidPath(buf: Buffer, bytes = buf.length): string | null {
  const limit = Math.min(bytes > 0 ? bytes : buf.length, buf.length);
  const nul = buf.indexOf(0);
  const end = nul >= 0 && nul < limit ? nul : limit;
  return end > 0 ? buf.toString('utf8', 0, end) : null;
}

export interface DarwinSocket {
  transport: Transport;
  /** The socket's family: 6 for an AF_INET6 socket even when it carries IPv4 (as lsof reports it). */
  family: 4 | 6;
  /** TCP: Linux state names; UDP: ESTABLISHED when connected, UNCONN otherwise. */
  state: string;
  local: Endpoint;
  remote: Endpoint;
}

export type SocketDecode = { socket: DarwinSocket } | { skip: string } | { error: string };

/** The kernel keeps ports as a network-order u_short widened into an int: the first two bytes, big-endian. */
function port(buf: Buffer, at: number): number {
  return buf.readUInt16BE(at);
}

function address(buf: Buffer, at: number, v4: boolean): string | null {
  if (v4) return canonicalIp(Array.from(buf.subarray(at + IN4IN6_ADDR4, at + IN4IN6_ADDR4 + 4)).join('.'));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  return canonicalIp(groups.join(':'));
}

/**
 * Decodes one proc_pidfdinfo(PROC_PIDFDSOCKETINFO) buffer the way lsof's darwin dsock.c reads it:
 * soi_family picks IPv4 or IPv6; an AF_INET6 socket whose insi_vflag has INI_IPV4 carries IPv4 in
 * the last four bytes of each address. Non-Internet sockets and other protocols are skipped; a
 * short buffer is an error (the process closed the descriptor or the layout changed).
 */
export function parseSocketFdInfo(buf: Buffer, bytes = buf.length): SocketDecode {
  if (Math.min(bytes, buf.length) < PROC_PIDFDSOCKETINFO_SIZE) {
    return { error: `socket_fdinfo too short: ${Math.min(bytes, buf.length)} of ${PROC_PIDFDSOCKETINFO_SIZE} bytes` };
  }
  const family = buf.readInt32LE(SOCKET_FDINFO.soiFamily);
  if (family !== AF_INET && family !== AF_INET6) return { skip: `address family ${family}` };
  const kind = buf.readInt32LE(SOCKET_FDINFO.soiKind);
  if (kind !== SOCKINFO_IN && kind !== SOCKINFO_TCP) return { skip: `socket kind ${kind}` };
  const protocol = buf.readInt32LE(SOCKET_FDINFO.soiProtocol);
  const transport: Transport | null = protocol === IPPROTO_TCP ? 'tcp' : protocol === IPPROTO_UDP ? 'udp' : null;
  if (transport === null) return { skip: `protocol ${protocol}` };
  if (transport === 'tcp' && kind !== SOCKINFO_TCP) return { skip: 'TCP socket without tcp_sockinfo' };

  const ini = SOCKET_FDINFO.soiProto;
  const v4 = family === AF_INET || (buf.readUInt8(ini + IN_SOCKINFO.vflag) & INI_IPV4) !== 0;
  const localIp = address(buf, ini + IN_SOCKINFO.laddr, v4);
  const remoteIp = address(buf, ini + IN_SOCKINFO.faddr, v4);
  if (localIp === null || remoteIp === null) return { error: 'undecodable address' };
  const local = { ip: localIp, port: port(buf, ini + IN_SOCKINFO.lport) };
  const remote = { ip: remoteIp, port: port(buf, ini + IN_SOCKINFO.fport) };

  let state: string;
  if (transport === 'tcp') {
    const code = buf.readInt32LE(ini + TCPSI_STATE);
    const name = TCP_STATES[code];
    if (name === undefined) return { error: `unknown TCP state ${code}` };
    state = name;
  } else {
    state = remote.port !== 0 ? 'ESTABLISHED' : 'UNCONN';
  }
  return { socket: { transport, family: family === AF_INET ? 4 : 6, state, local, remote } };
}
