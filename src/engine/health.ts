import type { Logger } from '../core/logger';
import { addHealth, emptyHealth, type Source, type SourceHealth } from '../core/source';
import { WarningLog, warningIncrements } from '../core/warnings';

/**
 * The daemon's ledger of capture health: totals since the daemon started over every source it
 * ran (a reload replaces the source; its numbers stay), and the log of what is new, rate-limited
 * by WarningLog - the first warning of a code at once, repeats summed up every intervalMs.
 * Failed polls are logged by the Poller (one line per failure episode); here they are counted.
 */
export class HealthLedger {
  /** Health of the sources closed so far. */
  private retired: SourceHealth = emptyHealth();
  /** The live source's health at the last sample: the log gets only what is new since. */
  private sampled: SourceHealth = emptyHealth();
  private readonly log: WarningLog;
  /** onError hears of each new failure seen in a sample (a failed poll, a dead tracer), in one line. */
  constructor(logger: Pick<Logger, 'warn'>, intervalMs: number, now: () => number, private readonly onError: (message: string) => void = () => undefined) {
    this.log = new WarningLog(logger, intervalMs, now);
  }

  /** Totals: the closed sources plus the live one. */
  total(live: Source | null): SourceHealth {
    return addHealth(this.retired, live?.health?.() ?? emptyHealth());
  }

  /** Reads the live source's health and logs what is new since the last sample. */
  sample(live: Source | null): void {
    if (!live?.health) return;
    const now = live.health();
    this.report(live.name, this.sampled, now);
    this.sampled = now;
  }

  /** After a source closed: its final numbers join the totals; the next source starts from zero. */
  retire(source: Source): void {
    const final = source.health?.() ?? emptyHealth();
    this.report(source.name, this.sampled, final);
    this.retired = addHealth(this.retired, final);
    this.sampled = emptyHealth();
  }

  /** Logs what is pending in the rate limiter (on the way out). */
  flush(): void {
    this.log.flush();
  }

  private report(name: string, before: SourceHealth, after: SourceHealth): void {
    const increments = warningIncrements(before.warnings, after.warnings);
    const lost = after.eventsLost - before.eventsLost;
    if (lost > 0) increments.push({ code: 'events-lost', message: `${after.eventsLost} events lost so far by ${name} (it could not keep up; some connections are missing)`, count: lost });
    if (increments.length > 0) this.log.report(name, increments);
    if (after.pollErrors > before.pollErrors && after.lastError) this.onError(`capture ${name}: ${after.lastError}`);
  }
}
