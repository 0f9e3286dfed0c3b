import { createSource } from '../../platform';
import { ProcfsSource } from '../../platform/linux/procfs/source';
import { isCandidate, isPubSubPort, isWatchedPort, watchedPorts } from '../analyzer/judge';
import type { Rules } from '../analyzer/rules';
import type { Config } from '../config/schema';
import type { Source } from '../core/source';
import type { ConnectionEvent } from '../core/types';
import type { Logger } from '../core/logger';

export interface CaptureStatus {
  /** The source delivering events now. */
  active: string;
  /** Why the preferred source is not the active one, when it is not. */
  fallbacks: string[];
}

/** Polling source for the daemon: procfs on Linux, the configured/auto adapter elsewhere. */
function pollingSource(config: Config, rules: Rules): Source {
  const filters = {
    isCandidate: (ip: string, port: number) => isCandidate(ip, port, rules),
    isPubSubPort: (port: number) => isPubSubPort(port, rules),
    isWatchedPort: (port: number) => isWatchedPort(port, rules),
    watchedPorts: watchedPorts(rules),
  };
  if (process.platform === 'linux' && (config.adapter === 'auto' || config.adapter === 'procfs')) {
    return new ProcfsSource({ procRoot: config.procRoot, ...filters }, undefined, config.pollInterval);
  }
  return createSource(config.adapter, { config, ...filters });
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
  /** True while a started eBPF source is down and polling stands in. */
  private ebpfDown = false;

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    this.emit = emit;
    const wantEbpf = this.config.capture === 'ebpf' || (this.config.capture === 'auto' && process.platform === 'linux');
    if (wantEbpf) {
      try {
        const ebpf = createSource('ebpf', { config: this.config, isCandidate: this.candidate, isPubSubPort: this.pubSubPort, onStatus: (up: boolean, why?: string) => this.ebpfStatus(up, why) });
        await ebpf.start(emit);
        this.sources.push(ebpf);
        this.status.active = 'ebpf';
        this.log.info(`capturing with eBPF (bpftrace on sock:inet_sock_set_state); fallback: procfs polling every ${this.config.pollInterval / 1000}s if bpftrace stops`);
        return;
      } catch (err) {
        const why = (err as Error).message;
        this.status.fallbacks.push(`ebpf: ${why}`);
        this.log.warn(`eBPF capture unavailable (${why}); falling back to procfs polling every ${this.config.pollInterval / 1000}s - connections shorter than that may be missed`);
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

  /** Called by the eBPF source when bpftrace dies (up=false) or is back (up=true). */
  private ebpfStatus(up: boolean, why?: string): void {
    if (!up) {
      if (this.ebpfDown) return;
      this.ebpfDown = true;
      this.log.warn(`eBPF capture stopped (${why ?? 'bpftrace exited'}); polling procfs until it is back`);
      this.status.fallbacks.push(`ebpf down: ${why ?? 'bpftrace exited'}`);
      this.startPoller().catch((err: Error) => this.log.error(`procfs polling failed to start: ${err.message}`));
      return;
    }
    if (!this.ebpfDown) return; // the first "up" of a normal start
    this.ebpfDown = false;
    this.log.info('eBPF capture is back; procfs polling stops');
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
