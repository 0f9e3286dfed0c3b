import { Poller, pollingHealth } from '../../../src/core/poller';
import type { Source, SourceHealth, SourceHooks } from '../../../src/core/source';
import type { ConnectionEvent, Snapshot } from '../../../src/core/types';
import { WarningTally } from '../../../src/core/warnings';
import { type LsofDeps, type LsofOptions, LsofReader } from './read';

/** Identity of one socket for "report once per lifetime": its owner, device (inode / control block) and 4-tuple. */
export function lsofSocketKey(e: ConnectionEvent): string {
  return [e.process?.pid, e.inode, e.transport, e.source.ip, e.source.port, e.destination.ip, e.destination.port].join('|');
}

/**
 * lsof as a Source: snapshot() for one-shot scans; start() polls every intervalMs and emits each
 * socket once per lifetime (a socket is forgotten when lsof no longer lists it). A failed poll is
 * skipped, not fatal: the next one tries again.
 */
export class LsofSource implements Source {
  readonly name = 'lsof';
  private readonly reader: LsofReader;
  private poller: Poller | null = null;
  /** Warnings of the polls since start(), by code (snapshot() callers read their own). */
  private readonly tally = new WarningTally();

  constructor(opts: LsofOptions, deps: LsofDeps, private readonly intervalMs = 5000, private readonly hooks: SourceHooks = {}) {
    this.reader = new LsofReader(opts, deps);
  }

  snapshot(): Promise<Snapshot> {
    return this.reader.snapshot();
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    let seen = new Set<string>();
    const poller = new Poller(async () => {
      const snap = await this.reader.snapshot();
      if (poller.closed) return;
      this.tally.addAll(snap.warnings);
      this.hooks.onSnapshot?.(snap);
      const now = new Set<string>();
      for (const e of snap.connections) {
        const key = lsofSocketKey(e);
        now.add(key);
        if (!seen.has(key)) emit(e);
      }
      seen = now;
    }, this.intervalMs, { name: this.name, ...(this.hooks.log ? { log: this.hooks.log } : {}) });
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
