/**
 * Pure parser for `lsof -F` field output (ps output: ps.ts). No I/O here: read.ts runs lsof and
 * feeds this its stdout. Every string in it is hostile (a process picks its own name), so nothing
 * is trusted for structure beyond what lsof guarantees: it escapes every non-printable byte.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Endpoint, Transport } from '../../../src/core/types';

/** One file set of an lsof process set (fields f, t, d, P, n, T). */
export interface LsofFile {
  /** File descriptor: "3", or "cwd", "txt", ... */
  fd: string;
  /** File type: IPv4, IPv6, sock, REG, ... */
  type?: string;
  /** Device characters: the socket inode on Linux, the protocol control block address on macOS. */
  device?: string;
  /** Protocol name: TCP, UDP, ... */
  protocol?: string;
  /** Name: for an Internet socket "local->remote" or "local". */
  name?: string;
  /** TCP/TPI fields by prefix: ST (state), QR, QS, ... */
  tcp: Record<string, string>;
}

/** One process set (fields p, c, u, L, R) with its files. */
export interface LsofProcess {
  pid: number;
  ppid?: number;
  /** Command name as the kernel keeps it (Linux comm; macOS pbi_name, which setprogname(3) sets). */
  command?: string;
  uid?: number;
  login?: string;
  files: LsofFile[];
}

export interface ParseResult<T> {
  rows: T[];
  /** One entry per field or line that could not be used, with the reason. */
  problems: string[];
}

const NAMED_ESCAPES: Readonly<Record<string, number>> = { b: 0x08, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, '\\': 0x5c };

/**
 * Undoes lsof's escaping of one field value: `\\`, `\xNN`, `\b \f \n \r \t` become the bytes they
 * stand for, and the bytes are read as UTF-8 (lsof in a UTF-8 locale passes UTF-8 through; in the C
 * locale it writes each byte as \xNN - both come back to the same text). lsof's `^X` form for other
 * control characters is left as printed: a caret is printable and is not escaped, so `^A` in the
 * output may be a real caret and A, and guessing would change legitimate names.
 */
export function decodeLsofValue(raw: Buffer): string {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b !== 0x5c || i + 1 >= raw.length) {
      out.push(b);
      continue;
    }
    const next = String.fromCharCode(raw[i + 1] as number);
    const hex = next === 'x' ? raw.subarray(i + 2, i + 4).toString('latin1') : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 3;
    } else if (next in NAMED_ESCAPES) {
      out.push(NAMED_ESCAPES[next] as number);
      i += 1;
    } else {
      out.push(b); // not an escape lsof writes: keep the backslash
    }
  }
  return Buffer.from(out).toString('utf8');
}

/** Splits -F output into fields: NUL-terminated with -F...0 (set ends add a newline), else one per line. */
function splitFields(buf: Buffer): Buffer[] {
  const sep = buf.includes(0) ? 0 : 0x0a;
  const fields: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i < buf.length && buf[i] !== sep) continue;
    let field = buf.subarray(start, i);
    // With NUL terminators every process and file set ends with a newline: it leads the next field.
    while (field.length > 0 && (field[0] === 0x0a || field[0] === 0x0d)) field = field.subarray(1);
    if (field.length > 0) fields.push(field);
    start = i + 1;
  }
  return fields;
}

function decimal(text: string): number | null {
  return /^\d{1,10}$/.test(text) ? Number(text) : null;
}

/**
 * Parses `lsof -F` output (NUL- or newline-terminated fields) into process sets with their file
 * sets. Unknown field letters are ignored (a newer lsof may add some); fields that make no sense
 * where they stand are reported in `problems`, never thrown.
 */
export function parseLsofFields(input: Buffer | string): ParseResult<LsofProcess> {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const rows: LsofProcess[] = [];
  const problems: string[] = [];
  let proc: LsofProcess | null = null;
  let file: LsofFile | null = null;
  let skipping = false; // after a malformed p field, until the next p
  splitFields(buf).forEach((field, index) => {
    const id = String.fromCharCode(field[0] as number);
    const raw = field.subarray(1);
    const text = raw.toString('latin1');
    if (id === 'p') {
      const pid = decimal(text);
      file = null;
      if (pid === null) { // pid 0 is valid: kernel_task on macOS
        problems.push(`field ${index + 1}: malformed process id ${JSON.stringify(text.slice(0, 32))}`);
        proc = null;
        skipping = true;
        return;
      }
      skipping = false;
      proc = { pid, files: [] };
      rows.push(proc);
      return;
    }
    if (skipping) return;
    if (!proc) {
      problems.push(`field ${index + 1}: '${id}' field before any process set`);
      skipping = true;
      return;
    }
    const p: LsofProcess = proc;
    switch (id) {
      case 'c': p.command = decodeLsofValue(raw); return;
      case 'u': { const uid = decimal(text); if (uid !== null) p.uid = uid; return; }
      case 'L': p.login = decodeLsofValue(raw); return;
      case 'R': { const ppid = decimal(text); if (ppid !== null) p.ppid = ppid; return; }
      case 'f': file = { fd: text, tcp: {} }; p.files.push(file); return;
      default: break;
    }
    if (!'tdPnT'.includes(id)) return; // a field we did not ask for (g, K, a, l, ...): ignore
    if (!file) {
      problems.push(`field ${index + 1}: '${id}' field outside a file set (no f field before it)`);
      return;
    }
    const f: LsofFile = file;
    if (id === 't') f.type = text;
    else if (id === 'd') f.device = text;
    else if (id === 'P') f.protocol = text;
    else if (id === 'n') f.name = decodeLsofValue(raw);
    else {
      const eq = text.indexOf('=');
      if (eq > 0) f.tcp[text.slice(0, eq)] = text.slice(eq + 1);
    }
  });
  return { rows, problems };
}

/**
 * One endpoint of an lsof Internet name: "198.51.100.7:1883", "[2001:db8::7]:1883",
 * "*:5353" (any address), "*:*". `family` picks the any-address for "*".
 */
export function parseLsofEndpoint(text: string, family: 4 | 6): Endpoint | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']:');
    if (close < 0) return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  const port = portText === '*' ? 0 : decimal(portText);
  if (port === null || port > 65535) return null;
  const ip = host === '*' ? (family === 4 ? '0.0.0.0' : '::') : canonicalIp(host);
  return ip === null ? null : { ip, port };
}

/** "local->remote" or "local" alone; remote is null for a socket that is not connected. */
export function parseLsofInternetName(name: string, family: 4 | 6): { local: Endpoint; remote: Endpoint | null } | null {
  const arrow = name.indexOf('->');
  const local = parseLsofEndpoint(arrow < 0 ? name : name.slice(0, arrow), family);
  if (!local) return null;
  if (arrow < 0) return { local, remote: null };
  const remote = parseLsofEndpoint(name.slice(arrow + 2), family);
  return remote ? { local, remote } : null;
}

/**
 * lsof prints the kernel's TCP state names: Linux's (FIN_WAIT1, SYN_RECV, CLOSE) or the BSD ones
 * on macOS (FIN_WAIT_1, SYN_RCVD, CLOSED). Events carry the Linux names, as procfs reports them.
 */
const BSD_STATE_NAMES: Readonly<Record<string, string>> = {
  CLOSED: 'CLOSE', SYN_RCVD: 'SYN_RECV', FIN_WAIT_1: 'FIN_WAIT1', FIN_WAIT_2: 'FIN_WAIT2',
};

export function normalizeTcpState(state: string): string {
  return BSD_STATE_NAMES[state] ?? state;
}

/** An Internet socket from lsof, with the pid that holds it. */
export interface LsofSocket {
  pid: number;
  fd: string;
  /** Socket identity (see LsofFile.device), when lsof printed it. */
  device?: string;
  transport: Transport;
  family: 4 | 6;
  /** TCP state (Linux names); UDP: ESTABLISHED when connected, UNCONN otherwise. */
  state: string;
  local: Endpoint;
  remote: Endpoint;
}

/**
 * The TCP and UDP sockets among the parsed file sets. A file set of type sock (a socket lsof could
 * not decode, such as one in another Linux network namespace) or with an unreadable name is counted
 * in `problems` only when its type claims to be IPv4/IPv6.
 */
export function lsofSockets(processes: readonly LsofProcess[]): ParseResult<LsofSocket> {
  const rows: LsofSocket[] = [];
  const problems: string[] = [];
  for (const p of processes) {
    for (const f of p.files) {
      if (f.type !== 'IPv4' && f.type !== 'IPv6') continue;
      const transport = f.protocol === 'TCP' ? 'tcp' : f.protocol === 'UDP' ? 'udp' : null;
      if (transport === null) continue; // raw, ICMP, SCTP...: not ours
      const family = f.type === 'IPv4' ? 4 : 6;
      const ends = f.name === undefined ? null : parseLsofInternetName(f.name, family);
      if (!ends) {
        problems.push(`pid ${p.pid} fd ${f.fd}: unreadable ${f.protocol} name ${JSON.stringify((f.name ?? '').slice(0, 80))}`);
        continue;
      }
      const state = transport === 'tcp'
        ? normalizeTcpState(f.tcp.ST ?? (ends.remote ? 'ESTABLISHED' : 'LISTEN'))
        : ends.remote ? 'ESTABLISHED' : 'UNCONN';
      const row: LsofSocket = {
        pid: p.pid, fd: f.fd, transport, family, state, local: ends.local, remote: ends.remote ?? { ip: family === 4 ? '0.0.0.0' : '::', port: 0 },
      };
      if (f.device !== undefined) row.device = f.device;
      rows.push(row);
    }
  }
  return { rows, problems };
}
