/**
 * Pure parsers for Linux procfs text. No I/O here: read.ts feeds these the file contents.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Endpoint, Transport } from '../../../src/core/types';

/** Kernel TCP states (include/net/tcp_states.h). */
export const TCP_STATES: Readonly<Record<number, string>> = {
  0x01: 'ESTABLISHED',
  0x02: 'SYN_SENT',
  0x03: 'SYN_RECV',
  0x04: 'FIN_WAIT1',
  0x05: 'FIN_WAIT2',
  0x06: 'TIME_WAIT',
  0x07: 'CLOSE',
  0x08: 'CLOSE_WAIT',
  0x09: 'LAST_ACK',
  0x0a: 'LISTEN',
  0x0b: 'CLOSING',
  0x0c: 'NEW_SYN_RECV',
};

export interface ProcNetRow {
  transport: Transport;
  family: 4 | 6;
  local: Endpoint;
  remote: Endpoint;
  /** State name; for UDP ESTABLISHED means connected and CLOSE means unconnected. */
  state: string;
  uid: number;
  /** 0 when no file refers to the socket any more (TIME_WAIT, orphaned). */
  inode: number;
}

export interface ParseResult<T> {
  rows: T[];
  /** One entry per line that could not be parsed, with the reason. */
  problems: string[];
}

export interface ProcNetResult extends ParseResult<ProcNetRow> {
  /** Socket lines read (all of them, also those the port filter left out of `rows`). */
  total: number;
  /** Local ports of TCP sockets in LISTEN (a socket on one of them was accepted: inbound). */
  listeningPorts: Set<number>;
}

/** Reads a 32-bit word written by the kernel's %08X of a host-order u32 back into network-order bytes. */
function wordBytes(hex: string, littleEndian: boolean): number[] {
  const b = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return littleEndian ? b.reverse() : b;
}

/**
 * Decodes "0100007F:1F90" (IPv4) or a 32-hex-digit IPv6 address with its port. The kernel prints
 * each 32-bit word of the address in host byte order, so the reader's endianness matters; it
 * defaults to little-endian (x86-64, arm64).
 */
export function decodeAddress(text: string, family: 4 | 6, littleEndian = true): Endpoint | null {
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  const hex = text.slice(0, colon);
  const portHex = text.slice(colon + 1);
  const expected = family === 4 ? 8 : 32;
  if (hex.length !== expected || !/^[0-9A-Fa-f]+$/.test(hex) || !/^[0-9A-Fa-f]{4}$/.test(portHex)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < hex.length; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8), littleEndian));
  let ip: string;
  if (family === 4) {
    ip = bytes.join('.');
  } else {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
    ip = groups.join(':');
  }
  const canonical = canonicalIp(ip);
  if (canonical === null) return null;
  return { ip: canonical, port: parseInt(portHex, 16) };
}

/**
 * Parses /proc/net/{tcp,tcp6,udp,udp6}. The header line is skipped; malformed or truncated lines
 * are reported in `problems`, never thrown. With `wantRemotePort`, rows to other remote ports are
 * counted but not decoded: on a busy host most rows are not broker connections, and decoding their
 * addresses is most of the cost.
 */
export function parseProcNet(text: string, transport: Transport, family: 4 | 6, littleEndian = true, wantRemotePort?: (port: number) => boolean): ProcNetResult {
  const rows: ProcNetRow[] = [];
  const problems: string[] = [];
  const listeningPorts = new Set<number>();
  let total = 0;
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || (index === 0 && trimmed.startsWith('sl'))) return;
    const f = trimmed.split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer ...: the kernel always
    // prints at least these 12 fields, so fewer means a cut line, whose last field (maybe the inode) is cut too.
    if (f.length < 12 || !/^\d+:$/.test(f[0] as string)) {
      problems.push(`line ${index + 1}: too few fields or no slot number (truncated?)`);
      return;
    }
    if (wantRemotePort) {
      const remotePort = /:([0-9A-Fa-f]{4})$/.exec(f[2] as string);
      const localPort = /:([0-9A-Fa-f]{4})$/.exec(f[1] as string);
      if (remotePort && localPort && /^[0-9A-Fa-f]{2}$/.test(f[3] as string)) {
        total++;
        if (transport === 'tcp' && parseInt(f[3] as string, 16) === 0x0a) listeningPorts.add(parseInt(localPort[1] as string, 16));
        if (!wantRemotePort(parseInt(remotePort[1] as string, 16))) return;
        total--; // counted again below once decoded
      }
    }
    const local = decodeAddress(f[1] as string, family, littleEndian);
    const remote = decodeAddress(f[2] as string, family, littleEndian);
    const stateCode = /^[0-9A-Fa-f]{2}$/.test(f[3] as string) ? parseInt(f[3] as string, 16) : NaN;
    const uid = /^\d+$/.test(f[7] as string) ? Number(f[7]) : NaN;
    const inode = /^\d+$/.test(f[9] as string) ? Number(f[9]) : NaN;
    if (!local || !remote || !(stateCode in TCP_STATES) || Number.isNaN(uid) || Number.isNaN(inode)) {
      problems.push(`line ${index + 1}: malformed ${!local || !remote ? 'address' : !(stateCode in TCP_STATES) ? 'state' : 'uid or inode'} field`);
      return;
    }
    total++;
    if (transport === 'tcp' && stateCode === 0x0a) listeningPorts.add(local.port);
    rows.push({ transport, family, local, remote, state: TCP_STATES[stateCode] as string, uid, inode });
  });
  return { rows, problems, total, listeningPorts };
}

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Clock ticks after boot (field 22). */
  startTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The comm field is in parentheses and may itself contain spaces and
 * parentheses, so the fields after it are found from the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const ppid = Number(rest[1]);
  const startTicks = Number(rest[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isFinite(startTicks)) return null;
  return { pid, comm: text.slice(open + 1, close), state: rest[0] ?? '?', ppid, startTicks };
}

/** Splits /proc/<pid>/cmdline (NUL-separated, usually NUL-terminated) into argv. */
export function parseCmdline(buf: Buffer | string): string[] {
  const text = typeof buf === 'string' ? buf : buf.toString('utf8');
  if (text === '') return [];
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** The real uid from /proc/<pid>/status ("Uid:\treal\teffective\tsaved\tfs"). */
export function parseStatusUid(text: string): number | null {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** "btime <seconds since epoch>" from /proc/stat. */
export function parseBootTime(text: string): number | null {
  const m = /^btime\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** uid -> user name from /etc/passwd text; malformed lines are skipped. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    if (Number.isInteger(uid) && !users.has(uid)) users.set(uid, f[0] as string);
  }
  return users;
}

/** "socket:[12345]" -> 12345; anything else -> null. */
export function socketInode(linkTarget: string): number | null {
  // Called for every open file of every process: most links are not sockets, ruled out without a regex.
  if (!linkTarget.startsWith('socket:[')) return null;
  const m = /^socket:\[(\d+)\]$/.exec(linkTarget);
  return m ? Number(m[1]) : null;
}

/** Splits a readlink of /proc/<pid>/exe into path and the kernel's " (deleted)" marker. */
export function parseExeLink(target: string): { exe: string; deleted: boolean } {
  const suffix = ' (deleted)';
  return target.endsWith(suffix) ? { exe: target.slice(0, -suffix.length), deleted: true } : { exe: target, deleted: false };
}
