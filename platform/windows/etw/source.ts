/**
 * ETW as a streaming Source for the daemon: every TCP connect attempt the kernel reports, attributed
 * to its process at the event (the process may exit a millisecond later; a table poll would miss it).
 * No snapshot(): scans use the iphlpapi adapter.
 */
import { AdapterUnavailableError, type Source, type SourceHealth } from '../../../src/core/source';
import type { ConnectionEvent } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import type { ToolhelpEntry } from '../process/parse';
import { processInfo, type Win32Process, win32Process } from '../process/read';
import { KERNEL_NETWORK_PROVIDER, parseConnectAttempt } from './parse';
import { type EtwHandlers, type EtwSession, startKernelNetworkSession } from './read';

export interface EtwOptions {
  isCandidate(ip: string, port: number): boolean;
  isPubSubPort?(port: number): boolean;
  /** Down (up=false) when ProcessTrace ends while the source should run. */
  onStatus?(up: boolean, why?: string): void;
  log?(line: string): void;
  /**
   * A session that delivers nothing at all for this long is treated as down (the polling adapter
   * stands in) until an event arrives. Kernel-Network reports every TCP send and receive, so
   * silence on a real host means a broken session, not a quiet one. Default 30 s.
   */
  silenceMs?: number;
}

export interface EtwDeps {
  start(handlers: EtwHandlers, log: (line: string) => void): EtwSession;
  processes(): Win32Process;
  now(): Date;
}

export const realEtwDeps: EtwDeps = { start: (h, log) => startKernelNetworkSession(h, log), processes: () => win32Process(), now: () => new Date() };

/** Toolhelp snapshots are reused for this long (a connect burst costs one snapshot, not one each). */
const ENTRIES_TTL_MS = 500;

export class EtwSource implements Source {
  readonly name = 'etw';
  readonly warnings = new WarningCollector();
  private session: EtwSession | null = null;
  private closing = false;
  private lastError: string | null = null;
  private silence: NodeJS.Timeout | null = null;
  private silent = false;
  private entries: { at: number; map: Map<number, ToolhelpEntry> } | null = null;

  constructor(private readonly opts: EtwOptions, private readonly deps: EtwDeps = realEtwDeps) {}

  private toolhelp(api: Win32Process): Map<number, ToolhelpEntry> {
    const now = Date.now();
    if (!this.entries || now - this.entries.at > ENTRIES_TTL_MS) this.entries = { at: now, map: api.processes() };
    return this.entries.map;
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    const silenceMs = this.opts.silenceMs ?? 30_000;
    const armSilence = () => {
      if (this.silence) clearTimeout(this.silence);
      this.silence = setTimeout(() => {
        if (this.closing) return;
        this.silent = true;
        this.lastError = `no events from Microsoft-Windows-Kernel-Network for ${silenceMs / 1000} s`;
        this.opts.onStatus?.(false, this.lastError);
      }, silenceMs);
      this.silence.unref();
    };
    const handlers: EtwHandlers = {
      onEvent: (header, payload) => {
        if (header.providerId !== KERNEL_NETWORK_PROVIDER) return;
        if (this.silent) {
          this.silent = false;
          this.opts.onStatus?.(true);
        }
        armSilence();
        let c;
        try {
          c = parseConnectAttempt(header.id, payload);
        } catch (err) {
          this.warnings.add('etw-malformed-event', (err as Error).message);
          return;
        }
        if (!c) return;
        const candidate = this.opts.isCandidate(c.destination.ip, c.destination.port);
        if (!candidate && !this.opts.isPubSubPort?.(c.destination.port)) return;
        const time = this.deps.now().toISOString();
        const e: ConnectionEvent = { time, adapter: 'etw', transport: 'tcp', family: c.family, state: 'SYN_SENT', source: c.source, destination: c.destination };
        if (candidate && c.pid !== 0) {
          const api = this.deps.processes();
          const p = processInfo(api, c.pid, this.toolhelp(api), this.warnings, time);
          if (p) e.process = p;
        }
        emit(e);
      },
      onEnd: (code) => {
        if (this.closing) return;
        this.lastError = `ProcessTrace returned ${code === -1 ? 'an exception' : `error ${code}`}`;
        this.opts.onStatus?.(false, `ProcessTrace returned ${code === -1 ? 'an exception' : `error ${code}`}`);
      },
    };
    try {
      this.session = this.deps.start(handlers, this.opts.log ?? (() => undefined));
    } catch (err) {
      throw new AdapterUnavailableError('etw', (err as Error).message);
    }
    this.opts.onStatus?.(true);
    armSilence();
  }

  /** Undecodable events and partial process records, by code; the session itself loses nothing we can count yet. */
  health(): SourceHealth {
    return { eventsLost: 0, pollErrors: 0, lastError: this.lastError, warnings: this.warnings.list() };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.silence) clearTimeout(this.silence);
    this.session?.stop();
    this.session = null;
  }
}
