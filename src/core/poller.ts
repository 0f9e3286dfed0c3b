import type { Logger } from './logger';
import type { Source, SourceHealth, SourceHooks } from './source';
import type { ConnectionEvent, Warning } from './types';
import { WarningTally } from './warnings';

export interface PollerOptions {
  /** Names the source in log lines ("procfs"). */
  name?: string;
  /** Where failure episodes are told: one line when polls start failing, one when they work again. */
  log?: Pick<Logger, 'warn' | 'info'>;
  now?: () => number;
}

/** What the poller counted since start(). */
export interface PollerStats {
  /** Polls that completed. */
  polls: number;
  /** Polls that failed (the next one tried again). */
  errors: number;
  /** The last failure's message; null while none happened. */
  lastError: string | null;
  /** True while the latest poll failed. */
  failing: boolean;
}

/** One line of an error: a message with newlines would break the one-entry-per-line log. */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim().slice(0, 500) || 'unknown error';
}

/**
 * The timer loop of a polling Source: runs `poll` once at start(), then every intervalMs after the
 * previous poll finished (never two at once). A failed poll is counted, kept as lastError and
 * retried at the next tick: never fatal, never silent. The log gets one line when a failure
 * episode starts and one when polls work again (with the count), never one line per poll.
 * After close() resolves no poll runs and none is in flight.
 */
export class Poller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly counts: PollerStats = { polls: 0, errors: 0, lastError: null, failing: false };
  private episode = { errors: 0, since: 0 };

  constructor(private readonly poll: () => Promise<void>, private readonly intervalMs: number, private readonly opts: PollerOptions = {}) {}

  get closed(): boolean {
    return this.stopped;
  }

  stats(): PollerStats {
    return { ...this.counts };
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Runs the first poll (its error propagates: a source that cannot read at all should say so). */
  async start(): Promise<void> {
    await this.poll();
    this.counts.polls++;
    this.schedule();
  }

  /** One scheduled poll; resolves whatever happened. */
  private async tick(): Promise<void> {
    try {
      await this.poll();
    } catch (err) {
      this.failed(oneLine(err));
      return;
    }
    this.counts.polls++;
    if (this.counts.failing) this.recovered();
  }

  private failed(message: string): void {
    const name = this.opts.name ?? 'poll';
    this.counts.errors++;
    this.counts.lastError = message;
    if (!this.counts.failing) {
      this.counts.failing = true;
      this.episode = { errors: 0, since: this.now() };
      this.opts.log?.warn(`${name}: poll failed: ${message}; retrying every ${this.intervalMs} ms (one line again when polls work)`);
    }
    this.episode.errors++;
  }

  private recovered(): void {
    this.counts.failing = false;
    const seconds = Math.max(0, Math.round((this.now() - this.episode.since) / 1000));
    this.opts.log?.info(`${this.opts.name ?? 'poll'}: polls work again after ${this.episode.errors} failed over ${seconds} s (last error: ${this.counts.lastError})`);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = null;
        this.schedule();
      });
    }, this.intervalMs);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}

/** The health of a polling source: its poller's failures plus the warnings its snapshots carried. */
export function pollingHealth(poller: Poller | null, warnings: Warning[]): SourceHealth {
  const s = poller?.stats();
  return { eventsLost: 0, pollErrors: s?.errors ?? 0, lastError: s?.lastError ?? null, warnings };
}

/**
 * The shell every polling Source shares (procfs, lsof, iphlpapi, netstat): one Poller named after
 * the source, the warnings its polls carried, health() and close(). A subclass writes snapshot()
 * and start(); start() calls startPolling() with one poll, which checks `closed()` after its await
 * so that nothing is emitted after close() resolved.
 */
export abstract class PollingSource implements Source {
  abstract readonly name: string;
  private poller: Poller | null = null;
  /** Warnings of the polls since start(), by code (snapshot() callers read their own). */
  protected readonly tally = new WarningTally();

  protected constructor(protected readonly intervalMs: number, protected readonly hooks: SourceHooks) {}

  abstract start(emit: (e: ConnectionEvent) => void): Promise<void>;

  protected async startPolling(poll: (closed: () => boolean) => Promise<void>): Promise<void> {
    const poller: Poller = new Poller(() => poll(() => poller.closed), this.intervalMs, { name: this.name, ...(this.hooks.log ? { log: this.hooks.log } : {}) });
    this.poller = poller;
    await poller.start();
  }

  /** Failed polls and the warnings the polls carried (EACCES, vanished processes, malformed lines). */
  health(): SourceHealth {
    return pollingHealth(this.poller, this.tally.list());
  }

  async close(): Promise<void> {
    await this.poller?.close();
  }
}

/** Emits the connections whose key is not in `seen` and returns this poll's keys: each socket once per lifetime. */
export function emitNew(connections: readonly ConnectionEvent[], seen: ReadonlySet<string>, key: (e: ConnectionEvent) => string, emit: (e: ConnectionEvent) => void): Set<string> {
  const now = new Set<string>();
  for (const e of connections) {
    const k = key(e);
    now.add(k);
    if (!seen.has(k)) emit(e);
  }
  return now;
}
