/**
 * The netstat adapter: `netstat -ano` as the last resort when iphlpapi cannot load. Process facts
 * come from the Win32 API when koffi loads; otherwise only the pid is known (a warning says so).
 */
import { emitNew, PollingSource } from '../../../src/core/poller';
import type { SourceHooks } from '../../../src/core/source';
import type { ConnectionEvent, Snapshot } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import type { ToolhelpEntry } from '../process/parse';
import { processInfo, type Win32Process, win32Process } from '../process/read';
import { parseNetstat } from './parse';
import { runNetstat } from './read';

export interface NetstatOptions {
  isCandidate(ip: string, port: number): boolean;
  isPubSubPort?(port: number): boolean;
}

export interface NetstatDeps {
  run(): Promise<string>;
  processes(): Win32Process | null;
  now(): Date;
}

export const realNetstatDeps: NetstatDeps = {
  run: () => runNetstat(),
  processes: () => { try { return win32Process(); } catch { return null; } },
  now: () => new Date(),
};

export class NetstatSource extends PollingSource {
  readonly name = 'netstat';

  constructor(private readonly opts: NetstatOptions, private readonly deps: NetstatDeps = realNetstatDeps, intervalMs = 1000, hooks: SourceHooks = {}) {
    super(intervalMs, hooks);
  }

  async snapshot(): Promise<Snapshot> {
    const warn = new WarningCollector();
    const time = this.deps.now().toISOString();
    const parsed = parseNetstat(await this.deps.run());
    for (const p of parsed.problems) warn.add('parse-malformed-line', `netstat: ${p}`);
    if (parsed.noPidColumn) warn.add('netstat-no-pid', 'netstat printed no PID column (Wine, or an old netstat): connections are reported without a process');
    const stats: Record<string, number> = { sockets: parsed.rows.length, candidates: 0, unattributed: 0 };
    const listening = new Set(parsed.rows.filter((r) => r.listening).map((r) => r.local.port));
    const api = this.deps.processes();
    if (!api) warn.add('proc-api-unavailable', 'the Win32 process API could not load: connections carry only their pid');
    let entries: Map<number, ToolhelpEntry> | null = null;
    const connections: ConnectionEvent[] = [];
    for (const r of parsed.rows) {
      if (r.transport !== 'tcp' || r.listening || r.remote === null || listening.has(r.local.port)) continue;
      const candidate = this.opts.isCandidate(r.remote.ip, r.remote.port);
      if (!candidate && !this.opts.isPubSubPort?.(r.remote.port)) continue;
      const e: ConnectionEvent = { time, adapter: 'netstat', transport: 'tcp', family: r.family, state: r.state, source: r.local, destination: r.remote };
      if (candidate) {
        stats.candidates = (stats.candidates as number) + 1;
        if (r.pid === undefined || r.pid === 0) {
          stats.unattributed = (stats.unattributed as number) + 1;
        } else if (api) {
          entries ??= api.processes();
          e.process = processInfo(api, r.pid, entries, warn, time) ?? { pid: r.pid };
        } else {
          e.process = { pid: r.pid };
        }
      }
      connections.push(e);
    }
    return { connections, warnings: warn.list(), stats };
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    let seen = new Set<string>();
    const key = (e: ConnectionEvent) => `${e.source.ip}|${e.source.port}|${e.destination.ip}|${e.destination.port}`;
    await this.startPolling(async (closed) => {
      const snap = await this.snapshot();
      if (closed()) return;
      this.tally.addAll(snap.warnings);
      seen = emitNew(snap.connections, seen, key, emit);
    });
  }
}
