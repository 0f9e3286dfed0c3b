import type { Logger } from './logger';
import type { ConnectionEvent, Snapshot, Warning } from './types';

/**
 * What a running Source reports about its own partial failures, for the daemon's counters, its
 * `status` and its log. Every number counts since the source's start() and never goes down; the
 * daemon adds up the health of the sources it ran (a reload or a fallback replaces them).
 */
export interface SourceHealth {
  /** Events the source knows it lost (eBPF: perf ring-buffer overflow, "Lost N events"). */
  eventsLost: number;
  /** Polls (or tracer restarts) that failed; the source tries again, so capture goes on. */
  pollErrors: number;
  /** The last such failure, in one line; null while none happened. */
  lastError: string | null;
  /** Partial failures (EACCES, a vanished process, a malformed line), one entry per code: total count, latest message. */
  warnings: Warning[];
}

/**
 * Produces connection events. close() is called once; no events are emitted after it resolves.
 * A one-shot scan calls snapshot(); the daemon calls start(), and reads health() when present.
 */
export interface Source {
  name: string;
  start(emit: (e: ConnectionEvent) => void): Promise<void>;
  snapshot?(): Promise<Snapshot>;
  /** Counters of what went partly wrong since start(); cheap (the daemon reads it every few seconds). */
  health?(): SourceHealth;
  close(): Promise<void>;
}

/** Optional hooks of a polling source: where poll-failure episodes are logged, and each snapshot taken. */
export interface SourceHooks {
  log?: Pick<Logger, 'warn' | 'info'>;
  onSnapshot?(s: Snapshot): void;
}

/** Health of a source that has not reported anything. */
export function emptyHealth(): SourceHealth {
  return { eventsLost: 0, pollErrors: 0, lastError: null, warnings: [] };
}

/** The sum of two healths (the daemon adds up the sources it ran): counts add, the later message wins. */
export function addHealth(a: SourceHealth, b: SourceHealth): SourceHealth {
  const byCode = new Map<string, Warning>();
  for (const w of [...a.warnings, ...b.warnings]) {
    const e = byCode.get(w.code);
    if (e) {
      e.count += w.count;
      e.message = w.message;
    } else {
      byCode.set(w.code, { ...w });
    }
  }
  return {
    eventsLost: a.eventsLost + b.eventsLost,
    pollErrors: a.pollErrors + b.pollErrors,
    lastError: b.lastError ?? a.lastError,
    warnings: [...byCode.values()],
  };
}

/** Thrown by an adapter that cannot run on this host; the message is one clear line for the user. */
export class AdapterUnavailableError extends Error {
  constructor(public readonly adapter: string, public readonly reason: string) {
    super(`${adapter} adapter unavailable: ${reason}`);
    this.name = 'AdapterUnavailableError';
  }
}
