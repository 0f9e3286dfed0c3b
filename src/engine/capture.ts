import { type AdapterContext, type CapturePlan, createSource, planCapture, socketKey, wireInspection } from '../../platform';
import { isCandidate, isPubSubPort, isWatchedPort, watchedPorts } from '../analyzer/judge';
import type { Rules } from '../analyzer/rules';
import type { Config } from '../config/schema';
import type { Logger } from '../core/logger';
import { AdapterUnavailableError, addHealth, emptyHealth, type Source, type SourceHealth } from '../core/source';
import type { ConnectionEvent } from '../core/types';
import { WireJoin } from './wire-join';

/** How long a connect event waits for its wire event: the wire source judges 2 s after connect. */
const WIRE_HOLD_MS = 3000;

/** Connections the streaming source reported that a stand-in poller must not report again (bounded, oldest dropped first). */
const MAX_REPORTED_KEYS = 100_000;

export interface CaptureStatus {
  /** The source delivering events now. */
  active: string;
  /** Why the preferred source is not the active one, when it is not. */
  fallbacks: string[];
}

export interface CaptureDeps {
  /** Builds an adapter by name: platform/index.ts's createSource, or a test's in-memory sources. */
  createSource?(name: string, ctx: AdapterContext): Source;
  platform?: NodeJS.Platform;
}

/** One line from any error. */
const why = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
/** How a streaming adapter is named in log lines (eBPF, ETW). */
const title = (adapter: string): string => (adapter === 'ebpf' ? 'eBPF' : adapter.toUpperCase());
/** The reason alone, when the error already names the adapter. */
const reasonOf = (err: unknown): string => (err instanceof AdapterUnavailableError ? err.reason.replace(/\s+/g, ' ').trim() : why(err));

/**
 * The daemon's capture, chosen by the one `adapter` setting through the platform dispatcher
 * (planCapture): a streaming adapter (eBPF) when the plan has one and it starts, else the polling
 * adapter. The first start says in one line which source runs and why any preferred one does not.
 * While a started streaming source is down (bpftrace died and is being restarted) the polling
 * source fills in. start() fails with one line (AdapterUnavailableError) when nothing can run.
 */
export class Capture implements Source {
  readonly status: CaptureStatus = { active: 'none', fallbacks: [] };
  private sources: Source[] = [];
  private emit: ((e: ConnectionEvent) => void) | null = null;
  private poller: Source | null = null;
  /** Health of the sub-sources already closed (a poller that stood in while eBPF was down). */
  private retired: SourceHealth = emptyHealth();
  /** True while a started streaming source is down and polling stands in. */
  private streamDown = false;
  private plan: CapturePlan | null = null;
  /** A stand-in poller being closed because the stream is back: close() waits for it. */
  private retiring: Promise<void> = Promise.resolve();
  /** Keys of the connections the streaming source reported, so a stand-in poller starts from them. */
  private readonly reported = new Set<string>();

  constructor(private readonly config: Config, private readonly rules: Rules, private readonly log: Logger, private readonly deps: CaptureDeps = {}) {}

  get name(): string {
    return this.status.active;
  }

  private context(onStatus?: AdapterContext['onStatus']): AdapterContext {
    return {
      reported: (key) => this.reported.has(key),
      config: this.config,
      isCandidate: (ip, port) => isCandidate(ip, port, this.rules),
      isPubSubPort: (port) => isPubSubPort(port, this.rules),
      isWatchedPort: (port) => isWatchedPort(port, this.rules),
      watchedPorts: watchedPorts(this.rules),
      log: this.log,
      ...(this.deps.platform ? { platform: this.deps.platform } : {}),
      ...(onStatus ? { onStatus } : {}),
    };
  }

  private build(name: string, onStatus?: AdapterContext['onStatus']): Source {
    return (this.deps.createSource ?? createSource)(name, this.context(onStatus));
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    await this.startWire(emit);
    const out = (e: ConnectionEvent): void => { if (this.join) this.join.connect(e, Date.now()); else emit(e); };
    this.emit = out;
    const plan = planCapture(this.config.adapter, this.deps.platform ?? process.platform);
    this.plan = plan;
    const every = `every ${this.config.pollInterval / 1000}s`;
    let streamFailure: string | null = null;
    if (plan.stream) {
      const stream = plan.stream;
      let source: Source | null = null;
      try {
        source = this.build(stream, (up, reason) => this.streamStatus(stream, up, reason));
        await source.start((e) => {
          this.reported.add(socketKey(e));
          if (this.reported.size > MAX_REPORTED_KEYS) this.reported.delete(this.reported.values().next().value as string);
          out(e);
        });
        this.sources.push(source);
        this.status.active = source.name;
        this.log.info(`capturing with ${title(stream)}${stream === 'ebpf' ? ' (bpftrace on sock:inet_sock_set_state)' : ''}; fallback: ${plan.poll} polling ${every} if it stops`);
        return;
      } catch (err) {
        streamFailure = reasonOf(err);
        await source?.close().catch(() => undefined);
      }
    }
    try {
      await this.startPoller(streamFailure === null);
    } catch (err) {
      if (streamFailure === null) throw err instanceof AdapterUnavailableError ? err : new AdapterUnavailableError(plan.poll, why(err));
      throw new AdapterUnavailableError(plan.stream as string, `${streamFailure}; and its fallback, ${plan.poll}: ${reasonOf(err)}`);
    }
    if (plan.stream && streamFailure !== null) {
      // Said once the fallback runs: a fallback that cannot start either is one error line, not a warning and then a failure.
      this.status.fallbacks.unshift(`${plan.stream}: ${streamFailure}`);
      this.log.warn(`${title(plan.stream)} capture unavailable (${streamFailure}); falling back to ${plan.poll} polling ${every} - connections shorter than that may be missed`);
    }
  }

  private join: WireJoin | null = null;
  private joinTimer: NodeJS.Timeout | null = null;

  /**
   * Wire inspection (Linux, wireInspection.enabled): a second bpftrace program whose events are
   * joined to the connect sources' events of the same socket (one socket, one event). Unavailable
   * is said once and the agent carries on judging by port and command line.
   */
  private async startWire(emit: (e: ConnectionEvent) => void): Promise<void> {
    const settings = this.config.wireInspection;
    if (!settings.enabled || (this.deps.platform ?? process.platform) !== 'linux') return;
    const { WireSource, wirePorts } = wireInspection();
    const ports = wirePorts(this.config);
    const watched = ports === null ? null : new Set(ports);
    const join = new WireJoin(emit, WIRE_HOLD_MS, (port) => watched === null || watched.has(port));
    const wire = new WireSource({ settings, ports, bpftracePath: this.config.bpftracePath });
    try {
      await wire.start((e) => join.wire(e, Date.now()));
    } catch (err) {
      const text = reasonOf(err);
      this.status.fallbacks.push(`wire: ${text}`);
      this.log.warn(`wire inspection unavailable (${text}); connections are judged by port and command line only`);
      return;
    }
    this.join = join;
    this.sources.push(wire);
    this.joinTimer = setInterval(() => join.tick(Date.now()), 250);
    this.joinTimer.unref();
    this.log.info(`wire inspection on: first ${settings.captureWrites} writes x ${settings.captureBytes} bytes per connection to ${ports === null ? 'any port' : `${ports.length} ports`}; TLS plaintext ${settings.tls ? `through ${wire.libraries.libssl.length} libssl file(s)` : 'off'}; host names ${settings.hostnames && wire.libraries.libc ? 'on' : 'off'}`);
  }

  /** Starts the polling adapter (at start, or while the stream is down); `announce`: log which runs. */
  private async startPoller(announce = false): Promise<void> {
    if (this.poller || !this.emit || !this.plan) return;
    const poller = this.build(this.plan.poll);
    this.poller = poller;
    try {
      await poller.start(this.emit);
    } catch (err) {
      this.poller = null;
      await poller.close().catch(() => undefined);
      throw err;
    }
    this.sources.push(poller);
    if (this.status.active === 'none') this.status.active = poller.name;
    if (announce) this.log.info(`capturing with ${poller.name} polling every ${this.config.pollInterval / 1000}s`);
  }

  /** Called by the streaming source when it dies (up=false) or is back (up=true). */
  private streamStatus(stream: string, up: boolean, reason?: string): void {
    const poll = this.plan?.poll ?? 'polling';
    if (!up) {
      if (this.streamDown) return;
      this.streamDown = true;
      const text = reason ?? 'the tracer exited';
      this.log.warn(`${title(stream)} capture stopped (${text}); polling ${poll} until it is back`);
      this.status.fallbacks.push(`${stream} down: ${text}`);
      this.startPoller().catch((err: unknown) => this.log.error(`${poll} polling failed to start: ${why(err)}`));
      return;
    }
    if (!this.streamDown) return; // the first "up" of a normal start
    this.streamDown = false;
    this.log.info(`${title(stream)} capture is back; ${poll} polling stops`);
    const poller = this.poller;
    this.poller = null;
    if (poller) {
      this.sources = this.sources.filter((s) => s !== poller);
      const closing = poller.close()
        .catch((err: unknown) => this.log.warn(`${poll} polling did not close cleanly: ${why(err)}`))
        .then(() => { this.retired = addHealth(this.retired, poller.health?.() ?? emptyHealth()); });
      this.retiring = this.retiring.then(() => closing);
    }
  }

  /** What went partly wrong in every source this capture ran, since its start. */
  health(): SourceHealth {
    return this.sources.reduce((sum, s) => addHealth(sum, s.health?.() ?? emptyHealth()), this.retired);
  }

  async close(): Promise<void> {
    if (this.joinTimer) clearInterval(this.joinTimer);
    this.joinTimer = null;
    const sources = this.sources;
    await Promise.all(sources.map((s) => s.close()));
    this.join?.flush(); // held connect events go out before close resolves
    this.join = null;
    await this.retiring;
    this.retired = sources.reduce((sum, s) => addHealth(sum, s.health?.() ?? emptyHealth()), this.retired);
    this.sources = [];
    this.poller = null;
  }
}
