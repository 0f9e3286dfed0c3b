/**
 * Pure parser of `netstat -ano` output (Windows), the last-resort adapter. The header and the
 * state column are localised ("LISTENING"/"ABHÖREN", "ESTABLISHED"/"HERGESTELLT"), so neither is
 * read for meaning: rows are recognised by their protocol token and address shapes, states are
 * kept as printed, and a listener is recognised by its foreign address (0.0.0.0:0, [::]:0, *:*).
 * Under Wine the PID column is missing: such rows parse with pid undefined.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Endpoint, Transport } from '../../../src/core/types';

export interface NetstatRow {
  transport: Transport;
  family: 4 | 6;
  local: Endpoint;
  /** null for UDP's "*:*" (no remote end). */
  remote: Endpoint | null;
  /** As printed, in the system's language; '' for UDP. */
  state: string;
  /** Windows (not Wine) prints the owning pid; undefined when the column is missing. */
  pid?: number;
  /** The foreign address is a wildcard: a listening socket. */
  listening: boolean;
}

export interface NetstatResult {
  rows: NetstatRow[];
  /** Lines that start like a socket row but could not be read, with the reason. */
  problems: string[];
  /** True when no row carried a PID column (Wine's netstat, or `netstat -an`). */
  noPidColumn: boolean;
}

/** "1.2.3.4:80", "[2001:db8::1%12]:443", "*:*" -> endpoint, 'wildcard', or null when malformed. */
export function parseEndpoint(text: string): Endpoint | 'wildcard' | null {
  if (text === '*:*') return 'wildcard';
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return null;
  const host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  const ip = canonicalIp(host);
  return ip === null ? null : { ip, port };
}

const isAny = (e: Endpoint) => (e.ip === '0.0.0.0' || e.ip === '::') && e.port === 0;

export function parseNetstat(text: string): NetstatResult {
  const rows: NetstatRow[] = [];
  const problems: string[] = [];
  let withPid = 0;
  for (const [n, raw] of text.split(/\r?\n/).entries()) {
    const tokens = raw.trim().split(/\s+/);
    const proto = tokens[0]?.toUpperCase();
    if (proto !== 'TCP' && proto !== 'UDP' && proto !== 'TCPV6' && proto !== 'UDPV6') continue;
    const transport: Transport = proto.startsWith('TCP') ? 'tcp' : 'udp';
    const local = parseEndpoint(tokens[1] ?? '');
    const remote = parseEndpoint(tokens[2] ?? '');
    if (local === null || local === 'wildcard' || remote === null) {
      problems.push(`line ${n + 1}: unreadable address in ${JSON.stringify(raw.trim().slice(0, 120))}`);
      continue;
    }
    // TCP: proto local foreign state [pid]; UDP: proto local foreign [pid] (no state).
    const rest = tokens.slice(3);
    const last = rest[rest.length - 1];
    const hasPid = last !== undefined && /^\d+$/.test(last) && (transport === 'udp' ? rest.length === 1 : rest.length === 2);
    const state = transport === 'tcp' ? (rest[0] ?? '') : '';
    if (transport === 'tcp' && state === '') {
      problems.push(`line ${n + 1}: TCP row without a state column`);
      continue;
    }
    const row: NetstatRow = {
      transport,
      family: local.ip.includes(':') ? 6 : 4,
      local,
      remote: remote === 'wildcard' ? null : remote,
      state,
      listening: remote === 'wildcard' || isAny(remote),
    };
    if (hasPid) { row.pid = Number(last); withPid += 1; }
    rows.push(row);
  }
  return { rows, problems, noPidColumn: rows.length > 0 && withPid === 0 };
}
