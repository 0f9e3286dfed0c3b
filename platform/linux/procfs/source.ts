import { PollingSource } from '../../../src/core/poller';
import type { SourceHooks } from '../../../src/core/source';
import type { ConnectionEvent, Snapshot } from '../../../src/core/types';
import { connectionKey, type ProcfsDeps, type ProcfsOptions, ProcfsReader, realProcfsDepsWithNativeWalk } from './read';

/** The connection's identity (see connectionKey). */
export function socketKey(e: ConnectionEvent): string {
  return connectionKey(e.netns, e.transport, e.source, e.destination);
}

/**
 * procfs as a Source: snapshot() for one-shot scans; start() polls every intervalMs and emits each
 * socket once per lifetime (a socket is forgotten when it is no longer in the table). Sockets that
 * opts.reported() names were reported by another source (eBPF before it stopped) and are not.
 */
export class ProcfsSource extends PollingSource {
  readonly name = 'procfs';
  private readonly reader: ProcfsReader;

  constructor(private readonly opts: ProcfsOptions, deps: ProcfsDeps = realProcfsDepsWithNativeWalk(), intervalMs = 1000, hooks: SourceHooks = {}) {
    super(intervalMs, hooks);
    this.reader = new ProcfsReader(opts, deps);
  }

  /**
   * A candidate socket that has an inode but no owner yet may belong to a process that started
   * between the pid listing and the table read: worth one more poll before it goes out ownerless.
   */
  private worthRetry(e: ConnectionEvent): boolean {
    return e.process === undefined && (e.inode ?? 0) !== 0 && this.opts.isCandidate(e.destination.ip, e.destination.port);
  }

  snapshot(): Promise<Snapshot> {
    return this.reader.snapshot();
  }

  async start(emit: (e: ConnectionEvent) => void): Promise<void> {
    let seen = new Set<string>();
    /** Unowned candidates held back for one retry, by key. */
    let held = new Map<string, ConnectionEvent>();
    await this.startPolling(async (closed) => {
      // Connections reported before are not attributed again: only new ones cost an fd walk.
      const known = (key: string) => seen.has(key) || (this.opts.reported?.(key) ?? false);
      const snap = await this.reader.snapshot(known);
      if (closed()) return;
      this.tally.addAll(snap.warnings);
      this.hooks.onSnapshot?.(snap);
      const now = new Set<string>();
      const holdNext = new Map<string, ConnectionEvent>();
      for (const e of snap.connections) {
        const key = socketKey(e);
        if (known(key)) {
          now.add(key);
        } else if (!held.has(key) && this.worthRetry(e)) {
          holdNext.set(key, e);
        } else {
          now.add(key);
          emit(e);
        }
        held.delete(key);
      }
      // Held ones that are gone now: they did happen, so they go out without an owner.
      for (const e of held.values()) emit(e);
      held = holdNext;
      seen = now;
    });
  }
}
