/**
 * WireSource: runs wire.bt and emits one ConnectionEvent (adapter 'wire') per watched outbound TCP
 * connection once its first writes were seen, carrying `wire` (what the bytes say), `inspection`
 * and `destination.hostname`. The process is read from /proc at the connect line, while it exists
 * (identity at the event). Partial failures are counted in stats and warnings, never thrown.
 */
import { packageFileText } from '../../../src/config/embedded';
import type { Config } from '../../../src/config/schema';
import type { Source, SourceHealth } from '../../../src/core/source';
import { AdapterUnavailableError } from '../../../src/core/source';
import type { ConnectionEvent, ProcessInfo } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import { BpftraceProcess, findExecutable, realEbpfDeps } from '../ebpf/read';
import { ProcfsReader } from '../procfs/read';
import { mapsTlsLibrary, wireEvent } from './event';
import { parseWireLine } from './parse';
import { renderWireProgram, WIRE_FORMAT_VERSION } from './program';
import { findLibc, findLibssl, mapsOf, realLibraryDeps } from './read';
import { DEFAULT_TRACKER, type WireConnection, WireTracker } from './tracker';

export type WireSettings = Config['wireInspection'];

/** The ports wire.bt watches: pub/sub, web broker and extra ports; null (all) with allPorts. */
export function wirePorts(config: Pick<Config, 'protocolPortList' | 'webBrokerPorts' | 'wireInspection'>): number[] | null {
  if (config.wireInspection.allPorts) return null;
  const ports = new Set([...Object.values(config.protocolPortList).flat(), ...config.webBrokerPorts, ...config.wireInspection.extraPorts]);
  return [...ports].sort((a, b) => a - b);
}

export interface WireSourceOptions {
  settings: WireSettings;
  ports: number[] | null;
  bpftracePath?: string | null;
  procRoot?: string;
  /** Completed after this long even without enough writes (default 2 s). */
  judgeAfterMs?: number;
  now?: () => number;
}

interface Pending { proc: Promise<ProcessInfo | null>; maps: Promise<string | undefined> }

export class WireSource implements Source {
  readonly name = 'wire';
  readonly warn = new WarningCollector();
  readonly stats = { lines: 0, malformed: 0, lost: 0, emitted: 0, probes: 0, libssl: 0 };
  libraries: { libssl: string[]; libc: string | null } = { libssl: [], libc: null };
  private bpf: BpftraceProcess | null = null;
  private tracker: WireTracker;
  private timer: NodeJS.Timeout | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly reader: ProcfsReader;
  private emit: (e: ConnectionEvent) => void = () => {};
  private closing = false;
  private bpfDied = false;
  private lastError: string | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly o: WireSourceOptions) {
    this.tracker = new WireTracker({ ...DEFAULT_TRACKER, maxWrites: o.settings.captureWrites, judgeAfterMs: o.judgeAfterMs ?? DEFAULT_TRACKER.judgeAfterMs });
    this.reader = new ProcfsReader({ procRoot: o.procRoot ?? '/proc', isCandidate: () => true });
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** Starts bpftrace; resolves when every probe is attached (the R line), rejects with bpftrace's reason. */
  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    const s = this.o.settings;
    if (!s.enabled || (!s.plaintext && !s.tls)) throw new AdapterUnavailableError('wire', 'wireInspection is switched off in config');
    this.emit = emit;
    const bpftrace = this.o.bpftracePath ?? (await findExecutable('bpftrace', realEbpfDeps));
    if (!bpftrace) throw new AdapterUnavailableError('wire', 'bpftrace not found (install the bpftrace package)');
    const procRoot = this.o.procRoot ?? '/proc';
    this.libraries = {
      libssl: s.tls ? await findLibssl(realLibraryDeps, procRoot) : [],
      libc: s.hostnames ? await findLibc(realLibraryDeps) : null,
    };
    this.stats.libssl = this.libraries.libssl.length;
    if (s.tls && this.libraries.libssl.length === 0) this.warn.add('wire-no-libssl', 'no libssl found to probe: TLS connections are not inspected');
    // From the package folder, or the release binary's embedded assets.
    const program = renderWireProgram({
      program: packageFileText('platform/linux/wire/wire.bt'),
      ssl: packageFileText('platform/linux/wire/ssl-probes.bt'),
      gai: packageFileText('platform/linux/wire/gai-probes.bt'),
    }, { ports: this.o.ports, captureWrites: s.captureWrites, captureBytes: s.captureBytes, libssl: this.libraries.libssl, libc: this.libraries.libc });
    const errors: string[] = [];
    await new Promise<void>((resolve, reject) => {
      this.bpf = new BpftraceProcess(realEbpfDeps, bpftrace, program, {
        stdoutLine: (line) => { if (this.onLine(line)) resolve(); },
        stderrLine: (line) => { if (/ERROR/.test(line) && !/RLIMIT_MEMLOCK/.test(line)) errors.push(line.trim()); },
        closed: (code) => {
          reject(new AdapterUnavailableError('wire', `bpftrace exited (${code}) before its probes were attached: ${errors.slice(0, 3).join('; ') || 'no message'}`));
          if (!this.closing) {
            // Not restarted: the connect capture goes on; wire facts stop until the agent restarts. Said once.
            this.bpfDied = true;
            this.lastError = `wire.bt's bpftrace exited with ${code}: ${errors.slice(0, 1).join('') || 'no message'}`;
            this.warn.add('wire-bpftrace-exit', this.lastError);
          }
        },
      });
    });
    this.timer = setInterval(() => this.complete(this.tracker.expire(this.now())), 250);
    this.timer.unref();
  }

  /** Handles one stdout line; true for the ready line. */
  private onLine(line: string): boolean {
    this.stats.lines++;
    const rec = parseWireLine(line);
    if (rec.kind === 'malformed') { this.stats.malformed++; this.warn.add('wire-malformed-line', `malformed wire.bt line: ${rec.reason}`); return false; }
    if (rec.kind === 'lost') { this.stats.lost += rec.count; this.warn.add('wire-lost-events', 'bpftrace lost events (perf buffer full)'); return false; }
    if (rec.kind === 'attached') { this.stats.probes = rec.probes; return false; }
    if (rec.kind === 'ready') {
      if (rec.version !== WIRE_FORMAT_VERSION) this.warn.add('wire-format', `wire.bt output format ${rec.version}, expected ${WIRE_FORMAT_VERSION}`);
      return true;
    }
    if (rec.kind === 'connect') {
      const key = `${rec.pid}|${rec.fd}`;
      // Read the process now, while the pid is certainly this process.
      this.pending.set(key, {
        proc: this.reader.readProcess(rec.pid, this.warn).then((p) => (p ? stripTicks(p) : null), () => null),
        maps: mapsOf(rec.pid, realLibraryDeps, this.o.procRoot),
      });
    }
    this.complete(this.tracker.onRecord(rec, this.now()));
    return false;
  }

  private complete(done: WireConnection[]): void {
    for (const conn of done) {
      const key = `${conn.pid}|${conn.fd}`;
      const pending = this.pending.get(key);
      this.pending.delete(key);
      if (conn.plain.length + conn.tls.length === 0) continue; // nothing to say: the connect sources report it
      const time = new Date(conn.connectedAtMs).toISOString();
      const job = (async () => {
        const [proc, maps] = pending ? await Promise.all([pending.proc, pending.maps]) : [null, undefined];
        const event = wireEvent(conn, {
          time, tlsProbes: this.o.settings.tls, tlsLibraryMapped: maps === undefined ? undefined : mapsTlsLibrary(maps),
          ...(proc ? { process: proc } : {}),
        });
        if (!this.closing || this.bpf) { this.stats.emitted++; this.emit(event); }
      })();
      this.inFlight.add(job);
      void job.finally(() => this.inFlight.delete(job));
    }
  }

  /** Partial failures since start, for the daemon's status (lost perf events, malformed lines, a dead bpftrace). */
  health(): SourceHealth {
    return { eventsLost: this.stats.lost, pollErrors: this.bpfDied ? 1 : 0, lastError: this.lastError, warnings: this.warn.list() };
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closing = true;
    await this.bpf?.stop();
    this.complete(this.tracker.drain());
    await Promise.all([...this.inFlight]);
    this.bpf = null;
    this.emit = () => {};
  }
}

function stripTicks(p: ProcessInfo & { startTicks: number }): ProcessInfo {
  const { startTicks: _ticks, ...info } = p;
  return info;
}
