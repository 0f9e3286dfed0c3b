/**
 * Pure state for wire capture: joins wire.bt's lines into connections. A connection opens at its
 * C line, collects the socket's source (S), host name (from the H lines of the same process for
 * that address), plaintext writes (W) and TLS plaintext (T), and is complete after `maxWrites`
 * writes, at close (F), or `judgeAfterMs` after the connect - whichever comes first. Bounded:
 * at most maxConnections open (the oldest is completed early when full) and maxHosts names.
 */
import type { WireChunk } from '../../../src/core/wire';
import type { WireRecord } from './parse';

export interface WireConnection {
  pid: number;
  tid: number;
  fd: number;
  uid: number;
  family: 4 | 6;
  ip: string;
  port: number;
  comm: string;
  connectedAtMs: number;
  source?: { ip: string; port: number };
  hostname?: string;
  plain: WireChunk[];
  tls: WireChunk[];
  /** Why it was completed: enough writes, closed, timed out, evicted (table full). */
  completed?: 'writes' | 'closed' | 'timeout' | 'evicted';
}

export interface TrackerOptions {
  maxWrites: number;
  judgeAfterMs: number;
  maxConnections: number;
  maxHosts: number;
  hostTtlMs: number;
}

export const DEFAULT_TRACKER: Omit<TrackerOptions, 'maxWrites'> = { judgeAfterMs: 2000, maxConnections: 4096, maxHosts: 4096, hostTtlMs: 60_000 };

export class WireTracker {
  private readonly open = new Map<string, WireConnection>();
  /** Completed (pid, fd) pairs whose later writes are ignored until close. */
  private readonly done = new Set<string>();
  private readonly hosts = new Map<string, { name: string; atMs: number }>();
  readonly counts = { connections: 0, evicted: 0, orphanWrites: 0, hostNames: 0 };

  constructor(private readonly o: TrackerOptions) {}

  /** Feeds one record; returns the connections it completed. */
  onRecord(rec: WireRecord, nowMs: number): WireConnection[] {
    const out: WireConnection[] = [];
    switch (rec.kind) {
      case 'host': {
        if (isIpLiteral(rec.name)) break; // getaddrinfo("127.0.0.1") names nothing
        const key = `${rec.pid}|${rec.ip}`;
        this.hosts.delete(key); // re-insert: the Map's order is the age order
        this.hosts.set(key, { name: rec.name, atMs: nowMs });
        this.counts.hostNames++;
        if (this.hosts.size > this.o.maxHosts) this.hosts.delete(this.hosts.keys().next().value as string);
        break;
      }
      case 'connect': {
        const key = `${rec.pid}|${rec.fd}`;
        const previous = this.open.get(key);
        if (previous) out.push(this.complete(key, previous, 'closed')); // fd reused without a seen close
        this.done.delete(key);
        const host = this.hosts.get(`${rec.pid}|${rec.ip}`);
        const conn: WireConnection = { pid: rec.pid, tid: rec.tid, fd: rec.fd, uid: rec.uid, family: rec.family, ip: rec.ip, port: rec.port, comm: rec.comm, connectedAtMs: nowMs, plain: [], tls: [] };
        if (host && nowMs - host.atMs <= this.o.hostTtlMs) conn.hostname = host.name;
        this.open.set(key, conn);
        this.counts.connections++;
        if (this.open.size > this.o.maxConnections) {
          const [oldKey, oldest] = this.open.entries().next().value as [string, WireConnection];
          this.counts.evicted++;
          out.push(this.complete(oldKey, oldest, 'evicted'));
        }
        break;
      }
      case 'source': {
        const conn = this.open.get(`${rec.pid}|${rec.fd}`);
        if (conn) conn.source = { ip: rec.ip, port: rec.port };
        break;
      }
      case 'write': {
        const key = `${rec.pid}|${rec.fd}`;
        const conn = this.open.get(key);
        if (!conn) { if (!this.done.has(key)) this.counts.orphanWrites++; break; }
        (rec.tls ? conn.tls : conn.plain).push({ timeMs: nowMs, bytes: rec.bytes, length: rec.length });
        // One W line per write syscall (what the kernel counts); T lines ride along.
        if (!rec.tls && conn.plain.length >= this.o.maxWrites) out.push(this.complete(key, conn, 'writes'));
        break;
      }
      case 'close': {
        const key = `${rec.pid}|${rec.fd}`;
        const conn = this.open.get(key);
        if (conn) out.push(this.complete(key, conn, 'closed'));
        this.done.delete(key);
        break;
      }
      default:
        break;
    }
    return out;
  }

  /** Completes connections older than judgeAfterMs; forgets host names older than hostTtlMs. */
  expire(nowMs: number): WireConnection[] {
    const out: WireConnection[] = [];
    for (const [key, conn] of this.open) {
      if (nowMs - conn.connectedAtMs >= this.o.judgeAfterMs) out.push(this.complete(key, conn, 'timeout'));
    }
    for (const [key, h] of this.hosts) {
      if (nowMs - h.atMs <= this.o.hostTtlMs) break; // age order: the rest are younger
      this.hosts.delete(key);
    }
    return out;
  }

  /** Everything still open (at stop). */
  drain(): WireConnection[] {
    return [...this.open].map(([key, conn]) => this.complete(key, conn, 'closed'));
  }

  get openCount(): number {
    return this.open.size;
  }

  private complete(key: string, conn: WireConnection, why: WireConnection['completed']): WireConnection {
    this.open.delete(key);
    if (why !== 'closed') {
      this.done.add(key);
      if (this.done.size > this.o.maxConnections) this.done.delete(this.done.values().next().value as string);
    }
    conn.completed = why;
    return conn;
  }
}

/** An address written as text (IPv4 dotted, or anything with a colon: IPv6), not a host name. */
export function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}
