import { emitNew, PollingSource } from '../../../src/core/poller';
import type { SourceHooks } from '../../../src/core/source';
import type { ConnectionEvent, Snapshot } from '../../../src/core/types';
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
export class LsofSource extends PollingSource {
  readonly name = 'lsof';
  private readonly reader: LsofReader;

  constructor(opts: LsofOptions, deps: LsofDeps, intervalMs = 5000, hooks: SourceHooks = {}) {
    super(intervalMs, hooks);
    this.reader = new LsofReader(opts, deps);
  }

  snapshot(): Promise<Snapshot> {
    return this.reader.snapshot();
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    let seen = new Set<string>();
    await this.startPolling(async (closed) => {
      const snap = await this.reader.snapshot();
      if (closed()) return;
      this.tally.addAll(snap.warnings);
      this.hooks.onSnapshot?.(snap);
      seen = emitNew(snap.connections, seen, lsofSocketKey, emit);
    });
  }
}
