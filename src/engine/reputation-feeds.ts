/**
 * brokerReputationFeeds: loads each feed at start and again every `refresh`, and keeps its last
 * good entries in the reputation AddressList the rules judge with.
 *
 * Partial failure is said, never swallowed: a download that fails keeps the last good list and is
 * logged once per failure episode (and once more when the feed is back); bad lines are logged with
 * their line numbers (the first few, and how many in all) and the rest of the feed still loads.
 * status() shows every feed's state for `status` and `scan --json`.
 */
import { type FeedFormat, parseFeed } from '../analyzer/reputation-feed-parse';
import type { AddressList } from '../analyzer/addresses';
import type { ReputationFeedSpec } from '../config/schema';
import type { Logger } from '../core/logger';
import type { fetchFeed } from './feed-fetch';

export interface FeedStatus {
  source: string;
  format: FeedFormat | null;
  /** Entries in force (the last good load). */
  entries: number;
  /** ISO time of the last good load, null before one. */
  loadedAt: string | null;
  /** Bad lines in the last load. */
  badLines: number;
  /** Why the last attempt failed, null when it worked. */
  lastError: string | null;
  failures: number;
}

export interface FeedDeps {
  log: Logger;
  fetch?: typeof fetchFeed;
  now?: () => number;
}

const SHOWN_PROBLEMS = 5;

interface FeedState extends FeedStatus {
  spec: ReputationFeedSpec;
  list: string[];
  timer: NodeJS.Timeout | null;
}

export class ReputationFeeds {
  private readonly feeds: FeedState[];
  private target: AddressList | null = null;
  private stopped = false;
  /** Called after a refresh changed a feed's entries (the daemon resolves new host names). */
  onChange: (() => void) | null = null;

  constructor(specs: readonly ReputationFeedSpec[], private readonly deps: FeedDeps) {
    this.feeds = specs.map((spec) => ({ spec, source: spec.source, format: null, entries: 0, loadedAt: null, badLines: 0, lastError: null, failures: 0, list: [], timer: null }));
  }

  get size(): number {
    return this.feeds.length;
  }

  /** Loads every feed once (failures are logged and kept in status, never thrown). */
  async loadAll(): Promise<void> {
    await Promise.all(this.feeds.map((f) => this.load(f)));
  }

  /** Fills a reputation list with the last good entries (freshly compiled rules, not yet in force). */
  fill(list: AddressList): void {
    for (const f of this.feeds) list.setFeed(f.source, f.list, this.label(f));
  }

  /** Fills the list of the rules in force and keeps it up to date at every refresh. */
  attach(list: AddressList): void {
    this.fill(list);
    this.target = list;
  }

  /** Starts the refresh timers (the daemon). */
  start(): void {
    for (const f of this.feeds) {
      f.timer = setInterval(() => {
        void this.load(f).then((changed) => { if (changed) this.onChange?.(); });
      }, f.spec.refresh);
      f.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const f of this.feeds) if (f.timer) clearInterval(f.timer);
  }

  status(): FeedStatus[] {
    return this.feeds.map(({ source, format, entries, loadedAt, badLines, lastError, failures }) => ({ source, format, entries, loadedAt, badLines, lastError, failures }));
  }

  private label(f: FeedState): string {
    return `feed ${f.spec.comment ? `${f.spec.comment}: ` : ''}${f.source}`;
  }

  /** One load; returns true when the entries in force changed. */
  private async load(f: FeedState): Promise<boolean> {
    const now = this.deps.now?.() ?? Date.now();
    let text: string;
    try {
      // feed-fetch (and its HTTPS client) is loaded only when a feed is read.
      text = await (this.deps.fetch ?? (require('./feed-fetch') as typeof import('./feed-fetch')).fetchFeed)(f.source, { caFile: f.spec.caFile });
    } catch (err) {
      if (this.stopped) return false;
      const why = (err as NodeJS.ErrnoException).code && !(err as Error).message.startsWith(String((err as NodeJS.ErrnoException).code)) ? `${(err as NodeJS.ErrnoException).code} ${(err as Error).message}` : (err as Error).message;
      f.failures++;
      if (f.lastError === null) {
        this.deps.log.warn(f.loadedAt
          ? `reputation feed ${f.source}: download failed (${why}); keeping the last good list (${f.entries} entries from ${f.loadedAt})`
          : `reputation feed ${f.source}: load failed (${why}); no entries from it until a load succeeds`);
      }
      f.lastError = why;
      return false;
    }
    if (this.stopped) return false;
    const parsed = parseFeed(text, f.spec.format, now);
    if (parsed.entries.length === 0 && parsed.problems.length > 0) {
      // Nothing usable at all (an HTML error page, a truncated JSON): treat as a failed download.
      const why = `no valid entry; ${parsed.problems.length} bad (first: line ${parsed.problems[0]?.line}: ${parsed.problems[0]?.message})`;
      f.failures++;
      if (f.lastError === null) this.deps.log.warn(`reputation feed ${f.source}: ${why}; keeping the last good list (${f.entries} entries)`);
      f.lastError = why;
      return false;
    }
    if (parsed.problems.length > 0) {
      const shown = parsed.problems.slice(0, SHOWN_PROBLEMS).map((p) => `line ${p.line}: ${p.message}`).join('; ');
      this.deps.log.warn(`reputation feed ${f.source}: ${parsed.problems.length} bad line${parsed.problems.length > 1 ? 's' : ''} skipped (${shown}${parsed.problems.length > SHOWN_PROBLEMS ? '; ...' : ''}); ${parsed.entries.length} entries loaded`);
    }
    if (f.lastError !== null) this.deps.log.info(`reputation feed ${f.source}: loaded again after ${f.failures} failed attempt(s)`);
    const changed = parsed.entries.join('\n') !== f.list.join('\n');
    Object.assign(f, { format: parsed.format, entries: parsed.entries.length, loadedAt: new Date(now).toISOString(), badLines: parsed.problems.length, lastError: null, failures: 0, list: parsed.entries });
    this.target?.setFeed(f.source, f.list, this.label(f));
    return changed;
  }
}
