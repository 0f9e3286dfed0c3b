import type { Source } from '../../../src/core/source';
import type { ConnectionEvent, Snapshot } from '../../../src/core/types';
import { connectionKey, type ProcfsDeps, type ProcfsOptions, ProcfsReader, realProcfsDeps } from './read';

/** The connection's identity (see connectionKey). */
export function socketKey(e: ConnectionEvent): string {
  return connectionKey(e.netns, e.transport, e.source, e.destination);
}

/**
 * procfs as a Source: snapshot() for one-shot scans; start() polls every intervalMs and emits each
 * socket once per lifetime (a socket is forgotten when it is no longer in the table).
 */
export class ProcfsSource implements Source {
  readonly name = 'procfs';
  private readonly reader: ProcfsReader;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;

  constructor(opts: ProcfsOptions, deps: ProcfsDeps = realProcfsDeps, private readonly intervalMs = 1000, private readonly onSnapshot?: (s: Snapshot) => void) {
    this.reader = new ProcfsReader(opts, deps);
  }

  snapshot(): Promise<Snapshot> {
    return this.reader.snapshot();
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    let seen = new Set<string>();
    const poll = async () => {
      // Connections reported before are not attributed again: only new ones cost an fd walk.
      const snap = await this.reader.snapshot((key) => seen.has(key));
      if (this.closed) return;
      this.onSnapshot?.(snap);
      const now = new Set<string>();
      for (const e of snap.connections) {
        const key = socketKey(e);
        now.add(key);
        if (!seen.has(key)) emit(e);
      }
      seen = now;
    };
    const tick = () => {
      this.polling = poll().catch(() => undefined).finally(() => {
        this.polling = null;
        if (!this.closed) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    await poll();
    if (!this.closed) this.timer = setTimeout(tick, this.intervalMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }
}
