import type { Warning } from './types';

/**
 * Collects partial-failure notes (a process vanished mid-walk, EACCES, a malformed line) so they are
 * counted and shown instead of swallowed. Identical code+message pairs are folded into one count.
 */
export class WarningCollector {
  private readonly byKey = new Map<string, Warning>();

  add(code: string, message: string): void {
    const key = `${code}\u0000${message}`;
    const existing = this.byKey.get(key);
    if (existing) existing.count += 1;
    else this.byKey.set(key, { code, message, count: 1 });
  }

  addAll(warnings: readonly Warning[]): void {
    for (const w of warnings) {
      for (let i = 0; i < w.count; i++) this.add(w.code, w.message);
    }
  }

  list(): Warning[] {
    return [...this.byKey.values()].map((w) => ({ ...w }));
  }

  get size(): number {
    return this.byKey.size;
  }
}

/**
 * Totals of warnings by code, for a long-running source: the count since start and the latest
 * message of each code. Memory is bounded: messages carry paths and pids, codes are a fixed set;
 * codes beyond maxCodes are counted under "other".
 */
export class WarningTally {
  private readonly byCode = new Map<string, Warning>();

  constructor(private readonly maxCodes = 64) {}

  addAll(warnings: readonly Warning[]): void {
    for (const w of warnings) this.add(w.code, w.message, w.count);
  }

  add(code: string, message: string, count = 1): void {
    if (count <= 0) return;
    const key = this.byCode.has(code) || this.byCode.size < this.maxCodes ? code : 'other';
    const existing = this.byCode.get(key);
    if (existing) {
      existing.count += count;
      existing.message = message;
    } else {
      this.byCode.set(key, { code: key, message, count });
    }
  }

  list(): Warning[] {
    return [...this.byCode.values()].map((w) => ({ ...w }));
  }
}

/** A logger-shaped sink for WarningLog (the agent's logger, or a test's). */
export interface WarnLine {
  warn(message: string): void;
}

/**
 * Logs warnings without flooding: the first of each code (per source) at once, then at most one
 * line per code every intervalMs summing up what came in between. Fed with increments (new counts
 * since the last call); flush() writes what is still pending (at stop).
 */
export class WarningLog {
  private readonly pending = new Map<string, { source: string; code: string; count: number; message: string; lastLogged: number }>();

  constructor(private readonly log: WarnLine, private readonly intervalMs = 600_000, private readonly now: () => number = Date.now) {}

  report(source: string, increments: readonly Warning[]): void {
    const now = this.now();
    for (const w of increments) {
      if (w.count <= 0) continue;
      const key = `${source}\u0000${w.code}`;
      const entry = this.pending.get(key);
      if (!entry) {
        this.pending.set(key, { source, code: w.code, count: 0, message: w.message, lastLogged: now });
        this.log.warn(`${source}: ${w.code}: ${w.message}${w.count > 1 ? ` (${w.count} times)` : ''} - repeats are summed up at most every ${Math.round(this.intervalMs / 1000)} s; totals in brokerwatch status`);
        continue;
      }
      entry.count += w.count;
      entry.message = w.message;
    }
    this.due(now, false);
  }

  private due(now: number, all: boolean): void {
    for (const e of this.pending.values()) {
      if (e.count === 0 || (!all && now - e.lastLogged < this.intervalMs)) continue;
      const seconds = Math.max(1, Math.round((now - e.lastLogged) / 1000));
      this.log.warn(`${e.source}: ${e.code}: ${e.count} more in the last ${seconds} s (latest: ${e.message})`);
      e.count = 0;
      e.lastLogged = now;
    }
  }

  /** Logs what is pending now, whatever the interval (on the way out). */
  flush(): void {
    this.due(this.now(), true);
  }
}

/**
 * What is new in `current` compared to `previous` (both totals by code, as WarningTally.list() or
 * a source's health().warnings give them): the count increments, with the latest message.
 */
export function warningIncrements(previous: readonly Warning[], current: readonly Warning[]): Warning[] {
  const before = new Map<string, number>();
  for (const w of previous) before.set(w.code, (before.get(w.code) ?? 0) + w.count);
  const now = new Map<string, Warning>();
  for (const w of current) {
    const e = now.get(w.code);
    if (e) {
      e.count += w.count;
      e.message = w.message;
    } else {
      now.set(w.code, { ...w });
    }
  }
  const out: Warning[] = [];
  for (const w of now.values()) {
    const added = w.count - (before.get(w.code) ?? 0);
    if (added > 0) out.push({ code: w.code, message: w.message, count: added });
  }
  return out;
}
