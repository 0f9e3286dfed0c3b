/**
 * Sink `forwarder`: newline-delimited single-line JSON over TCP or TLS to a Google SecOps forwarder
 * syslog collector, a Bindplane tcplog/syslog receiver, or any syslog relay. Each line is one event,
 * optionally behind an RFC 5424 header (framing: syslog, see syslog.ts).
 *
 * Delivered means: every byte of the batch was handed to the kernel (the socket's write callback)
 * and the connection then stayed up, without error, reset or close, for `ackGrace`. Syslog over TCP
 * has no application acknowledgement (RFC 6587); a collector that crashes after reading the bytes
 * loses them. The grace period catches the common failures: a collector that is stopping or
 * restarting resets the connection, and a reset within the grace makes the whole batch undelivered.
 * Put the spool (SpooledSink) in front for at-least-once across outages and restarts.
 *
 * Idle connections: the Chronicle forwarder drops a TCP connection idle for 60 s. Nothing is sent
 * to keep it open (an empty or heartbeat line would become a log in the SIEM). Instead the sink
 * closes its side after `idleClose` (50 s) without writes and reconnects on the next write, so the
 * forwarder never closes under a write in progress; TCP keepalive (`keepAlive`) detects a peer that
 * vanished (and keeps NAT state) while a connection is open.
 *
 * Reconnect: a failed connect or a connection that died with unconfirmed data sets a backoff
 * (exponential, full jitter, capped); during it write() fails at once and retryDelayMs() says how
 * long to wait. Without a spool, records written during an outage are lost and logged.
 */
import os from 'node:os';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import type { OutRecord, Sink } from '../../core/sink';
import type { Logger } from '../../core/logger';
import { Backoff } from '../backoff';
import type { ForwarderSinkConfig } from '../../config/sinks';
import { defaultIsFinding, type JsonLineSink, type RetryHint, type SpooledLine } from '../delivery';
import { Connection, ForwarderError, openSocket } from './connection';
import { capRecord, type NoteTruncation } from './size-cap';
import { FACILITIES, FACILITY_NAMES, SYSLOG_INFO, syslogHeader, syslogHostname, syslogSeverity } from './syslog';

export { ForwarderError } from './connection';
export { forwarderSinkSchema, forwarderTlsSchema, type ForwarderSinkConfig } from '../../config/sinks';




export interface ForwarderDeps {
  log: Logger;
  /** Syslog HOSTNAME when the config has none. */
  hostname?: string;
  pid?: number;
  now?: () => Date;
  random?: () => number;
  readFile?: (path: string) => Promise<Buffer>;
  isFinding?: (record: OutRecord) => boolean;
  noteTruncation?: NoteTruncation;
}

export interface ForwarderStats {
  sent: number;
  bytes: number;
  connects: number;
  connectFailures: number;
  truncated: number;
  oversizeDropped: number;
  connected: boolean;
  lastError: string | null;
}

interface Payload {
  /** The JSON line's UTF-8 bytes, without newline. */
  body: Buffer;
  severity: number;
}

const NEWLINE = Buffer.from('\n');

const LOG_REPEAT_MS = 60_000;

export class ForwarderSink implements Sink, JsonLineSink, RetryHint {
  readonly name: string;
  private readonly counters: Omit<ForwarderStats, 'connected'> = { sent: 0, bytes: 0, connects: 0, connectFailures: 0, truncated: 0, oversizeDropped: 0, lastError: null };
  private conn: Connection | null = null;
  private connecting: Promise<Connection> | null = null;
  private nextAttemptAt = 0;
  private readonly backoff: Backoff;
  private readonly pending = new Set<Promise<void>>();
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastLogged = { text: '', at: 0 };
  private hadFailure = false;
  private readonly label: string;
  private readonly syslogHost: string;

  constructor(readonly config: ForwarderSinkConfig, private readonly deps: ForwarderDeps) {
    this.label = `${config.host}:${config.port}`;
    this.name = `forwarder(${this.label})`;
    this.backoff = new Backoff({ initialMs: config.reconnect.initialDelay, maxMs: config.reconnect.maxDelay, ...(deps.random ? { random: deps.random } : {}) });
    this.syslogHost = syslogHostname(config.syslog.hostname ?? deps.hostname ?? os.hostname());
  }

  async write(records: OutRecord[]): Promise<void> {
    const isFinding = this.deps.isFinding ?? defaultIsFinding;
    const payloads: Payload[] = [];
    for (const r of records) {
      const json = this.capped(r);
      if (json !== null) payloads.push({ body: Buffer.from(json, 'utf8'), severity: syslogSeverity(r, isFinding(r)) });
    }
    await this.track(this.send(payloads));
  }

  /**
   * The spool's path: the stored bytes go out as they are, unless over the cap. Only findings are
   * parsed, and only with syslog framing (for their severity); telemetry is informational.
   */
  async writeJsonLines(items: SpooledLine[]): Promise<void> {
    const payloads: Payload[] = [];
    for (const item of items) {
      const over = item.line.length > this.config.maxEventBytes;
      const record = over || (item.finding && this.config.framing === 'syslog') ? (JSON.parse(item.line.toString('utf8')) as OutRecord) : null;
      let body = item.line;
      if (over && record) {
        const json = this.capped(record);
        if (json === null) continue;
        body = Buffer.from(json, 'utf8');
      }
      payloads.push({ body, severity: record ? syslogSeverity(record, item.finding) : SYSLOG_INFO });
    }
    await this.track(this.send(payloads));
  }

  /** Counters since start, and whether a connection is up now (for `status`). */
  get stats(): ForwarderStats {
    return { ...this.counters, connected: this.conn !== null && this.conn.dead === null };
  }

  retryDelayMs(): number {
    return Math.max(0, this.nextAttemptAt - Date.now());
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.connecting?.catch(() => undefined);
    await this.conn?.end();
    this.conn = null;
  }

  private track(p: Promise<void>): Promise<void> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** The JSON line within maxEventBytes, or null (logged, counted) when it cannot be made to fit. */
  private capped(record: OutRecord): string | null {
    const r = capRecord(record, { maxBytes: this.config.maxEventBytes, ...(this.deps.noteTruncation ? { note: this.deps.noteTruncation } : {}) });
    if (r.json === null) {
      this.counters.oversizeDropped++;
      this.deps.log.error(`${this.name}: event dropped: ${r.reason}`);
      return null;
    }
    if (r.notes.length > 0) this.counters.truncated++;
    return r.json;
  }

  /** Lines joined into socket writes of about batchBytes (one copy, no transcoding). */
  private frame(payloads: Payload[]): Buffer[] {
    const chunks: Buffer[] = [];
    let parts: Buffer[] = [];
    let size = 0;
    const syslog = this.config.framing === 'syslog';
    const facility = FACILITIES[this.config.syslog.facility];
    const time = (this.deps.now ?? (() => new Date()))();
    const pid = this.deps.pid ?? process.pid;
    const headers = new Map<number, Buffer>();
    for (const p of payloads) {
      if (syslog) {
        let head = headers.get(p.severity);
        if (!head) headers.set(p.severity, (head = Buffer.from(syslogHeader(facility, p.severity, time, this.syslogHost, pid), 'utf8')));
        parts.push(head);
        size += head.length;
      }
      parts.push(p.body, NEWLINE);
      size += p.body.length + 1;
      if (size >= this.config.batchBytes) {
        chunks.push(Buffer.concat(parts, size));
        parts = [];
        size = 0;
      }
    }
    if (size > 0) chunks.push(Buffer.concat(parts, size));
    return chunks;
  }

  private async send(payloads: Payload[]): Promise<void> {
    if (this.closed) throw new ForwarderError(`${this.name}: write after close`, 'CLOSED');
    if (payloads.length === 0) return;
    const conn = await this.connection();
    conn.inFlight++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    try {
      const chunks = this.frame(payloads);
      await Promise.all(chunks.map((c) => conn.write(c)));
      await conn.healthyFor(this.config.ackGrace);
      this.backoff.reset();
      this.counters.sent += payloads.length;
      this.counters.bytes += chunks.reduce((n, c) => n + c.length, 0);
    } catch (err) {
      this.connectionFailed(conn, err as Error);
      throw err;
    } finally {
      conn.inFlight--;
      this.armIdleClose(conn);
    }
  }

  /** A connection that died with unconfirmed data counts as a failure once: no tight reconnect loop. */
  private connectionFailed(conn: Connection, err: Error): void {
    this.counters.lastError = err.message;
    if (conn.backoffCounted) return;
    conn.backoffCounted = true;
    this.nextAttemptAt = Date.now() + this.backoff.next();
    this.hadFailure = true;
    this.logRateLimited(`${this.name}: ${err.message}; the batch is not confirmed`);
  }

  private armIdleClose(conn: Connection): void {
    if (conn.inFlight > 0 || conn.dead || this.closed) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.conn !== conn || conn.inFlight > 0) return;
      this.conn = null;
      this.deps.log.debug(`${this.name}: idle for ${this.config.idleClose} ms, closing (reconnects on the next write)`);
      void conn.end();
    }, this.config.idleClose);
    this.idleTimer.unref();
  }

  private connection(): Promise<Connection> {
    if (this.conn && !this.conn.dead) return Promise.resolve(this.conn);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<Connection> {
    const wait = this.nextAttemptAt - Date.now();
    if (wait > 0) {
      throw new ForwarderError(`${this.name}: collector unavailable, next connection attempt in ${wait} ms (last error: ${this.counters.lastError ?? 'none'})`, 'BACKOFF');
    }
    const t = this.config.tls;
    try {
      const socket = await openSocket({
        host: this.config.host,
        port: this.config.port,
        tls: t.enabled ? t : null,
        connectTimeoutMs: this.config.connectTimeout,
        keepAliveMs: this.config.keepAlive,
        ...(this.deps.readFile ? { readFile: this.deps.readFile } : {}),
      });
      const conn = new Connection(socket, this.label);
      this.conn = conn;
      this.counters.connects++;
      if (t.enabled && t.insecureSkipVerify) {
        this.deps.log.warn(`${this.name}: TLS certificate verification is OFF (tls.insecureSkipVerify: true): anyone on the path can read and change the events`);
      }
      const how = t.enabled ? `TLS ${(socket as TLSSocket).getProtocol() ?? ''}${t.insecureSkipVerify ? ' unverified' : ', certificate verified'}` : 'TCP';
      const text = `${this.name}: connected (${how})`;
      if (this.hadFailure || this.counters.connects === 1) this.deps.log.info(text);
      else this.deps.log.debug(text);
      this.hadFailure = false;
      return conn;
    } catch (err) {
      this.counters.connectFailures++;
      this.counters.lastError = (err as Error).message;
      this.hadFailure = true;
      this.nextAttemptAt = Date.now() + this.backoff.next();
      this.logRateLimited(`${this.name}: ${(err as Error).message}`);
      throw err;
    }
  }

  /** The same failure is logged once a minute, a new one at once: an outage is not a log flood. */
  private logRateLimited(text: string): void {
    const now = Date.now();
    if (text === this.lastLogged.text && now - this.lastLogged.at < LOG_REPEAT_MS) return;
    this.lastLogged = { text, at: now };
    this.deps.log.warn(text);
  }
}
