import type { Correlation } from '../analyzer/analyze';
import { type Resolver, systemResolver } from '../analyzer/addresses';
import { AnalysisPipeline, beaconingOf, type PipelineItem } from '../analyzer/pipeline';
import { compileRules, resolveBrokerNames, type Rules } from '../analyzer/rules';
import type { Config } from '../config/schema';
import type { OutRecord } from '../core/sink';
import type { Source, SourceHealth } from '../core/source';
import type { ConnectionEvent, Finding, HostFacts, JudgedConnection } from '../core/types';
import type { Output, RecordFormat } from '../sinks';
import { HealthLedger } from './health';
import { closeOutputs, type OpenOutput, type OutputSwap, openChangedOutputs } from './outputs';
import type { Logger } from '../core/logger';
import type { fetchFeed } from './feed-fetch';
import { type FeedStatus, ReputationFeeds } from './reputation-feeds';

/** Turns analyzer output into sink records (UDM, OCSF, ...). null: the format has no record for it (Sysmon correlations). */
export interface RecordFormatter {
  connection(c: JudgedConnection): OutRecord;
  finding(f: Finding): OutRecord;
  correlation(c: Correlation): OutRecord | null;
}

export interface DaemonCounters {
  eventsSeen: number;
  eventsJudged: number;
  eventsIgnored: number;
  eventsDropped: number;
  findings: number;
  correlations: number;
  beacons: number;
  recordsSent: number;
  sinkErrors: number;
}

/** What the analyzer produced for one event, before any sink format is applied. */
export type AnalysisItem =
  | { kind: 'connection'; value: JudgedConnection }
  | { kind: 'finding'; value: Finding }
  | { kind: 'correlation'; value: Correlation };

export interface DaemonDeps {
  host: HostFacts;
  log: Logger;
  /** One formatter per record format the outputs ask for. */
  formatters: Record<RecordFormat, RecordFormatter>;
  /** Builds the capture source for a config (the daemon restarts it when capture settings change). */
  createSource(config: Config, rules: Rules): Promise<Source>;
  outputs: Output[];
  /** Opens the output of a sink spec, so a reload can apply sink changes; without it the reply says they need a restart. */
  openOutput?: OpenOutput;
  resolver?: Resolver;
  /** Reads a reputation feed (default: the file or HTTPS GET of feed-fetch.ts). */
  fetchFeed?: typeof fetchFeed;
  now?: () => number;
  /** How often the capture's health (failed polls, lost events, warnings) is read and logged; default 5 s. */
  healthIntervalMs?: number;
  /** Repeats of one warning code are summed up in one log line at most this often; default 10 min. */
  warningLogIntervalMs?: number;
}

/** The outcome of the last reload, for `status`. */
export interface ReloadRecord {
  at: string;
  ok: boolean;
  message: string;
}

/** A reload the daemon refused; the previous configuration and capture stay in force. */
export class ReloadRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReloadRefusedError';
  }
}

/** Settings whose change needs a new capture source. */
function captureKey(c: Config): string {
  // The adapters' pre-filters are built from these (and eBPF renders the ports into its program).
  return JSON.stringify([c.adapter, c.bpftracePath, c.procRoot, c.pollInterval, c.protocolPortList, c.internalNetworks, c.includeLoopback, c.webBrokerPorts, c.uriPathRegex, c.mode, c.wireInspection]);
}

const restartNote = (what: string, why = 'a reload does not apply it'): string =>
  `${what} changed: ${why} - the agent keeps its current ${what} until it restarts (restart the service to apply)`;

/**
 * The `run` loop: source -> bounded queue -> analyzer (judge, time windows, beaconing) -> sinks.
 * Events beyond queueSize are dropped and counted, never silently. The capture's partial failures
 * (failed polls, lost events, warnings) are read every healthIntervalMs: counted for `status`
 * and logged rate-limited. reload() swaps the rules atomically; a bad config never replaces a good
 * one (the caller validates before calling), and a capture change starts the new capture before
 * the old one closes - if the new one cannot start, the reload is refused and the old one stays.
 */
export class Daemon {
  /** Sinks whose last write failed, with the failures since their last success: the log says each episode once. */
  private readonly failingSinks = new Map<string, number>();
  readonly counters: DaemonCounters = { eventsSeen: 0, eventsJudged: 0, eventsIgnored: 0, eventsDropped: 0, findings: 0, correlations: 0, beacons: 0, recordsSent: 0, sinkErrors: 0 };
  readonly startedAt: number;
  private rules!: Rules;
  private config!: Config;
  private pipeline!: AnalysisPipeline;
  private source: Source | null = null;
  private queue: ConnectionEvent[] = [];
  private draining: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private expireTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly pendingSends = new Set<Promise<void>>();
  private readonly health: HealthLedger;
  /** The outputs written to now (a reload may replace them), and the specs and settings they run with. */
  private outputs: Output[];
  private running!: { sinks: Config['sinks']; logging: Config['logging']; stateDir: string };
  /** The write to the outputs in progress, if any (a sink swap waits for it). */
  private sending: Promise<void> | null = null;
  /** The latest error of any kind: a sink write, a failed poll, a capture a reload could not start. */
  lastError: string | null = null;
  /** The outcome of the last reload (null before the first). */
  lastReload: ReloadRecord | null = null;
  /** brokerReputationFeeds in force, and the settings they were made from. */
  private feeds: ReputationFeeds | null = null;
  private feedsKey = '[]';

  constructor(private readonly deps: DaemonDeps) {
    this.startedAt = this.now();
    this.outputs = [...deps.outputs];
    this.health = new HealthLedger(deps.log, deps.warningLogIntervalMs ?? 600_000, () => this.now(), (m) => { this.lastError = m; });
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  get sourceName(): string | null {
    return this.source?.name ?? null;
  }

  /** The outputs written to now (a reload may have replaced some). */
  get currentOutputs(): readonly Output[] {
    return this.outputs;
  }

  /** The capture running now (a reload may have replaced the first one). */
  get currentSource(): Source | null {
    return this.source;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  /** What went partly wrong in capture since the daemon started, over every source it ran. */
  captureHealth(): SourceHealth {
    return this.health.total(this.source);
  }

  /** brokerReputationFeeds state, for `status`. */
  get reputationFeeds(): FeedStatus[] {
    return this.feeds?.status() ?? [];
  }

  /**
   * The feeds for a config: the running ones when their settings did not change, else new ones,
   * loaded now (at start: before the first event is judged) but not started until commit().
   */
  private async prepareFeeds(config: Config): Promise<ReputationFeeds | null> {
    if (JSON.stringify(config.brokerReputationFeeds) === this.feedsKey) return this.feeds;
    if (config.brokerReputationFeeds.length === 0) return null;
    const feeds = new ReputationFeeds(config.brokerReputationFeeds, { log: this.deps.log, ...(this.deps.fetchFeed ? { fetch: this.deps.fetchFeed } : {}), now: () => this.now() });
    await feeds.loadAll();
    return feeds;
  }

  /** Compiles the rules of a config, fills in the feeds and resolves its broker names; commits nothing. */
  private async prepare(config: Config): Promise<Rules> {
    const rules = compileRules(config, { platform: this.deps.host.platform });
    const feeds = await this.prepareFeeds(config);
    feeds?.fill(rules.reputation);
    this.pendingFeeds = { key: JSON.stringify(config.brokerReputationFeeds), feeds };
    for (const w of await resolveBrokerNames(rules, this.deps.resolver ?? systemResolver)) this.deps.log.warn(w);
    return rules;
  }

  private pendingFeeds: { key: string; feeds: ReputationFeeds | null } | null = null;

  /** Puts the prepared feeds in force: they update the committed rules' list from now on. */
  private commitFeeds(rules: Rules): void {
    const pending = this.pendingFeeds;
    this.pendingFeeds = null;
    if (!pending) return;
    if (pending.feeds !== this.feeds) {
      this.feeds?.stop();
      pending.feeds?.start();
    }
    this.feeds = pending.feeds;
    this.feedsKey = pending.key;
    if (!this.feeds) return;
    this.feeds.attach(rules.reputation);
    this.feeds.onChange = () => {
      // New host names in a feed are resolved at once, not at the next name refresh.
      this.rules.reputation.resolve(this.deps.resolver ?? systemResolver)
        .then((fails) => fails.forEach((f) => this.deps.log.warn(`cannot resolve broker host name ${f}; it matches nothing until it resolves`)))
        .catch((err: Error) => this.deps.log.warn(`broker name refresh failed: ${err.message}`));
    };
  }

  private commit(config: Config, rules: Rules): void {
    this.commitFeeds(rules);
    const previous = this.pipeline;
    const sameWindows = previous && this.config.timeWindow === config.timeWindow && this.config.mode === config.mode
      && JSON.stringify(this.config.beaconing) === JSON.stringify(config.beaconing);
    this.config = config;
    this.rules = rules;
    if (sameWindows) {
      // Open windows and beacon series carry over: a reload must not split a window in two.
      previous.setRules(rules);
    } else {
      // New windows: the old pipeline's open windows close now, with what they hold.
      this.pipeline = new AnalysisPipeline({
        rules,
        host: this.deps.host.hostname,
        window: config.timeWindow,
        emitOpen: true,
        beaconing: beaconingOf(config.beaconing),
      });
      if (previous) this.emitItems(previous.finish());
    }
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = setInterval(() => {
      resolveBrokerNames(this.rules, this.deps.resolver ?? systemResolver)
        .then((ws) => ws.forEach((w) => this.deps.log.warn(w)))
        .catch((err: Error) => this.deps.log.warn(`broker name refresh failed: ${err.message}`));
    }, config.brokerAllowListRefresh);
    this.refreshTimer.unref();
  }

  async start(config: Config): Promise<void> {
    const rules = await this.prepare(config);
    this.commit(config, rules);
    this.running = { sinks: config.sinks, logging: config.logging, stateDir: config.stateDir };
    try {
      this.source = await this.startSource(config, rules);
    } catch (err) {
      if (this.refreshTimer) clearInterval(this.refreshTimer);
      throw err;
    }
    this.expireTimer = setInterval(() => this.emitItems(this.pipeline.expire(this.now())), Math.min(60_000, config.timeWindow));
    this.expireTimer.unref();
    this.healthTimer = setInterval(() => this.sampleHealth(), this.deps.healthIntervalMs ?? 5000);
    this.healthTimer.unref();
  }

  /** Builds and starts a capture; a source that fails to start is closed again before the error propagates. */
  private async startSource(config: Config, rules: Rules): Promise<Source> {
    const source = await this.deps.createSource(config, rules);
    try {
      await source.start((e) => this.enqueue(e));
    } catch (err) {
      await source.close().catch(() => undefined);
      throw err;
    }
    return source;
  }

  /** Reads the live source's health and logs what is new since the last read (rate-limited). */
  sampleHealth(): void {
    this.health.sample(this.source);
  }

  /** Closes a source that was replaced or stopped; its numbers move to the totals. */
  private async retire(source: Source): Promise<void> {
    try {
      await source.close();
    } catch (err) {
      this.deps.log.warn(`capture ${source.name} did not close cleanly: ${(err as Error).message}`);
    }
    this.health.retire(source);
  }

  /**
   * Applies a validated new config. When capture settings changed, the new capture starts first and
   * the old one closes only once it runs: the agent is never blind. Changed sinks are opened before
   * the old ones are flushed and closed. If the new capture or a new sink cannot start, the reload is
   * refused (ReloadRefusedError) and nothing changes. Returns notes for the reply: what was applied
   * to the sinks, and settings that take effect only at the next start.
   */
  async reload(config: Config): Promise<{ notes: string[] }> {
    const rules = await this.prepare(config);
    const notes: string[] = [];
    const swap = await this.openSinks(config, notes);
    let next: Source | null = null;
    if (captureKey(config) !== captureKey(this.config)) {
      const old = this.source?.name ?? 'none';
      this.deps.log.info(`capture settings changed: starting the new capture before ${old} stops`);
      try {
        next = await this.startSource(config, rules);
      } catch (err) {
        if (swap) await closeOutputs(swap.opened, this.deps.log);
        const why = (err as Error).message.replace(/\s+/g, ' ');
        this.lastError = `reload: the new capture could not start: ${why}`;
        throw new ReloadRefusedError(`the new capture could not start (${why}); the previous capture (${old}) keeps running`);
      }
    }
    if (JSON.stringify(this.running.logging) !== JSON.stringify(config.logging)) notes.push(restartNote('logging'));
    this.commit(config, rules);
    if (next) {
      const old = this.source;
      this.sampleHealth();
      this.source = next;
      if (old) await this.retire(old);
      this.deps.log.info(`capture now ${next.name}${old ? `; ${old.name} closed` : ''}`);
    }
    if (swap) notes.push(await this.swapSinks(swap, config));
    for (const n of notes) this.deps.log.info(n);
    return { notes };
  }

  /** Opens the outputs a sink change needs (null: no change, or one a reload cannot make: then a note says so). */
  private async openSinks(config: Config, notes: string[]): Promise<OutputSwap | null> {
    if (JSON.stringify(this.running.sinks) === JSON.stringify(config.sinks) && this.running.stateDir === config.stateDir) return null;
    if (!this.deps.openOutput) {
      notes.push(restartNote('sinks'));
      return null;
    }
    let result;
    try {
      result = await openChangedOutputs({ specs: this.running.sinks, outputs: this.outputs, stateDir: this.running.stateDir }, config.sinks, config.stateDir, this.deps.openOutput);
    } catch (err) {
      throw new ReloadRefusedError(`${(err as Error).message}; the previous sinks keep running`);
    }
    if ('restart' in result) {
      notes.push(restartNote('sinks', `${result.restart}, so a reload cannot apply it`));
      return null;
    }
    return result;
  }

  /** Writes go to the new outputs from the next batch on; the ones that left are flushed and closed. */
  private async swapSinks(swap: OutputSwap, config: Config): Promise<string> {
    this.outputs = swap.outputs;
    this.running = { ...this.running, sinks: config.sinks, stateDir: config.stateDir };
    await Promise.all([this.sending, ...this.pendingSends]); // writes may still go to the old list
    await closeOutputs(swap.retired, this.deps.log);
    const names = (os: readonly Output[]) => (os.length ? os.map((o) => o.sink.name).join(', ') : 'none');
    return `sinks applied: opened ${names(swap.opened)}; flushed and closed ${names(swap.retired)}`;
  }

  /** Remembers the outcome of a reload for `status` (the agent calls it for every reload). */
  recordReload(ok: boolean, message: string): void {
    this.lastReload = { at: new Date(this.now()).toISOString(), ok, message };
  }

  enqueue(e: ConnectionEvent): void {
    if (this.stopped) return;
    this.counters.eventsSeen++;
    if (this.queue.length >= this.config.queueSize) {
      this.counters.eventsDropped++;
      if (this.counters.eventsDropped === 1 || this.counters.eventsDropped % 1000 === 0) {
        this.deps.log.warn(`event queue full (${this.config.queueSize}): ${this.counters.eventsDropped} events dropped so far`);
      }
      return;
    }
    this.queue.push(e);
    if (!this.draining) this.draining = this.drain().finally(() => { this.draining = null; });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 500);
      const items: AnalysisItem[] = [];
      for (const e of batch) items.push(...this.analyze(e));
      if (items.length > 0) {
        this.sending = this.send(items);
        await this.sending;
        this.sending = null;
      }
      await new Promise((r) => setImmediate(r)); // let the source emit between batches
    }
  }

  /** Judges one event and returns what it produces (telemetry, findings, correlations). */
  analyze(e: ConnectionEvent): AnalysisItem[] {
    const before = this.pipeline.counts.judged;
    const items = this.pipeline.push(e);
    if (this.pipeline.counts.judged === before) this.counters.eventsIgnored++;
    else this.counters.eventsJudged++;
    return this.toAnalysisItems(items);
  }

  /**
   * One socket is one event: a connection that raised a finding is sent as the finding (the same
   * NETWORK_CONNECTION plus security_result), so the SIEM's `#net > 1` counts sockets, not records.
   */
  private toAnalysisItems(items: readonly PipelineItem[]): AnalysisItem[] {
    const out: AnalysisItem[] = [];
    for (const i of items) {
      if (i.kind === 'finding') {
        this.counters.findings++;
        if (!i.connection) this.counters.beacons++;
        out.push({ kind: 'finding', value: i.value });
      } else if (i.kind === 'correlation') {
        this.counters.correlations++;
        out.push(i);
      } else out.push(i);
    }
    return out;
  }

  /** Sends items that a window close or a reload produced outside the event queue. */
  private emitItems(items: readonly PipelineItem[]): void {
    const out = this.toAnalysisItems(items);
    if (out.length === 0) return;
    const sending = this.send(out);
    this.pendingSends.add(sending);
    void sending.finally(() => this.pendingSends.delete(sending));
  }

  /** Formats the items once per record format in use, and writes each output its format. */
  private async send(items: AnalysisItem[]): Promise<void> {
    const byFormat = new Map<RecordFormat, OutRecord[]>();
    const recordsIn = (format: RecordFormat): OutRecord[] => {
      let records = byFormat.get(format);
      if (!records) {
        const f = this.deps.formatters[format];
        records = items.map((i) => (i.kind === 'connection' ? f.connection(i.value) : i.kind === 'finding' ? f.finding(i.value) : f.correlation(i.value)))
          .filter((r): r is OutRecord => r !== null);
        byFormat.set(format, records);
      }
      return records;
    };
    await Promise.all(this.outputs.map(async ({ sink: s, format }) => {
      const records = recordsIn(format);
      if (records.length === 0) return;
      try {
        await s.write(records);
        this.counters.recordsSent += records.length;
        const failed = this.failingSinks.get(s.name);
        if (failed !== undefined) {
          this.failingSinks.delete(s.name);
          this.deps.log.info(`sink ${s.name} works again after ${failed} failed writes`);
        }
      } catch (err) {
        this.counters.sinkErrors++;
        this.lastError = `sink ${s.name}: ${(err as Error).message}`;
        // One line per episode (a sink that fails fails every write); every failure is counted for status.
        const failed = this.failingSinks.get(s.name);
        this.failingSinks.set(s.name, (failed ?? 0) + 1);
        if (failed === undefined) this.deps.log.error(`${this.lastError} - further failures of this sink are counted (brokerwatch status: sinkErrors, lastError), not logged, until it works again`);
      }
    }));
  }

  /** Stops capture, analyzes what is queued, flushes and closes the sinks. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.source) {
      const source = this.source;
      this.sampleHealth();
      await this.retire(source);
      this.source = null;
    }
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.expireTimer) clearInterval(this.expireTimer);
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.feeds?.stop();
    this.health.flush();
    if (this.draining) await this.draining;
    await this.drain();
    // Open windows close at stop: their final correlations (and parity matches) are not lost.
    this.emitItems(this.pipeline.finish());
    await Promise.all([...this.pendingSends]);
    await closeOutputs(this.outputs, this.deps.log);
  }
}
