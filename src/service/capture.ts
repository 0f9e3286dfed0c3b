import { createSource } from '../../platform';
import { ProcfsSource } from '../../platform/linux/procfs/source';
import { isCandidate, isPubSubPort, isWatchedPort } from '../analyzer/judge';
import type { Rules } from '../analyzer/rules';
import type { Config } from '../config/schema';
import type { Source } from '../core/source';
import type { ConnectionEvent } from '../core/types';
import type { Logger } from './log';

export interface CaptureStatus {
  /** The source delivering events now. */
  active: string;
  /** Why the preferred source is not the active one, when it is not. */
  fallbacks: string[];
}

/** Polling source for the daemon: procfs on Linux, the configured/auto adapter elsewhere (iphlpapi on Windows). */
function pollingSource(config: Config, rules: Rules): Source {
  const filters = {
    isCandidate: (ip: string, port: number) => isCandidate(ip, port, rules),
    isPubSubPort: (port: number) => isPubSubPort(port, rules),
    isWatchedPort: (port: number) => isWatchedPort(port, rules),
  };
  if (process.platform === 'linux' && (config.adapter === 'auto' || config.adapter === 'procfs')) {
    return new ProcfsSource({ procRoot: config.procRoot, ...filters }, undefined, config.pollInterval);
  }
  return createSource(config.adapter, { config, ...filters });
}

interface Streaming {
  adapter: 'ebpf' | 'etw';
  title: string;
  label: string;
  poller: string;
  died: string;
}

const STREAMING: Record<'ebpf' | 'etw', Streaming> = {
  ebpf: { adapter: 'ebpf', title: 'eBPF', label: 'eBPF (bpftrace on sock:inet_sock_set_state)', poller: 'procfs', died: 'bpftrace exited' },
  etw: { adapter: 'etw', title: 'ETW', label: 'ETW (Microsoft-Windows-Kernel-Network, real time)', poller: 'iphlpapi', died: 'the trace session ended' },
};

/** The streaming source the config asks for on this platform (auto: eBPF on Linux, ETW on Windows). */
function streamingFor(config: Config, platform: NodeJS.Platform): Streaming | null {
  if (config.capture === 'ebpf' || config.capture === 'etw') return STREAMING[config.capture];
  if (config.capture !== 'auto') return null;
  if (platform === 'linux') return STREAMING.ebpf;
  if (platform === 'win32') return STREAMING.etw;
  return null;
}

/**
 * The daemon's capture: eBPF when asked for (or `auto` and it starts here), else polling. The first
 * start says in one line which source runs and why any preferred one does not. While a started eBPF
 * source is down (bpftrace died and is being restarted) the polling source fills in.
 */
export class Capture implements Source {
  readonly name = 'capture';
  readonly status: CaptureStatus = { active: 'none', fallbacks: [] };
  private sources: Source[] = [];
  private emit: ((e: ConnectionEvent) => void) | null = null;
  private poller: Source | null = null;

  constructor(private readonly config: Config, private readonly rules: Rules, private readonly log: Logger) {}

  private candidate = (ip: string, port: number) => isCandidate(ip, port, this.rules);
  private pubSubPort = (port: number) => isPubSubPort(port, this.rules);
  /** True while a started streaming source (eBPF, ETW) is down and polling stands in. */
  private streamDown = false;

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    this.emit = emit;
    const stream = streamingFor(this.config, process.platform);
    if (stream) {
      try {
        const source = createSource(stream.adapter, { config: this.config, isCandidate: this.candidate, isPubSubPort: this.pubSubPort, onStatus: (up: boolean, why?: string) => this.streamStatus(stream, up, why) });
        await source.start(emit);
        this.sources.push(source);
        this.status.active = stream.adapter;
        this.log.info(`capturing with ${stream.label}; fallback: ${stream.poller} polling every ${this.config.pollInterval / 1000}s if it stops`);
        return;
      } catch (err) {
        const why = (err as Error).message;
        this.status.fallbacks.push(`${stream.adapter}: ${why}`);
        this.log.warn(`${stream.title} capture unavailable (${why}); falling back to ${stream.poller} polling every ${this.config.pollInterval / 1000}s - connections shorter than that may be missed`);
      }
    }
    await this.startPoller();
  }

  private async startPoller(): Promise<void> {
    if (this.poller || !this.emit) return;
    const poller = pollingSource(this.config, this.rules);
    this.poller = poller;
    await poller.start(this.emit);
    this.sources.push(poller);
    if (this.status.active === 'none') {
      this.status.active = poller.name;
      if (!this.status.fallbacks.length) this.log.info(`capturing with ${poller.name} polling every ${this.config.pollInterval / 1000}s`);
    }
  }

  /** Called by the streaming source when it dies (up=false) or is back (up=true). */
  private streamStatus(stream: Streaming, up: boolean, why?: string): void {
    if (!up) {
      if (this.streamDown) return;
      this.streamDown = true;
      this.log.warn(`${stream.title} capture stopped (${why ?? stream.died}); polling ${stream.poller} until it is back`);
      this.status.fallbacks.push(`${stream.adapter} down: ${why ?? stream.died}`);
      this.startPoller().catch((err: Error) => this.log.error(`${stream.poller} polling failed to start: ${err.message}`));
      return;
    }
    if (!this.streamDown) return; // the first "up" of a normal start
    this.streamDown = false;
    this.log.info(`${stream.title} capture is back; ${stream.poller} polling stops`);
    const poller = this.poller;
    this.poller = null;
    if (poller) {
      this.sources = this.sources.filter((s) => s !== poller);
      poller.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.close()));
    this.sources = [];
    this.poller = null;
  }
}
