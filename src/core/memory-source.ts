import type { Logger } from './logger';
import { Poller, pollingHealth } from './poller';
import { AdapterUnavailableError, type Source, type SourceHealth } from './source';
import type { ConnectionEvent, Warning } from './types';
import { WarningTally } from './warnings';

/** What one poll of a MemorySource delivers: events, the warnings that came with them, lost events, or a failure. */
export interface MemoryBatch {
  events?: ConnectionEvent[];
  warnings?: Warning[];
  /** Events the source "lost" in this poll (as a perf ring overflow would). */
  lost?: number;
  /** This poll fails with this message (the Poller counts it and tries again). */
  error?: string;
}

export interface MemorySourceOptions {
  intervalMs?: number;
  /** start() fails with this one-line reason (AdapterUnavailableError), as an adapter that cannot run. */
  unavailable?: string;
  log?: Pick<Logger, 'warn' | 'info'>;
  /** Where life-cycle steps are also recorded as "<name> <step>" (shared by several sources: their order). */
  history?: string[];
}

/**
 * A polling Source over batches held in memory - recorded events played back one batch per poll,
 * through the same Poller as the procfs and lsof sources: for tests of the daemon and its capture
 * without root, and for feeding recorded events to the pipeline. push() adds batches while it runs.
 */
export class MemorySource implements Source {
  private readonly batches: MemoryBatch[];
  private readonly tally = new WarningTally();
  private poller: Poller | null = null;
  private lost = 0;
  /** Life-cycle steps in order ("start", "started", "close", "closed"), for tests of ordering. */
  readonly history: string[] = [];
  private step(what: string): void {
    this.history.push(what);
    this.opts.history?.push(`${this.name} ${what}`);
  }
  private waiters: { polls: number; resolve: () => void }[] = [];
  private polls = 0;

  constructor(readonly name: string, batches: MemoryBatch[] = [], private readonly opts: MemorySourceOptions = {}) {
    this.batches = [...batches];
  }

  push(...batches: MemoryBatch[]): void {
    this.batches.push(...batches);
  }

  /** Resolves once `count` more polls (successful or failed) have run. */
  afterPolls(count: number): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ polls: this.polls + count, resolve }));
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    this.step('start');
    if (this.opts.unavailable !== undefined) throw new AdapterUnavailableError(this.name, this.opts.unavailable);
    this.poller = new Poller(async () => {
      try {
        const batch = this.batches.shift();
        if (!batch) return;
        this.tally.addAll(batch.warnings ?? []);
        this.lost += batch.lost ?? 0;
        if (batch.error !== undefined) throw new Error(batch.error);
        for (const e of batch.events ?? []) emit(e);
      } finally {
        this.polls++;
        const due = this.waiters.filter((w) => this.polls >= w.polls);
        this.waiters = this.waiters.filter((w) => this.polls < w.polls);
        for (const w of due) w.resolve();
      }
    }, this.opts.intervalMs ?? 5, { name: this.name, ...(this.opts.log ? { log: this.opts.log } : {}) });
    await this.poller.start();
    this.step('started');
  }

  health(): SourceHealth {
    return { ...pollingHealth(this.poller, this.tally.list()), eventsLost: this.lost };
  }

  async close(): Promise<void> {
    this.step('close');
    await this.poller?.close();
    this.step('closed');
  }
}
