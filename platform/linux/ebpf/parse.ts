/**
 * Pure parsers for the output of connect.bt run as `bpftrace -f json`. No I/O here: read.ts feeds
 * lines in. Every string that came from a process (comm, path names) is hostile: it is only
 * ever the LAST field of a line and is returned as data, never interpreted.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { ConnectionEvent, ProcessInfo } from '../../../src/core/types';
import { TCP_STATES } from '../procfs/parse';

/** A C line: the connect and everything the kernel knew of its process at that moment. */
export interface ConnectRecord {
  kind: 'connect';
  /** Thread group id (the process id). */
  pid: number;
  ppid: number;
  uid: number;
  family: 4 | 6;
  saddr: string;
  /** 0 unless the socket was bound before connect: the kernel picks the port right after SYN_SENT. */
  sport: number;
  daddr: string;
  dport: number;
  /** Network namespace inode of the socket (as in "net:[4026531840]"). */
  netns: number;
  /** Kernel socket address: an opaque id that joins this line to its P, A and S lines; reused by the kernel. */
  sk: string;
  /** Process start in clock ticks since boot (USER_HZ 100), as field 22 of /proc/<pid>/stat shows it. */
  startTicks: number;
  /** The executable's identity: device (kernel encoding, major << 20 | minor), inode and link count (0: deleted). */
  exeDev: number;
  exeIno: number;
  exeNlink: number;
  /** How many P lines (path components) preceded this line, and whether they reached the filesystem root. */
  pathNames: number;
  pathComplete: boolean;
  comm: string;
}

export interface SynLeftRecord { kind: 'syn-left'; sk: string; newState: string; sport: number; dport: number }
/** One component of the connecting executable's path inside its filesystem, leaf first. `cut` when it may have been shortened. */
export interface PathRecord { kind: 'path'; sk: string; name: string; cut: boolean }
/** argv of the connecting image as captured: its length, the tail word and the first 24 words (hex, kernel byte order). */
export interface ArgvRecord { kind: 'argv'; sk: string; length: number; tail: string; words: string[] }
/** The next 24 words of the same argument area. */
export interface ArgvMoreRecord { kind: 'argv-more'; sk: string; words: string[] }

export type BpftraceRecord =
  | ConnectRecord
  | SynLeftRecord
  | PathRecord
  | ArgvRecord
  | ArgvMoreRecord
  | { kind: 'ready'; version: number }
  | { kind: 'attached'; probes: number }
  | { kind: 'lost'; count: number }
  /** The in-kernel count of loopback connects not reported, since this bpftrace started. */
  | { kind: 'loopback'; total: number }
  | { kind: 'blank' }
  /** A well-formed bpftrace JSON object of a type the program does not produce. */
  | { kind: 'other'; type: string }
  | { kind: 'malformed'; reason: string };

/** BPFTRACE_STRLEN that read.ts sets; str() keeps at most this many bytes minus the NUL. */
export const BPFTRACE_STRLEN = 200;

const UINT = /^\d{1,10}$/;
const SK = /^0x[0-9a-f]{1,16}$/;

function uint(text: string | undefined, max = 0xffffffff): number | null {
  if (text === undefined || !UINT.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

/**
 * Undoes bpftrace's string escaping. bpftrace 0.17 writes each byte >= 0x80 as `\uffffffXX` (a
 * sign-extended char), which JSON.parse turns into U+FFFF followed by "ffXX"; bpftrace never
 * writes U+FFFF itself, so the pair maps back to byte 0xXX. Other characters are taken as they are
 * (UTF-8 from versions that escape correctly). The bytes are then read as UTF-8; invalid
 * sequences become U+FFFD.
 */
export function decodeBpftraceText(s: string): string {
  if (!/[\u0080-\uffff]/.test(s)) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0xffff && /^ff[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 5))) {
      bytes.push(parseInt(s.slice(i + 3, i + 5), 16));
      i += 4;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      const cp = s.codePointAt(i) as number;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
      if (cp > 0xffff) i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The first `count` space-separated fields and everything after the count-th space (the free text). */
function splitFields(text: string, count: number): { fields: string[]; rest: string } | null {
  const fields: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const space = text.indexOf(' ', at);
    if (space < 0) return null;
    fields.push(text.slice(at, space));
    at = space + 1;
  }
  return { fields, rest: text.slice(at) };
}

const TICK_NS = 10_000_000n; // 1e9 / USER_HZ (100)

function parseConnect(text: string): BpftraceRecord {
  const split = splitFields(text, 17);
  if (!split) return { kind: 'malformed', reason: 'C line with too few fields' };
  const [, pid, ppid, uid, fam, saddr, sport, daddr, dport, netns, sk, start, dev, ino, nlink, names, complete] = split.fields;
  const n = {
    pid: uint(pid), ppid: uint(ppid), uid: uint(uid), sport: uint(sport, 65535), dport: uint(dport, 65535), netns: uint(netns),
    dev: uint(dev), nlink: uint(nlink), names: uint(names, 64), complete: uint(complete, 1),
  };
  const src = canonicalIp(saddr ?? '');
  const dst = canonicalIp(daddr ?? '');
  const big = /^\d{1,20}$/;
  if (Object.values(n).some((v) => v === null) || (fam !== '4' && fam !== '6') || src === null || dst === null || !SK.test(sk ?? '')
    || !big.test(start ?? '') || !big.test(ino ?? '')) {
    return { kind: 'malformed', reason: 'C line with a malformed number, family, address or socket field' };
  }
  return {
    kind: 'connect', pid: n.pid as number, ppid: n.ppid as number, uid: n.uid as number, family: fam === '4' ? 4 : 6,
    saddr: src, sport: n.sport as number, daddr: dst, dport: n.dport as number, netns: n.netns as number, sk: sk as string,
    startTicks: Number(BigInt(start as string) / TICK_NS), exeDev: n.dev as number, exeIno: Number(ino), exeNlink: n.nlink as number,
    pathNames: n.names as number, pathComplete: n.complete === 1, comm: decodeBpftraceText(split.rest),
  };
}

export interface ParseOptions {
  /** BPFTRACE_STRLEN bpftrace ran with. */
  strlen?: number;
}

/** One %016lx word back to its 8 bytes in memory order. */
function wordBytes(hex: string, littleEndian: boolean): number[] {
  const b = [0, 2, 4, 6, 8, 10, 12, 14].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return littleEndian ? b.reverse() : b;
}

const WORD = /^[0-9a-f]{16}$/;

/** "A <sk> <argvlen> <tail> <w0> ... <w23>" and "B <sk> <w24> ... <w47>": the raw words, decoded by decodeArgv. */
function parseArgvWords(text: string): BpftraceRecord {
  const f = text.split(' ');
  const sk = f[1] as string;
  if (f[0] === 'B') {
    const words = f.slice(2);
    if (!SK.test(sk) || words.length === 0 || words.length > 64 || !words.every((w) => WORD.test(w))) return { kind: 'malformed', reason: 'malformed B line' };
    return { kind: 'argv-more', sk, words };
  }
  const length = uint(f[2], 0x7fffffff);
  const words = f.slice(4);
  if (!SK.test(sk) || length === null || f.length < 5 || words.length > 64 || !f.slice(3).every((w) => WORD.test(w))) {
    return { kind: 'malformed', reason: 'malformed A line' };
  }
  return { kind: 'argv', sk, length, tail: f[3] as string, words };
}

/**
 * argv from the captured words: whole words cover the first 8*N bytes of the argument area; when
 * it is shorter and not a multiple of 8 long, `tail` holds its last 8 bytes. Words are in the
 * traced kernel's byte order. `truncated` when the area was longer than the words cover.
 */
export function decodeArgv(length: number, tail: string, words: readonly string[], littleEndian = true): { argv: string[]; truncated: boolean } {
  const take = Math.min(length, words.length * 8);
  const bytes: number[] = [];
  for (let i = 0; i < Math.floor(take / 8); i++) bytes.push(...wordBytes(words[i] as string, littleEndian));
  const rest = take % 8;
  if (rest > 0) bytes.push(...wordBytes(tail, littleEndian).slice(8 - rest));
  const truncated = length > take;
  const parts: number[][] = [[]];
  for (const b of bytes) {
    if (b === 0) parts.push([]);
    else (parts[parts.length - 1] as number[]).push(b);
  }
  if (!truncated || (parts[parts.length - 1] as number[]).length === 0) parts.pop(); // the NUL that ends the last argument
  return { argv: parts.map((p) => Buffer.from(p).toString('utf8')), truncated };
}

function parseEventText(data: string, o: Required<ParseOptions>): BpftraceRecord {
  // Each printf ends in exactly one "\n" of ours; a name may end in more newlines of its own.
  const text = data.endsWith('\n') ? data.slice(0, -1) : data;
  let m: RegExpExecArray | null;
  switch (text.slice(0, 2)) {
    case 'C ':
      return parseConnect(text);
    case 'S ': {
      const f = text.split(' ');
      const state = TCP_STATES[uint(f[2], 255) ?? -1];
      const sport = uint(f[3], 65535);
      const dport = uint(f[4], 65535);
      if (f.length !== 5 || !SK.test(f[1] as string) || state === undefined || sport === null || dport === null) return { kind: 'malformed', reason: 'malformed S line' };
      return { kind: 'syn-left', sk: f[1] as string, newState: state, sport, dport };
    }
    case 'P ': {
      const split = splitFields(text, 2);
      if (!split || !SK.test(split.fields[1] as string) || split.rest === '') return { kind: 'malformed', reason: 'malformed P line' };
      const name = decodeBpftraceText(split.rest);
      return { kind: 'path', sk: split.fields[1] as string, name, cut: Buffer.byteLength(name, 'utf8') >= o.strlen - 1 };
    }
    case 'A ':
    case 'B ':
      return parseArgvWords(text);
    default:
      if ((m = /^R (\d{1,6})$/.exec(text))) return { kind: 'ready', version: Number(m[1]) };
      return { kind: 'malformed', reason: 'printf output that connect.bt does not produce' };
  }
}

/** Count field of {"type":"attached_probes","data":{"probes":N}} and {"type":"lost_events","data":{"events":N}}. */
function countOf(data: unknown, key: string): number | null {
  const v = data !== null && typeof data === 'object' ? (data as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/**
 * One line of bpftrace stdout. Never throws. Text-mode banner and lost-event lines are accepted
 * too (a bpftrace may print them as text); any other non-JSON line is garbage.
 */
export function parseBpftraceLine(line: string, opts: ParseOptions = {}): BpftraceRecord {
  const o = { strlen: BPFTRACE_STRLEN, ...opts };
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'blank' };
  let m: RegExpExecArray | null;
  if ((m = /^Attaching (\d{1,6}) probes?\.\.\.$/.exec(trimmed))) return { kind: 'attached', probes: Number(m[1]) };
  if ((m = /^Lost (\d{1,15}) events$/.exec(trimmed))) return { kind: 'lost', count: Number(m[1]) };
  if (!trimmed.startsWith('{')) return { kind: 'malformed', reason: 'not a JSON line' };
  let obj: unknown;
  try {
    obj = JSON.parse(trimmed);
  } catch {
    return { kind: 'malformed', reason: 'invalid JSON (a partial line?)' };
  }
  if (obj === null || typeof obj !== 'object' || typeof (obj as { type?: unknown }).type !== 'string') return { kind: 'malformed', reason: 'JSON without a type' };
  const { type, data } = obj as { type: string; data?: unknown };
  if (type === 'printf') return typeof data === 'string' ? parseEventText(data, o) : { kind: 'malformed', reason: 'printf without text' };
  if (type === 'attached_probes' || type === 'lost_events') {
    const count = countOf(data, type === 'lost_events' ? 'events' : 'probes');
    if (count === null) return { kind: 'malformed', reason: `${type} without a count` };
    return type === 'lost_events' ? { kind: 'lost', count } : { kind: 'attached', probes: count };
  }
  if (type === 'map') {
    const total = countOf(data, '@loopback');
    if (total !== null) return { kind: 'loopback', total };
  }
  return { kind: 'other', type };
}

/**
 * Splits a stream into lines. A line longer than maxLine is dropped (counted in `overlong`) up to
 * its newline, so one runaway write cannot grow memory; end() returns the unterminated rest.
 */
export class LineSplitter {
  private buf = '';
  private skipping = false;
  overlong = 0;

  constructor(private readonly maxLine = 64 * 1024) {}

  push(chunk: string): string[] {
    const parts = (this.buf + chunk).split('\n');
    this.buf = parts.pop() as string;
    if (this.skipping && parts.length > 0) {
      parts.shift();
      this.skipping = false;
    }
    if (this.buf.length > this.maxLine) {
      if (!this.skipping) this.overlong += 1;
      this.buf = '';
      this.skipping = true;
    }
    return parts;
  }

  end(): string | null {
    const rest = this.skipping ? '' : this.buf;
    this.buf = '';
    this.skipping = false;
    return rest === '' ? null : rest;
  }
}

export type StderrKind = 'memlock' | 'error' | 'warning' | 'info';

/** What a bpftrace stderr line means for us. The RLIMIT_MEMLOCK complaint is harmless on Linux >= 5.11. */
export function classifyStderr(line: string): StderrKind {
  if (/couldn't set RLIMIT_MEMLOCK/.test(line)) return 'memlock';
  if (/\bERROR:/.test(line)) return 'error';
  if (/\bWARNING:/.test(line)) return 'warning';
  return 'info';
}

/** The ConnectionEvent for a C line, once the source port and the process are known. */
export function connectEvent(rec: ConnectRecord, o: { time: string; sourcePort: number; process?: ProcessInfo }): ConnectionEvent {
  const event: ConnectionEvent = {
    time: o.time, adapter: 'ebpf', transport: 'tcp', family: rec.family, state: 'SYN_SENT',
    source: { ip: rec.saddr, port: o.sourcePort }, destination: { ip: rec.daddr, port: rec.dport },
    uid: rec.uid, netns: `net:[${rec.netns}]`,
  };
  if (o.process) event.process = o.process;
  return event;
}

/** "bpftrace v0.17.0" -> "0.17.0". */
export function parseBpftraceVersion(text: string): string | null {
  return /\bv?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1] ?? null;
}

/** os.release() "6.1.0-18-amd64" -> [6, 1]. */
export function parseKernelRelease(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Effective capability set from /proc/self/status ("CapEff:\t000001ffffffffff"). */
export function parseCapEff(statusText: string): bigint | null {
  const m = /^CapEff:\s*([0-9a-fA-F]{1,16})$/m.exec(statusText);
  return m ? BigInt(`0x${m[1]}`) : null;
}

export const CAP_SYS_ADMIN = 21;
export const CAP_PERFMON = 38;
export const CAP_BPF = 39;

export function hasCap(set: bigint, cap: number): boolean {
  return ((set >> BigInt(cap)) & 1n) === 1n;
}
