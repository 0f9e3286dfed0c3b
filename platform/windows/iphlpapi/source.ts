/**
 * The iphlpapi adapter (Windows default): owner-pid TCP tables (IPv4 and IPv6) give every
 * connection and its pid in one call, process/read.ts names the pid. snapshot() for scans;
 * start() polls and emits each connection once per lifetime.
 */
import { PollingSource } from '../../../src/core/poller';
import type { SourceHooks } from '../../../src/core/source';
import type { ConnectionEvent, Snapshot } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import { processInfo, type Win32Process, win32Process } from '../process/read';
import type { ToolhelpEntry } from '../process/parse';
import type { TableRow } from './parse';
import { type IphlpapiTables, loadIphlpapi } from './read';

export interface IphlpapiOptions {
  isCandidate(ip: string, port: number): boolean;
  isPubSubPort?(port: number): boolean;
  isWatchedPort?(port: number): boolean;
}

export interface IphlpapiDeps {
  tables(): IphlpapiTables;
  processes(): Win32Process;
  now(): Date;
}

export const realIphlpapiDeps: IphlpapiDeps = { tables: () => loadIphlpapi(), processes: () => win32Process(), now: () => new Date() };

const key = (r: TableRow) => `${r.transport}|${r.local.ip}|${r.local.port}|${r.remote.ip}|${r.remote.port}`;

/** Connected, not accepted (its local port is not a listening port), not to nowhere. */
function isOutbound(r: TableRow, listening: Set<number>): boolean {
  if (r.state === 'LISTEN' || r.remote.port === 0) return false;
  return !listening.has(r.local.port);
}

export class IphlpapiSource extends PollingSource {
  readonly name = 'iphlpapi';

  constructor(private readonly opts: IphlpapiOptions, private readonly deps: IphlpapiDeps = realIphlpapiDeps, intervalMs = 1000, hooks: SourceHooks = {}) {
    super(intervalMs, hooks);
  }

  /** One read of the tables; rows already reported (`known`) are not attributed again. */
  async read(known: (k: string) => boolean = () => false): Promise<Snapshot & { keys: string[] }> {
    const warn = new WarningCollector();
    const stats: Record<string, number> = { sockets: 0, udpSockets: 0, candidates: 0, unattributed: 0, processesRead: 0 };
    const tables = this.deps.tables();
    const time = this.deps.now().toISOString();
    const rows: TableRow[] = [];
    for (const family of [4, 6] as const) {
      try {
        rows.push(...tables.tcp(family));
      } catch (err) {
        warn.add('table-unreadable', `TCP IPv${family} table: ${(err as Error).message}`);
      }
      try {
        // The owner-pid UDP tables have no remote end: counted, never judged.
        stats.udpSockets = (stats.udpSockets as number) + tables.udp(family).length;
      } catch (err) {
        warn.add('table-unreadable', `UDP IPv${family} table: ${(err as Error).message}`);
      }
    }
    stats.sockets = rows.length;
    const listening = new Set(rows.filter((r) => r.state === 'LISTEN').map((r) => r.local.port));
    const connections: ConnectionEvent[] = [];
    const keys: string[] = [];
    let entries: Map<number, ToolhelpEntry> | null = null;
    const procs = new Map<number, ReturnType<typeof processInfo>>();
    for (const r of rows) {
      if (!isOutbound(r, listening)) continue;
      if (this.opts.isWatchedPort && !this.opts.isWatchedPort(r.remote.port)) continue;
      const candidate = this.opts.isCandidate(r.remote.ip, r.remote.port);
      if (!candidate && !this.opts.isPubSubPort?.(r.remote.port)) continue;
      const k = key(r);
      keys.push(k);
      if (known(k)) continue;
      const e: ConnectionEvent = { time, adapter: 'iphlpapi', transport: r.transport, family: r.family, state: r.state, source: r.local, destination: r.remote };
      if (candidate) {
        stats.candidates = (stats.candidates as number) + 1;
        if (r.pid === 0) {
          stats.unattributed = (stats.unattributed as number) + 1;
          warn.add('socket-unowned', 'some connections have no owning process in the TCP table (pid 0: closing, or a socket the OS does not attribute)');
        } else {
          const api = this.deps.processes();
          entries ??= api.processes();
          if (!procs.has(r.pid)) procs.set(r.pid, processInfo(api, r.pid, entries, warn, time));
          const p = procs.get(r.pid);
          if (p) e.process = p;
          else stats.unattributed = (stats.unattributed as number) + 1;
        }
      }
      connections.push(e);
    }
    stats.processesRead = procs.size;
    return { connections, warnings: warn.list(), stats, keys };
  }

  async snapshot(): Promise<Snapshot> {
    const { connections, warnings, stats } = await this.read();
    return { connections, warnings, stats };
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    let seen = new Set<string>();
    await this.startPolling(async (closed) => {
      const snap = await this.read((k) => seen.has(k));
      if (closed()) return;
      this.tally.addAll(snap.warnings);
      for (const e of snap.connections) emit(e);
      seen = new Set(snap.keys);
    });
  }
}
