/**
 * Network waits for lab tests: a port that accepts connections, a pid that holds an ESTABLISHED
 * socket. Everything polls with a deadline, so tests never sleep blindly. The /proc reading here is
 * deliberately independent of the product's parser (the product is what the tests check).
 */
import fsp from 'node:fs/promises';
import net from 'node:net';
import { type LabProcess, sleep } from './lab-process';

/** Canonical text of an IP address: IPv4 dotted, IPv6 short (RFC 5952 via WHATWG URL), mapped IPv4 unwrapped. */
export function normalizeIp(ip: string): string {
  if (net.isIPv4(ip)) return ip;
  if (!net.isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  const short = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(short);
  if (mapped) {
    const hi = parseInt(mapped[1] as string, 16);
    const lo = parseInt(mapped[2] as string, 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return short;
}

/** Decodes a /proc/net/tcp{,6} "ADDR:PORT" field (words in little-endian host order, as on x86-64 and arm64). */
function decodeProcEndpoint(field: string): { ip: string; port: number } | null {
  const [hex, portHex] = field.split(':');
  if (hex === undefined || portHex === undefined || (hex.length !== 8 && hex.length !== 32)) return null;
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    for (let b = 6; b >= 0; b -= 2) bytes.push(parseInt(hex.slice(w + b, w + b + 2), 16));
  }
  let ip: string;
  if (bytes.length === 4) ip = bytes.join('.');
  else {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
    ip = groups.join(':');
  }
  return { ip: normalizeIp(ip), port: parseInt(portHex, 16) };
}

export interface EstablishedSocket {
  inode: number;
  local: { ip: string; port: number };
  remote: { ip: string; port: number };
}

/** ESTABLISHED sockets of `pid` to remoteIp:remotePort, read from the pid's own namespace tables and fd table. */
export async function establishedSockets(pid: number, remoteIp: string, remotePort: number): Promise<EstablishedSocket[]> {
  const want = normalizeIp(remoteIp);
  const rows: EstablishedSocket[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = await fsp.readFile(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue; // no IPv6, or the process is gone (the caller notices)
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01') continue; // 01 = ESTABLISHED
      const local = decodeProcEndpoint(f[1] as string);
      const remote = decodeProcEndpoint(f[2] as string);
      if (local && remote && remote.ip === want && remote.port === remotePort) rows.push({ inode: Number(f[9]), local, remote });
    }
  }
  if (rows.length === 0) return [];
  let fds: string[];
  try {
    fds = await fsp.readdir(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const held = new Set<number>();
  for (const fd of fds) {
    const link = await fsp.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) held.add(Number(m[1]));
  }
  return rows.filter((r) => held.has(r.inode));
}

/**
 * Waits until the process holds an ESTABLISHED TCP socket to remoteIp:remotePort and returns it.
 * Fails early, with the process's output, when a LabProcess exits first.
 */
export async function waitForEstablished(who: LabProcess | number, remoteIp: string, remotePort: number, timeoutMs = 10_000): Promise<EstablishedSocket> {
  const pid = typeof who === 'number' ? who : who.pid;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await establishedSockets(pid, remoteIp, remotePort);
    if (found[0]) return found[0];
    const what = typeof who === 'number' ? `pid ${pid}` : who.describe();
    if (typeof who !== 'number' && !who.running) throw new Error(`test lab: ${what} before connecting to ${remoteIp} port ${remotePort}`);
    if (Date.now() > deadline) throw new Error(`test lab: timed out after ${timeoutMs} ms: ${what} holds no ESTABLISHED socket to ${remoteIp} port ${remotePort}`);
    await sleep(50);
  }
}

/** One TCP connect attempt; closes with RST so the probe leaves no TIME_WAIT socket behind. */
function probe(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: ip, port });
    sock.once('connect', () => {
      sock.resetAndDestroy();
      resolve(true);
    });
    sock.once('error', () => {
      sock.destroy();
      resolve(false);
    });
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Waits until ip:port accepts TCP connections from this (the root) namespace. */
export async function waitForPort(ip: string, port: number, timeoutMs = 10_000, server?: LabProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe(ip, port)) return;
    if (server && !server.running) throw new Error(`test lab: ${server.describe()} before ${ip} port ${port} accepted connections`);
    if (Date.now() > deadline) throw new Error(`test lab: timed out after ${timeoutMs} ms waiting for ${ip} port ${port} to accept connections${server ? ` (${server.describe()})` : ''}`);
    await sleep(50);
  }
}

/** A TCP port that is free on `host` in this namespace right now (bind to port 0, read, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
