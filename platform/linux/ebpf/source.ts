import fs from 'node:fs';
import os from 'node:os';
import { packageFileText } from '../../../src/config/embedded';
import { AdapterUnavailableError, type Source, type SourceHealth } from '../../../src/core/source';
import type { ConnectionEvent, Warning } from '../../../src/core/types';
import { WarningCollector } from '../../../src/core/warnings';
import { type ConnectParts, ConnectAttributor, type EbpfProcessInfo } from './attribute';
import { Episodes } from './episodes';
import { type BpftraceRecord, classifyStderr, type ConnectRecord, connectEvent, decodeArgv, parseBpftraceLine } from './parse';
import { SourcePortJoin } from './ports';
import { PROGRAM_FORMAT_VERSION, renderProgram, validatePorts } from './program';
import { BpftraceProcess, DEFAULT_SEARCH_DIRS, ensureTracefs, findExecutable, type LocateOptions, probe, type ProbeResult, type EbpfDeps, realEbpfDeps } from './read';

export { tracedPorts } from './program';
export type { EbpfProcessInfo } from './attribute';

/** Lifecycle news for the daemon: while the tracer is down it should poll procfs instead. */
export type EbpfStatus =
  | { state: 'up'; pid: number; restarts: number; tracefs: 'present' | 'mounted' }
  | { state: 'down'; reason: string; restarts: number; restartInMs: number }
  | { state: 'lost-events'; count: number; total: number };

/** A new episode of load or loss starts after this long without one. */
const EPISODE_QUIET_MS = 60_000;
/** Loopback connects per second (counted in the kernel) that make a flood worth a log line. */
const LOOPBACK_FLOOD_PER_S = 50;
/** P/A lines waiting for their C line, at most (they come right before it; more means lost C lines). */
const MAX_PENDING_PARTS = 1024;

export interface EbpfOptions extends LocateOptions {
  /** Destination TCP ports traced (filtered in the kernel); tracedPorts(config) gives the configured set. */
  ports: number[];
  procRoot?: string;
  etcRoot?: string;
  /** The analyzer's pre-filter; connects it rejects are not attributed to a process. */
  isCandidate?(ip: string, port: number): boolean;
  /** Non-candidate connects to these ports are still emitted, unattributed, so the analyzer counts them. */
  isPubSubPort?(port: number): boolean;
  onStatus?(status: EbpfStatus): void;
  /** One line per episode of lost events, load shedding or a loopback flood. */
  log?: { warn(message: string): void };
  /** Loopback connects are counted in the kernel instead of reported (default true: they are never judged). */
  dropLoopback?: boolean;
  /** Connects resolved against /proc at once, at most; beyond it they are reported from kernel facts only. */
  maxConcurrentResolves?: number;
  /** How long a connect waits for its source port (the S line) before it is emitted with port 0. */
  sourcePortWaitMs?: number;
  /** How long bpftrace may take to compile and attach. */
  startTimeoutMs?: number;
  /** Restart delays after bpftrace dies: initialMs doubling up to maxMs; reset after stableMs up. */
  backoff?: { initialMs?: number; maxMs?: number; stableMs?: number };
  /** Perf ring-buffer pages per CPU (BPFTRACE_PERF_RB_PAGES); more means fewer lost events under bursts. */
  perfRbPages?: number;
  /** The program template; default connect.bt next to this file in the package. */
  programPath?: string;
}

interface Run {
  proc: BpftraceProcess;
  startedAt: number;
  ready: boolean;
  errors: string[];
}

/**
 * eBPF as a streaming Source: bpftrace reports every TCP connect to a broker port as it enters
 * SYN_SENT, with the connecting pid, so processes that exit milliseconds later are still seen.
 * start() resolves once the probes are attached; close() stops exactly the bpftrace child it
 * started and resolves after it exited and every pending event was emitted.
 */
export class EbpfSource implements Source {
  readonly name = 'ebpf';
  private readonly warn = new WarningCollector();
  private readonly attributor: ConnectAttributor;
  private readonly ports: SourcePortJoin;
  private readonly inflight = new Set<Promise<void>>();
  private readonly counts: Record<string, number> = { connects: 0, emitted: 0, filtered: 0, lostEvents: 0, loopbackDropped: 0, malformedLines: 0, restarts: 0, partsDropped: 0 };
  /** P and A lines by socket, until their C line. */
  private readonly parts = new Map<string, ConnectParts>();
  private readonly episodes = new Episodes(EPISODE_QUIET_MS);
  /** The loopback count of the running bpftrace when last seen (it restarts from 0 with each run). */
  private loopbackOfRun = 0;
  private loopbackAt = 0;
  private emit: ((e: ConnectionEvent) => void) | null = null;
  private run: Run | null = null;
  private program = '';
  private bpftrace = '';
  private restartTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private closing = false;
  private closed: Promise<void> | null = null;
  /** Why bpftrace last died or failed to restart. */
  private lastDeath: string | null = null;

  /** Can eBPF run here? One-line reason when not (the caller falls back to procfs). */
  static probe(opts: LocateOptions = {}, deps: EbpfDeps = realEbpfDeps): Promise<ProbeResult> {
    return probe(deps, opts);
  }

  constructor(private readonly opts: EbpfOptions, private readonly deps: EbpfDeps = realEbpfDeps) {
    validatePorts(opts.ports);
    this.attributor = new ConnectAttributor(
      { readFile: deps.readFile, readlink: deps.readlink, stat: deps.stat, now: () => this.now() }, this.warn,
      { procRoot: opts.procRoot ?? '/proc', ...(opts.etcRoot ? { etcRoot: opts.etcRoot } : {}), ...(opts.maxConcurrentResolves ? { maxConcurrent: opts.maxConcurrentResolves } : {}) },
    );
    this.ports = new SourcePortJoin(opts.sourcePortWaitMs ?? 250, () => this.now());
  }

  private now(): number {
    return this.deps.now().getTime();
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    if (this.emit) throw new Error('ebpf source already started');
    this.emit = emit;
    try {
      const found = this.opts.bpftrace ?? (await findExecutable('bpftrace', this.deps, this.opts.searchDirs ?? DEFAULT_SEARCH_DIRS));
      if (found === null) throw new Error('bpftrace not found in PATH or the usual sbin/bin folders');
      this.bpftrace = found;
      const template = this.opts.programPath !== undefined ? fs.readFileSync(this.opts.programPath, 'utf8') : packageFileText('platform/linux/ebpf/connect.bt');
      this.program = renderProgram(template, this.opts.ports, { dropLoopback: this.opts.dropLoopback !== false });
      await this.launch();
    } catch (err) {
      throw err instanceof AdapterUnavailableError ? err : new AdapterUnavailableError('ebpf', (err as Error).message);
    }
  }

  /** Spawns bpftrace and resolves when its BEGIN probe ran (every probe attached). */
  private async launch(): Promise<void> {
    const tracefs = await ensureTracefs(this.deps, this.opts.searchDirs ?? DEFAULT_SEARCH_DIRS);
    if (tracefs === 'mounted') this.warn.add('ebpf-tracefs-mounted', 'tracefs was not mounted; brokerwatch mounted it at /sys/kernel/tracing');
    if (this.closing) throw new Error('closed while starting');
    const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      const extraEnv: Record<string, string> = this.opts.perfRbPages ? { BPFTRACE_PERF_RB_PAGES: String(Math.trunc(this.opts.perfRbPages)) } : {};
      this.loopbackOfRun = 0;
      this.loopbackAt = this.now();
      const run: Run = { startedAt: this.now(), ready: false, errors: [], proc: null as unknown as BpftraceProcess };
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
        void run.proc.stop();
      };
      const timer = setTimeout(() => fail(new Error(`bpftrace did not attach its probes within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        run.ready = true;
        this.opts.onStatus?.({ state: 'up', pid: run.proc.pid as number, restarts: this.counts.restarts as number, tracefs });
        resolve();
      };
      run.proc = new BpftraceProcess(this.deps, this.bpftrace, this.program, {
        stdoutLine: (line) => this.onLine(parseBpftraceLine(line), onReady, fail),
        stderrLine: (line) => this.onStderr(line, run),
        closed: (code, signal) => {
          clearTimeout(timer);
          const why = run.errors[0] ?? (signal ? `bpftrace was killed by ${signal}` : `bpftrace exited with code ${code}`);
          if (!run.ready) reject(new Error(why));
          else this.onDied(run, why);
        },
      }, extraEnv);
      this.run = run;
    });
  }

  private onStderr(line: string, run: Run): void {
    const kind = classifyStderr(line);
    // "stdin:24-31: ERROR: tracepoint not found: ..." -> "bpftrace: tracepoint not found: ..."
    if (kind === 'error' && run.errors.length < 20) run.errors.push(`bpftrace: ${line.trim().replace(/^.*?\bERROR:\s*/, '')}`.slice(0, 300));
    else if (kind === 'warning') this.warn.add('ebpf-bpftrace-warning', line.trim().slice(0, 300));
    // 'memlock': bpftrace could not raise RLIMIT_MEMLOCK; harmless since Linux 5.11 (memcg accounting).
  }

  private onLine(rec: BpftraceRecord, onReady: () => void, fail: (e: Error) => void): void {
    switch (rec.kind) {
      case 'ready':
        if (rec.version === PROGRAM_FORMAT_VERSION) onReady();
        else fail(new Error(`connect.bt output format ${rec.version}, this brokerwatch reads ${PROGRAM_FORMAT_VERSION}`));
        return;
      case 'connect':
        this.onConnect(rec);
        return;
      case 'syn-left':
        this.ports.left(rec.sk, rec.sport, rec.dport);
        return;
      case 'path':
      case 'argv':
      case 'argv-more':
        this.onPart(rec);
        return;
      case 'loopback':
        this.onLoopbackCount(rec.total);
        return;
      case 'lost': {
        const total = (this.counts.lostEvents = (this.counts.lostEvents as number) + rec.count);
        this.warn.add('ebpf-lost-events', 'bpftrace lost events (perf buffer overflow under load); some connects may be missing - raise ebpfPerfBufferPages');
        if (this.episodes.starts('lost', this.now())) this.opts.log?.warn(`eBPF capture lost ${rec.count} events (perf buffer overflow; ${total} lost so far): some connects may be missing - raise ebpfPerfBufferPages`);
        this.opts.onStatus?.({ state: 'lost-events', count: rec.count, total });
        return;
      }
      case 'malformed':
        this.counts.malformedLines = (this.counts.malformedLines as number) + 1;
        this.warn.add('parse-malformed-line', `bpftrace output: ${rec.reason}`);
        return;
      default:
        return; // blank, banner, other JSON types
    }
  }

  /** P and A lines come right before their C line (one probe run on one CPU). */
  private onPart(rec: Extract<BpftraceRecord, { kind: 'path' | 'argv' | 'argv-more' }>): void {
    let parts = this.parts.get(rec.sk);
    // A P line after an A line starts the next connect on this socket address: the C line of the
    // previous one was lost, so its parts go (they must not be taken for the next one's).
    if (parts && rec.kind === 'path' && parts.argvWords) {
      this.parts.delete(rec.sk);
      this.counts.partsDropped = (this.counts.partsDropped as number) + 1;
      parts = undefined;
    }
    if (!parts) {
      if (this.parts.size >= MAX_PENDING_PARTS) {
        this.parts.delete(this.parts.keys().next().value as string);
        this.counts.partsDropped = (this.counts.partsDropped as number) + 1;
      }
      parts = { names: [], namesCut: false };
      this.parts.set(rec.sk, parts);
    }
    if (rec.kind === 'argv') {
      parts.argvWords = { length: rec.length, tail: rec.tail, words: rec.words };
    } else if (rec.kind === 'argv-more') {
      parts.argvWords?.words.push(...rec.words);
    } else {
      parts.names.push(rec.name);
      if (rec.cut) parts.namesCut = true;
    }
  }

  /** The kernel's running count of loopback connects it did not report; a high rate is a flood, said once per episode. */
  private onLoopbackCount(total: number): void {
    const delta = Math.max(0, total - this.loopbackOfRun);
    const now = this.now();
    const seconds = Math.max(1, (now - this.loopbackAt) / 1000);
    this.loopbackOfRun = total;
    this.loopbackAt = now;
    this.counts.loopbackDropped = (this.counts.loopbackDropped as number) + delta;
    if (delta / seconds < LOOPBACK_FLOOD_PER_S) return;
    this.counts.loopbackFloods = (this.counts.loopbackFloods ?? 0) + (this.episodes.starts('loopback', now) ? 1 : 0);
    this.warn.add('ebpf-loopback-flood', 'a flood of loopback connects to broker ports was counted in the kernel and not reported (loopback is never judged)');
    if (this.episodes.last('loopback') === now) this.opts.log?.warn(`loopback connect flood: ${Math.round(delta / seconds)} connects/s to broker ports on 127.0.0.0/8 or ::1, counted in the kernel and not reported (${this.counts.loopbackDropped} so far); capture goes on`);
  }

  private onConnect(rec: ConnectRecord): void {
    this.counts.connects = (this.counts.connects as number) + 1;
    const parts = this.parts.get(rec.sk) ?? { names: [], namesCut: false };
    this.parts.delete(rec.sk);
    if (parts.argvWords) parts.argv = decodeArgv(parts.argvWords.length, parts.argvWords.tail, parts.argvWords.words, os.endianness() === 'LE');
    const time = this.deps.now().toISOString();
    // Every connect takes its S line off the join, even one not reported: else a later connect
    // on a reused socket address could be given this one's source port.
    const sourcePort = this.ports.wait(rec.sk, rec.dport, rec.sport);
    let task: Promise<void>;
    if (this.opts.isCandidate && !this.opts.isCandidate(rec.daddr, rec.dport)) {
      this.counts.filtered = (this.counts.filtered as number) + 1;
      if (!this.opts.isPubSubPort?.(rec.dport)) return;
      task = sourcePort.then((port) => this.deliver(connectEvent(rec, { time, sourcePort: port }), null));
    } else {
      task = Promise.all([sourcePort, this.attributor.resolve(rec, parts)])
        .then(([port, proc]) => this.deliver(connectEvent(rec, { time, sourcePort: port, process: proc }), proc));
    }
    const tracked: Promise<void> = task
      .catch((err: unknown) => this.warn.add('ebpf-connect-failed', `handling a connect failed: ${(err as Error).message}`))
      .finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  /** Emits unless close() finished; proc null for a connect reported without its process. */
  private deliver(event: ConnectionEvent, proc: EbpfProcessInfo | null): void {
    if (!this.emit) return;
    if (proc !== null && this.attributor.counts.shed > (this.counts.shedLogged ?? 0) && this.episodes.starts('shed', this.now())) {
      this.counts.shedLogged = this.attributor.counts.shed;
      this.opts.log?.warn(`eBPF capture is shedding load: connects come faster than /proc can be read; ${this.attributor.counts.shed} reported from kernel facts only so far (no parent, command line as the kernel cut it)`);
    }
    this.counts.emitted = (this.counts.emitted as number) + 1;
    this.emit(event);
  }

  /** The next restart delay: initialMs doubling per consecutive failure, at most maxMs. */
  private nextDelay(): number {
    const b = { initialMs: 1000, maxMs: 60_000, ...this.opts.backoff };
    return Math.min(b.maxMs, b.initialMs * 2 ** this.failures++);
  }

  /** bpftrace died on its own: report, then restart with exponential backoff. */
  private onDied(run: Run, reason: string): void {
    if (this.closing || this.run !== run) return;
    if (this.now() - run.startedAt >= (this.opts.backoff?.stableMs ?? 60_000)) this.failures = 0; // it had been up a while
    const delay = this.nextDelay();
    this.counts.restarts = (this.counts.restarts as number) + 1;
    this.lastDeath = reason;
    this.warn.add('ebpf-tracer-died', `bpftrace stopped (${reason}); restarted with backoff`);
    this.opts.onStatus?.({ state: 'down', reason, restarts: this.counts.restarts as number, restartInMs: delay });
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closing) return;
      this.launch().catch((err: Error) => {
        if (this.closing) return;
        const next = this.nextDelay();
        this.lastDeath = err.message;
        this.opts.onStatus?.({ state: 'down', reason: err.message, restarts: this.counts.restarts as number, restartInMs: next });
        this.scheduleRestart(next);
      });
    }, delay);
  }

  /** Pid of the running bpftrace child, if any. */
  get tracerPid(): number | undefined {
    return this.run && !this.run.proc.exited ? this.run.proc.pid : undefined;
  }

  stats(): Record<string, number> {
    const { shedLogged: _logged, ...counts } = this.counts;
    return { ...counts, portsJoined: this.ports.joined, portsTimedOut: this.ports.timedOut, ...this.attributor.counts };
  }

  warnings(): Warning[] {
    return this.warn.list();
  }

  /** For the daemon's counters and status: lost events, tracer restarts (as poll errors) and warnings. */
  health(): SourceHealth {
    return { eventsLost: this.counts.lostEvents as number, pollErrors: this.counts.restarts as number, lastError: this.lastDeath, warnings: this.warn.list() };
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.restartTimer) clearTimeout(this.restartTimer);
      await this.run?.proc.stop(); // every line it wrote has been handled when this resolves
      this.ports.flush();
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      this.emit = null;
    })();
    return this.closed;
  }
}
