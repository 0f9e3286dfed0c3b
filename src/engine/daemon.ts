import type { Correlation } from '../analyzer/analyze';
import { type Resolver, systemResolver } from '../analyzer/addresses';
import { BeaconDetector } from '../analyzer/beacon';
import { judge } from '../analyzer/judge';
import { compileRules, resolveBrokerNames, type Rules } from '../analyzer/rules';
import { WindowCorrelator } from '../analyzer/windows';
import type { Config } from '../config/schema';
import type { OutRecord } from '../core/sink';
import type { Source } from '../core/source';
import type { ConnectionEvent, Finding, HostFacts, JudgedConnection } from '../core/types';
import type { Output, RecordFormat } from '../sinks';
import type { Logger } from '../core/logger';

/** Turns analyzer output into sink records (UDM, OCSF, ...). */
export interface RecordFormatter {
  connection(c: JudgedConnection): OutRecord;
  finding(f: Finding): OutRecord;
  correlation(c: Correlation): OutRecord;
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
  resolver?: Resolver;
  now?: () => number;
}

/** Settings whose change needs a new capture source. */
function captureKey(c: Config): string {
  return JSON.stringify([c.capture, c.adapter, c.procRoot, c.pollInterval, c.protocolPortList, c.internalNetworks, c.mode]);
}

/**
 * The `run` loop: source -> bounded queue -> analyzer (judge, time windows, beaconing) -> sinks.
 * Events beyond queueSize are dropped and counted, never silently. reload() swaps the rules
 * atomically; a bad config never replaces a good one (the caller validates before calling).
 */
export class Daemon {
  readonly counters: DaemonCounters = { eventsSeen: 0, eventsJudged: 0, eventsIgnored: 0, eventsDropped: 0, findings: 0, correlations: 0, beacons: 0, recordsSent: 0, sinkErrors: 0 };
  readonly startedAt: number;
  private rules!: Rules;
  private config!: Config;
  private windows!: WindowCorrelator;
  private beacons: BeaconDetector | null = null;
  private source: Source | null = null;
  private queue: ConnectionEvent[] = [];
  private draining: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private expireTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  lastError: string | null = null;

  constructor(private readonly deps: DaemonDeps) {
    this.startedAt = this.now();
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  get sourceName(): string | null {
    return this.source?.name ?? null;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  private async applyConfig(config: Config): Promise<void> {
    const rules = compileRules(config, { platform: this.deps.host.platform });
    for (const w of await resolveBrokerNames(rules, this.deps.resolver ?? systemResolver)) this.deps.log.warn(w);
    const windowChanged = !this.config || this.config.timeWindow !== config.timeWindow || this.config.mode !== config.mode;
    this.config = config;
    this.rules = rules;
    if (windowChanged) this.windows = new WindowCorrelator(config.timeWindow, config.mode);
    const b = config.beaconing;
    this.beacons = b.enabled
      ? new BeaconDetector({ minConnections: b.minConnections, maxJitter: b.maxJitter, minPeriodMs: b.minPeriod, maxTracked: b.maxTracked, windowMs: config.timeWindow })
      : null;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = setInterval(() => {
      resolveBrokerNames(this.rules, this.deps.resolver ?? systemResolver)
        .then((ws) => ws.forEach((w) => this.deps.log.warn(w)))
        .catch((err: Error) => this.deps.log.warn(`broker name refresh failed: ${err.message}`));
    }, config.brokerAllowListRefresh);
    this.refreshTimer.unref();
  }

  async start(config: Config): Promise<void> {
    await this.applyConfig(config);
    await this.startSource();
    this.expireTimer = setInterval(() => {
      const now = this.now();
      this.windows.expire(now);
      this.beacons?.expire(now);
    }, Math.min(60_000, config.timeWindow));
    this.expireTimer.unref();
  }

  private async startSource(): Promise<void> {
    this.source = await this.deps.createSource(this.config, this.rules);
    await this.source.start((e) => this.enqueue(e));
  }

  /** Applies a validated new config. Restarts capture only when capture settings changed. */
  async reload(config: Config): Promise<void> {
    const restart = captureKey(config) !== captureKey(this.config);
    await this.applyConfig(config);
    if (restart) {
      this.deps.log.info('capture settings changed: restarting the capture source');
      await this.source?.close();
      await this.startSource();
    }
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
      if (items.length > 0) await this.send(items);
      await new Promise((r) => setImmediate(r)); // let the source emit between batches
    }
  }

  /** Judges one event and returns what it produces (telemetry, findings, correlations). */
  analyze(e: ConnectionEvent): AnalysisItem[] {
    const j = judge(e, this.rules);
    if (!j || j.verdict.outcome === 'ignored') {
      this.counters.eventsIgnored++;
      return [];
    }
    this.counters.eventsJudged++;
    const out: AnalysisItem[] = [];
    // One socket is one event: a connection that raised a finding is sent as the finding (the same
    // NETWORK_CONNECTION plus security_result), so the SIEM's `#net > 1` counts sockets, not records.
    // In yaral-parity mode an event alone is not a finding (only the window's aggregate is).
    if (j.finding && this.rules.mode !== 'yaral-parity') {
      this.counters.findings++;
      out.push({ kind: 'finding', value: j.finding });
    } else {
      out.push({ kind: 'connection', value: { ...e, direction: 'outbound', verdict: j.verdict } });
    }
    if (!j.finding) return out;
    const corr = this.windows.add(j.finding, this.deps.host.hostname);
    if (corr) {
      this.counters.correlations++;
      out.push({ kind: 'correlation', value: corr });
    }
    const beacon = this.beacons?.add(j.finding) ?? null;
    if (beacon) {
      this.counters.beacons++;
      this.counters.findings++;
      out.push({ kind: 'finding', value: beacon });
    }
    return out;
  }

  /** Formats the items once per record format in use, and writes each output its format. */
  private async send(items: AnalysisItem[]): Promise<void> {
    const byFormat = new Map<RecordFormat, OutRecord[]>();
    const recordsIn = (format: RecordFormat): OutRecord[] => {
      let records = byFormat.get(format);
      if (!records) {
        const f = this.deps.formatters[format];
        records = items.map((i) => (i.kind === 'connection' ? f.connection(i.value) : i.kind === 'finding' ? f.finding(i.value) : f.correlation(i.value)));
        byFormat.set(format, records);
      }
      return records;
    };
    await Promise.all(this.deps.outputs.map(async ({ sink: s, format }) => {
      const records = recordsIn(format);
      try {
        await s.write(records);
        this.counters.recordsSent += records.length;
      } catch (err) {
        this.counters.sinkErrors++;
        this.lastError = `sink ${s.name}: ${(err as Error).message}`;
        this.deps.log.error(this.lastError);
      }
    }));
  }

  /** Stops capture, analyzes what is queued, flushes and closes the sinks. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.source?.close();
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.expireTimer) clearInterval(this.expireTimer);
    if (this.draining) await this.draining;
    await this.drain();
    for (const { sink: s } of this.deps.outputs) {
      try {
        await s.flush();
        await s.close();
      } catch (err) {
        this.deps.log.error(`sink ${s.name} did not flush: ${(err as Error).message}`);
      }
    }
  }
}
