/**
 * `brokerwatch selftest`: the three T1071.005 tests the Chronicle rule's documentation lists, run on
 * this host against loopback listeners, through the daemon's own capture path (eBPF where it runs,
 * else polling) with the lab profile (loopback judged, det0002 rules). A test passes when the daemon
 * raised a finding for the client process the test started, on the port it connected to.
 *
 * Long-lived clients on purpose: mosquitto_pub reads its message from stdin (-l) and nc holds its
 * stream open until the finding is seen, so polling capture sees them as surely as eBPF does.
 * Everything started is stopped in cleanup(), which the CLI also calls on SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema';
import type { Logger } from '../core/logger';
import type { OutRecord } from '../core/sink';
import { MemorySink } from '../sinks';
import { type RunHandle, startDaemon } from './agent';
import { type Listener, startMosquitto, startOwnMqtt, startOwnXmpp } from './selftest-listeners';

export interface SelftestOptions {
  mqttPort: number;
  xmppPort: number;
  /** Stop at the first test that was not detected (default) or run all. */
  keepGoing: boolean;
  /** Use brokerwatch's own listeners even when mosquitto is installed. */
  ownListeners: boolean;
  /** How long each test waits for its finding. */
  timeoutMs: number;
  log: Logger;
  /** Progress lines for the human output (one per step). */
  progress?: (line: string) => void;
}

export interface TestResult {
  name: string;
  /** The seed's words for the expected telemetry. */
  expected: string;
  status: 'detected' | 'missed' | 'skipped';
  /** Why it was skipped or missed. */
  note?: string;
  client?: { command: string; pid: number };
  finding?: { rules: string[]; severity: string; process: string; pid: number };
}

export interface SelftestReport {
  capture: { source: string; fallbacks: string[] };
  listeners: string[];
  tests: TestResult[];
  exitCode: 0 | 1;
}

const SEARCH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * A client tool by name, only where root owns it and nobody else can write it: selftest runs as
 * root and must not run a binary someone planted in a writable PATH entry.
 */
export function findTool(name: string, dirs: readonly string[] = SEARCH_DIRS): string | null {
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      const st = fs.statSync(file);
      const d = fs.statSync(dir);
      if (st.isFile() && (st.mode & 0o111) !== 0 && st.uid === 0 && (st.mode & 0o022) === 0 && d.uid === 0 && (d.mode & 0o022) === 0) return file;
    } catch {
      // not here
    }
  }
  return null;
}

interface TestSpec {
  name: string;
  expected: string;
  tool: string;
  pkg: string;
  port: 'mqtt' | 'xmpp';
  args(port: number): string[];
  /** Written to the client's stdin (which stays open until the test ends). */
  stdin: string;
}

const systemData = (): string => `host=${os.hostname()} os=${os.type()} ${os.release()} arch=${os.arch()} user=${os.userInfo().username} uptime=${Math.round(os.uptime())}\n`;

export const SELFTESTS: readonly TestSpec[] = [
  {
    name: 'MQTT C2 publish simulation',
    expected: "Sysmon for Linux Event ID 3: Network connection from mosquitto_pub to 127.0.0.1:1883. Process creation event for mosquitto_pub with topic name 'c2/beacon' and system data in the message payload.",
    tool: 'mosquitto_pub', pkg: 'mosquitto-clients', port: 'mqtt',
    args: (port) => ['-h', '127.0.0.1', '-p', String(port), '-t', 'c2/beacon', '-i', 'brokerwatch-selftest-pub', '-l'],
    stdin: '',
  },
  {
    name: 'XMPP C2 connection simulation',
    expected: 'Sysmon for Linux Event ID 3: Network connection from nc to 127.0.0.1:5222. Process creation event for nc with XMPP XML stanza in piped input.',
    tool: 'nc', pkg: 'netcat-openbsd', port: 'xmpp',
    args: (port) => ['127.0.0.1', String(port)],
    stdin: "<?xml version='1.0'?><stream:stream to='c2.example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n",
  },
  {
    name: 'MQTT subscribe for commands simulation',
    expected: "Sysmon for Linux Event ID 3: Network connection from mosquitto_sub to 127.0.0.1:1883. Long-lived connection (up to 10 seconds) as the client waits for messages on the 'c2/commands/#' wildcard topic.",
    tool: 'mosquitto_sub', pkg: 'mosquitto-clients', port: 'mqtt',
    args: (port) => ['-h', '127.0.0.1', '-p', String(port), '-t', 'c2/commands/#', '-i', 'brokerwatch-selftest-sub', '-W', '10'],
    stdin: '',
  },
];

type Finding = { rules: string[]; severity: string; process: string; pid: number };

/** The finding the daemon sent for this pid and port (UDM records from the memory sink), if any. */
function findingFor(records: readonly OutRecord[], pid: number, port: number): Finding | null {
  for (const r of records) {
    const rec = r as { principal?: { process?: { pid?: string; file?: { full_path?: string } } }; target?: { port?: number }; security_result?: { severity?: string; detection_fields?: { key: string; value: string }[] }[] };
    if (rec.principal?.process?.pid !== String(pid) || rec.target?.port !== port || !rec.security_result?.length) continue;
    const sr = rec.security_result[0];
    return {
      rules: (sr?.detection_fields ?? []).filter((l) => l.key === 'rule_id').map((l) => l.value),
      severity: sr?.severity ?? '?',
      process: rec.principal.process.file?.full_path ?? '?',
      pid,
    };
  }
  return null;
}

/** The selftest run: owns every process and listener it starts until cleanup(). */
export class Selftest {
  private readonly children = new Set<ChildProcess>();
  private readonly listeners: Listener[] = [];
  private handle: RunHandle | null = null;
  private cleaning: Promise<void> | null = null;

  constructor(private readonly config: Config, private readonly opts: SelftestOptions) {}

  async run(): Promise<SelftestReport> {
    const say = this.opts.progress ?? (() => undefined);
    const sink = new MemorySink('selftest');
    // The lab profile: loopback judged as external, DET0002 rules, no configured sinks; a listener
    // port chosen by the caller is added to its protocol's ports.
    const ports = { ...this.config.protocolPortList };
    const add = (protocol: string, port: number) => { ports[protocol] = [...new Set([...(ports[protocol] ?? []), port])]; };
    add('MQTT', this.opts.mqttPort);
    add('XMPP', this.opts.xmppPort);
    const config: Config = { ...this.config, mode: 'det0002', includeLoopback: true, sinks: [], protocolPortList: ports };
    this.handle = await startDaemon(config, this.opts.log, [{ sink, format: 'udm' }]);
    const cap = this.handle.capture()?.status ?? { active: 'none', fallbacks: [] };
    say(`capture: ${cap.active}${cap.fallbacks.length ? ` (${cap.fallbacks.join('; ')})` : ''}`);

    const mosquitto = this.opts.ownListeners ? null : findTool('mosquitto');
    const needs = new Set(SELFTESTS.filter((t) => findTool(t.tool)).map((t) => t.port));
    if (needs.has('mqtt')) this.listeners.push(mosquitto ? await startMosquitto(mosquitto, this.opts.mqttPort) : await startOwnMqtt(this.opts.mqttPort));
    if (needs.has('xmpp')) this.listeners.push(await startOwnXmpp(this.opts.xmppPort));
    for (const l of this.listeners) say(`listening: ${l.name} on 127.0.0.1:${l.port}`);

    const tests: TestResult[] = [];
    let missed = false;
    for (const spec of SELFTESTS) {
      if (missed && !this.opts.keepGoing) {
        tests.push({ name: spec.name, expected: spec.expected, status: 'skipped', note: 'an earlier test was not detected (--keep-going runs all)' });
        continue;
      }
      const result = await this.runOne(spec, sink);
      say(`${result.status === 'detected' ? 'DETECTED' : result.status === 'missed' ? 'MISSED  ' : 'SKIPPED '} ${spec.name}`);
      tests.push(result);
      if (result.status === 'missed') missed = true;
    }
    return { capture: { source: cap.active, fallbacks: [...cap.fallbacks] }, listeners: this.listeners.map((l) => `${l.name} on 127.0.0.1:${l.port}`), tests, exitCode: missed ? 1 : 0 };
  }

  private async runOne(spec: TestSpec, sink: MemorySink): Promise<TestResult> {
    const base = { name: spec.name, expected: spec.expected };
    const exe = findTool(spec.tool);
    if (!exe) return { ...base, status: 'skipped', note: `${spec.tool} is not installed (root-owned, in ${SEARCH_DIRS.join(':')}): install the ${spec.pkg} package` };
    const port = spec.port === 'mqtt' ? this.opts.mqttPort : this.opts.xmppPort;
    const args = spec.args(port);
    const child = spawn(exe, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    this.children.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.on('error', () => undefined);
    child.stdin?.write(spec.tool === 'mosquitto_pub' ? systemData() : spec.stdin);
    const client = { command: [spec.tool, ...args].join(' '), pid: child.pid ?? -1 };
    const deadline = Date.now() + this.opts.timeoutMs;
    let finding: Finding | null = null;
    let gone = false;
    void exited.then(() => { gone = true; });
    while (!finding && Date.now() < deadline) {
      finding = findingFor(sink.records, client.pid, port);
      if (!finding) await new Promise((r) => setTimeout(r, 50));
      if (gone && !finding) {
        // The client ended: give capture one more poll interval to report it, then judge.
        await new Promise((r) => setTimeout(r, Math.min(2000, this.config.pollInterval * 2)));
        finding = findingFor(sink.records, client.pid, port);
        break;
      }
    }
    const exitedEarly = gone;
    await this.stopChild(child, exited);
    if (finding) return { ...base, status: 'detected', client, finding };
    return { ...base, status: 'missed', client, note: exitedEarly ? `the client exited (code ${child.exitCode ?? child.signalCode}) and no finding named it` : `no finding for pid ${client.pid} to port ${port} within ${this.opts.timeoutMs / 1000}s` };
  }

  private async stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    this.children.delete(child);
  }

  /** Stops every client, listener and the daemon. Idempotent; the CLI calls it on SIGINT/SIGTERM too. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      for (const c of this.children) c.kill('SIGKILL');
      this.children.clear();
      await Promise.allSettled(this.listeners.map((l) => l.close()));
      if (this.handle) await this.handle.stop().catch(() => undefined);
    })();
    return this.cleaning;
  }
}
