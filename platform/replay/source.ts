import type { Source } from '../../src/core/source';
import type { ConnectionEvent, Warning } from '../../src/core/types';
import { WarningCollector } from '../../src/core/warnings';
import { newReplayStats, type ReplayOptions, type ReplayRecord, type ReplayStats, readRecords } from './read';

/**
 * Recorded events as a Source (Falco's savefile engine): start() streams every file once, in order,
 * and resolves when the last one is read; records() gives the same stream with file and line for a
 * consumer that wants them (the replay pipeline). One pass per instance: a second call throws.
 * close() stops reading; no event is emitted after it resolves.
 */
export class ReplaySource implements Source {
  readonly name = 'replay';
  readonly stats: ReplayStats = newReplayStats();
  private readonly collector = new WarningCollector();
  private readonly abort = new AbortController();
  private started = false;
  private running: Promise<void> | null = null;

  constructor(private readonly files: readonly string[], private readonly options: ReplayOptions = {}) {}

  records(): AsyncGenerator<ReplayRecord> {
    if (this.started) throw new Error('ReplaySource: the files were already read (one pass per instance)');
    this.started = true;
    return readRecords(this.files, { ...this.options, signal: this.abort.signal }, { stats: this.stats, warnings: this.collector });
  }

  start(emit: (e: ConnectionEvent) => void): Promise<void> {
    const records = this.records();
    this.running = (async () => {
      for await (const r of records) {
        if (this.abort.signal.aborted) break;
        emit(r.event);
      }
    })();
    return this.running;
  }

  /** Malformed records (file:line: reason, the first 20 per file one by one) and unreadable files. */
  warnings(): Warning[] {
    return this.collector.list();
  }

  /** The stats as flat counters, for Snapshot.stats and --json output. */
  statsRecord(): Record<string, number> {
    const { byFormat, ...rest } = this.stats;
    const out: Record<string, number> = { ...rest };
    for (const [k, v] of Object.entries(byFormat)) out[`events.${k}`] = v;
    return out;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }
}
