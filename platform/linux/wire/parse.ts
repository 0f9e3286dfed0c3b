/**
 * Pure parsing of wire.bt's output: one bpftrace JSON line -> one record. Every field is checked;
 * anything else is 'malformed' (counted by the source, never thrown). Bytes arrive as %rx text
 * (\xNN per byte), so they decode without ambiguity whatever the process wrote.
 */
import { decodeBpftraceText } from '../ebpf/parse';

export type WireRecord =
  | { kind: 'ready'; version: number }
  | { kind: 'connect'; pid: number; tid: number; fd: number; uid: number; family: 4 | 6; ip: string; port: number; comm: string }
  | { kind: 'write'; pid: number; fd: number; length: number; bytes: Buffer; tls: boolean }
  | { kind: 'host'; pid: number; ip: string; name: string }
  | { kind: 'close'; pid: number; fd: number }
  | { kind: 'source'; pid: number; fd: number; port: number; ip: string }
  | { kind: 'attached'; probes: number }
  | { kind: 'lost'; count: number }
  | { kind: 'other'; type: string }
  | { kind: 'malformed'; reason: string };

const UINT = /^\d{1,10}$/;
const HEX_BYTES = /^(?:\\x[0-9a-f]{2})*$/;

function uint(text: string | undefined, max = 0xffffffff): number | null {
  if (text === undefined || !UINT.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

/** "\x10\x1a..." -> bytes; null when the text is not exactly that shape. */
export function decodeHexBytes(text: string): Buffer | null {
  if (!HEX_BYTES.test(text)) return null;
  const out = Buffer.alloc(text.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 4 + 2, i * 4 + 4), 16);
  return out;
}

/** 8 hex digits (IPv4, network order) or 32 (IPv6) -> canonical text. */
export function hexAddress(hex: string, family: 4 | 6): string | null {
  if (family === 4) {
    if (!/^[0-9a-f]{8}$/.test(hex)) return null;
    return [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
  }
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(hex.slice(i * 4, i * 4 + 4), 16));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`; // IPv4-mapped
  }
  // RFC 5952: the longest run (>= 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hexes = groups.map((g) => g.toString(16));
  if (best < 0) return hexes.join(':');
  return `${hexes.slice(0, best).join(':')}::${hexes.slice(best + bestLen).join(':')}`;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function parsePrintf(data: string): WireRecord {
  const text = data.endsWith('\n') ? data.slice(0, -1) : data;
  const sp = text.split(' ');
  const bad = (reason: string): WireRecord => ({ kind: 'malformed', reason });
  switch (sp[0]) {
    case 'R': {
      const v = uint(sp[1]);
      return v === null ? bad('R line') : { kind: 'ready', version: v };
    }
    case 'C': {
      // C pid tid fd uid family daddr dport comm (comm last: it may hold spaces)
      const [pid, tid, fd, uid] = [uint(sp[1]), uint(sp[2]), uint(sp[3]), uint(sp[4])];
      const family = sp[5] === '4' ? 4 : sp[5] === '6' ? 6 : null;
      const port = uint(sp[7], 65535);
      if (pid === null || tid === null || fd === null || uid === null || family === null || port === null || sp[6] === undefined) return bad('C line');
      const ip = family === 4 ? (IPV4.test(sp[6]) ? sp[6] : null) : hexAddress(sp[6], 6);
      if (ip === null) return bad('C line address');
      return { kind: 'connect', pid, tid, fd, uid, family, ip, port, comm: decodeBpftraceText(sp.slice(8).join(' ')) };
    }
    case 'W':
    case 'T': {
      const [pid, fd, length] = [uint(sp[1]), uint(sp[2]), uint(sp[3], Number.MAX_SAFE_INTEGER)];
      const bytes = sp.length === 5 ? decodeHexBytes(sp[4] as string) : sp.length === 4 ? Buffer.alloc(0) : null;
      if (pid === null || fd === null || length === null || bytes === null) return bad(`${sp[0]} line`);
      return { kind: 'write', pid, fd, length, bytes, tls: sp[0] === 'T' };
    }
    case 'H': {
      const pid = uint(sp[1]);
      const family = sp[2] === '4' ? 4 : sp[2] === '6' ? 6 : null;
      const ip = family === null || sp[3] === undefined ? null : hexAddress(sp[3], family);
      const name = decodeBpftraceText(sp.slice(4).join(' '));
      if (pid === null || ip === null || name === '') return bad('H line');
      return { kind: 'host', pid, ip, name };
    }
    case 'S': {
      // S pid fd sport family v4hex v6hex: the socket's own address (skc_family 2 or 10)
      const [pid, fd, port] = [uint(sp[1]), uint(sp[2]), uint(sp[3], 65535)];
      const ip = sp[4] === '2' ? hexAddress(sp[5] ?? '', 4) : sp[4] === '10' ? hexAddress(sp[6] ?? '', 6) : null;
      return pid === null || fd === null || port === null || ip === null ? bad('S line') : { kind: 'source', pid, fd, port, ip };
    }
    case 'F': {
      const [pid, fd] = [uint(sp[1]), uint(sp[2])];
      return pid === null || fd === null ? bad('F line') : { kind: 'close', pid, fd };
    }
    default:
      return bad('unknown line');
  }
}

/** One line of `bpftrace -f json` output running wire.bt. */
export function parseWireLine(line: string): WireRecord {
  let obj: unknown;
  try { obj = JSON.parse(line); } catch { return { kind: 'malformed', reason: 'not JSON' }; }
  if (!obj || typeof obj !== 'object') return { kind: 'malformed', reason: 'not an object' };
  const { type, data } = obj as { type?: unknown; data?: unknown };
  if (type === 'printf' && typeof data === 'string') return parsePrintf(data);
  if (type === 'attached_probes') {
    const probes = (data as { probes?: unknown } | null)?.probes;
    return typeof probes === 'number' ? { kind: 'attached', probes } : { kind: 'malformed', reason: 'attached_probes' };
  }
  if (type === 'lost_events') {
    const count = (data as { events?: unknown } | null)?.events;
    return { kind: 'lost', count: typeof count === 'number' ? count : 0 };
  }
  return typeof type === 'string' ? { kind: 'other', type } : { kind: 'malformed', reason: 'no type' };
}
