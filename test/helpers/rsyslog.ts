/**
 * A real rsyslogd as the forwarder's syslog collector: its own process (rsyslogd -n, no fork),
 * its own config, pid file and work folder in a temp folder, imtcp on a loopback port (plain TCP,
 * or TLS through the gtls driver of rsyslog-gnutls), and every received line written to a file with
 * a template that keeps the raw message. Stopped by pid (SIGTERM, then SIGKILL).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { waitForPort } from './lab-net';
import { findExecutable, type LabProcess, sleep, spawnProcess } from './lab-process';

export interface RsyslogTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** rsyslogd lives in sbin, which a non-root PATH may lack. */
export function findTool(name: string): string | null {
  return findExecutable(name) ?? ['/usr/sbin', '/sbin'].map((d) => findExecutable(path.join(d, name))).find((p) => p !== null) ?? null;
}

/**
 * The tools, or null after skipping the test with the reason. Under CI=true a missing tool fails
 * the test instead (CONVENTIONS: CI installs every prerequisite).
 */
export function requireTools(t: TestContext, names: readonly string[]): Record<string, string> | null {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const n of names) {
    const p = findTool(n);
    if (p === null) missing.push(n);
    else found[n] = p;
  }
  if (missing.length === 0) return found;
  const reason = `missing prerequisite: ${missing.join(', ')} (Debian: apt-get install rsyslog rsyslog-gnutls openssl)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true: a missing prerequisite is a failure`);
  t.skip(reason);
  return null;
}

export class Rsyslog {
  readonly outFile: string;
  private proc: LabProcess | null = null;

  constructor(private readonly rsyslogd: string, readonly dir: string, readonly port: number, private readonly tls: RsyslogTls | null = null) {
    fs.mkdirSync(path.join(dir, 'work'), { recursive: true });
    this.outFile = path.join(dir, 'received.log');
  }

  get pid(): number | null {
    return this.proc?.running ? this.proc.pid : null;
  }

  private config(): string {
    const q = (s: string) => JSON.stringify(s); // rsyslog string literals: double quotes, backslash escapes
    const tlsGlobal = this.tls
      ? ` defaultNetstreamDriverCAFile=${q(this.tls.caFile)} defaultNetstreamDriverCertFile=${q(this.tls.certFile)} defaultNetstreamDriverKeyFile=${q(this.tls.keyFile)}`
      : '';
    // gnutlsPriorityString NORMAL: GnuTLS's default set. rsyslog's own default for gtls offers no
    // TLS 1.3 suite, while the collectors brokerwatch meets (Go crypto/tls) negotiate TLS 1.3.
    const tlsModule = this.tls ? ' StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon" gnutlsPriorityString="NORMAL"' : '';
    return [
      // maxMessageSize first: it must be set before any input exists (the default is 8 KiB).
      `global(workDirectory=${q(path.join(this.dir, 'work'))} maxMessageSize="1m"${tlsGlobal})`,
      `module(load="imtcp"${tlsModule})`,
      'template(name="raw" type="string" string="%rawmsg%\\n")',
      `ruleset(name="collect") { action(type="omfile" file=${q(this.outFile)} template="raw") }`,
      `input(type="imtcp" address="127.0.0.1" port="${this.port}" ruleset="collect")`,
      // rsyslog's own messages (TLS handshake errors...) for failure diagnostics.
      `syslog.* action(type="omfile" file=${q(path.join(this.dir, 'rsyslog-internal.log'))})`,
      '',
    ].join('\n');
  }

  async start(): Promise<void> {
    if (this.proc?.running) return;
    const conf = path.join(this.dir, 'rsyslog.conf');
    fs.writeFileSync(conf, this.config());
    this.proc = spawnProcess(this.rsyslogd, ['-n', '-f', conf, '-i', path.join(this.dir, 'rsyslogd.pid')], `rsyslogd :${this.port}`, null);
    await waitForPort('127.0.0.1', this.port, 10_000, this.proc);
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  /** rsyslog's own log and output, for assertion messages. */
  diagnostics(): string {
    const internal = path.join(this.dir, 'rsyslog-internal.log');
    return `${this.proc?.describe() ?? 'not started'}; internal log: ${fs.existsSync(internal) ? fs.readFileSync(internal, 'utf8').slice(-2000) : '(none)'}`;
  }

  /** Every complete line received so far. */
  lines(): string[] {
    if (!fs.existsSync(this.outFile)) return [];
    const text = fs.readFileSync(this.outFile, 'utf8');
    return text.split('\n').slice(0, -1);
  }

  /** Waits until `done(lines)` holds; throws with diagnostics after timeoutMs. */
  async waitFor(done: (lines: string[]) => boolean, what: string, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.lines();
      if (done(lines)) return lines;
      if (Date.now() > deadline) throw new Error(`rsyslog: timed out after ${timeoutMs} ms waiting for ${what}; ${lines.length} lines received; ${this.diagnostics()}`);
      await sleep(25);
    }
  }
}
