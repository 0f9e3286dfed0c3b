/**
 * `replay`: recorded events (Sysmon, UDM, brokerwatch's own JSON) through the same analysis
 * pipeline as scan and run, with the events' own timestamps as the clock and each record judged
 * by the analytic of its own OS. The records are streamed; the report keeps the judged (pub/sub)
 * connections and findings, so memory grows with those, not with the file.
 */
import type { FormatOption } from '../../platform/replay/parse';
import { ReplaySource } from '../../platform/replay/source';
import { type Resolver, systemResolver } from '../analyzer/addresses';
import { type Analysis, collect } from '../analyzer/analyze';
import { AnalysisPipeline, beaconingOf } from '../analyzer/pipeline';
import { compileRules, resolveBrokerNames, type Rules, rulesForOs } from '../analyzer/rules';
import { version } from '../config/embedded';
import { loadConfig } from '../config/load';
import type { Config, OsName } from '../config/schema';
import type { ConnectionEvent, Finding, Warning } from '../core/types';
import { WarningCollector } from '../core/warnings';
import { type FindingGroup, groupFindings } from '../format/groups';
import type { Correlation } from '../analyzer/correlation';

/** What replay needs of a reader of recorded events (platform/replay implements it). */
export interface RecordReader {
  /** The events, in file order, each with its own timestamp, host and OS where the record says. */
  events(): AsyncIterable<ConnectionEvent>;
  /** Malformed records (file and line), skipped records, unreadable files. */
  warnings(): Warning[];
  stats(): Record<string, number>;
}

export interface HostSummary {
  host: string;
  os: string;
  connections: number;
  findings: number;
  correlations: number;
}

/** The `replay --json` document: the parts of `scan --json`, with findings keyed by host. */
export interface ReplayReport {
  tool: { name: 'brokerwatch'; version: string };
  time: string;
  command: 'replay';
  inputs: string[];
  mode: string;
  configFiles: string[];
  warnings: Warning[];
  stats: Record<string, number>;
  summary: Analysis['counts'];
  hosts: HostSummary[];
  connections: Analysis['connections'];
  findings: Finding[];
  groups: FindingGroup[];
  correlations: Correlation[];
}

export interface ReplayOptions {
  configFiles: string[];
  inputs: string[];
  reader: RecordReader;
  includeLoopback?: boolean;
  resolver?: Resolver;
  /** The OS of records that do not say (default: this host's). */
  defaultOs?: OsName;
}

/** Rules per OS, built on first use from one compiled base. */
function rulesByOs(base: Rules, config: Config): (e: ConnectionEvent) => Rules {
  const cache = new Map<OsName, Rules>([[base.os, base]]);
  return (e) => {
    const os = e.os ?? base.os;
    let r = cache.get(os);
    if (!r) {
      r = rulesForOs(base, config, os);
      cache.set(os, r);
    }
    return r;
  };
}

/** The host of records that name none. */
const UNKNOWN_HOST = '(unknown host)';

/** How often (in events) closed windows are released while streaming. */
const EXPIRE_EVERY = 1000;

export async function replayRecords(opts: ReplayOptions): Promise<ReplayReport> {
  const { config, files } = loadConfig(opts.configFiles);
  const base = compileRules(config, opts.includeLoopback ? { includeLoopback: true } : {});
  const warn = new WarningCollector();
  for (const f of await resolveBrokerNames(base, opts.resolver ?? systemResolver)) warn.add('broker-unresolved', f);
  const pipeline = new AnalysisPipeline({
    rules: base,
    rulesFor: rulesByOs(base, config),
    host: UNKNOWN_HOST,
    window: config.timeWindow,
    beaconing: beaconingOf(config.beaconing),
  });
  const out: Pick<Analysis, 'connections' | 'findings' | 'correlations'> = { connections: [], findings: [], correlations: [] };
  const hostOs = new Map<string, string>();
  let latest = 0;
  let n = 0;
  for await (const e of opts.reader.events()) {
    hostOs.set(e.host ?? UNKNOWN_HOST, e.os ?? opts.defaultOs ?? base.os);
    collect(pipeline.push(e), out);
    latest = Math.max(latest, Date.parse(e.time) || 0);
    // One window of grace for records out of order (several files, several hosts), then close.
    if (++n % EXPIRE_EVERY === 0) collect(pipeline.expire(latest - config.timeWindow), out);
  }
  collect(pipeline.finish(), out);
  warn.addAll(opts.reader.warnings());
  return {
    tool: { name: 'brokerwatch', version: version() },
    time: new Date().toISOString(),
    command: 'replay',
    inputs: opts.inputs,
    mode: config.mode,
    configFiles: files,
    warnings: warn.list(),
    stats: opts.reader.stats(),
    summary: pipeline.counts,
    hosts: summarizeHosts(hostOs, out),
    ...out,
    groups: groupFindings(out.findings),
  };
}

function summarizeHosts(hostOs: Map<string, string>, a: Pick<Analysis, 'connections' | 'findings' | 'correlations'>): HostSummary[] {
  const by = new Map<string, HostSummary>();
  const get = (host: string) => {
    let h = by.get(host);
    if (!h) {
      h = { host, os: hostOs.get(host) ?? 'unknown', connections: 0, findings: 0, correlations: 0 };
      by.set(host, h);
    }
    return h;
  };
  for (const host of hostOs.keys()) get(host);
  for (const c of a.connections) get(c.host ?? UNKNOWN_HOST).connections++;
  for (const f of a.findings) get(f.host ?? UNKNOWN_HOST).findings++;
  for (const c of a.correlations) get(c.host).correlations++;
  return [...by.values()].sort((x, y) => y.findings - x.findings || x.host.localeCompare(y.host));
}

/** A ReplaySource (platform/replay) as the reader replay needs. */
export function replaySourceReader(source: ReplaySource): RecordReader {
  return {
    async *events() {
      for await (const r of source.records()) yield r.event;
    },
    warnings: () => source.warnings(),
    stats: () => source.statsRecord(),
  };
}

/** `brokerwatch replay FILE...`: reads the files and runs them through the pipeline. */
export async function replayFiles(opts: Omit<ReplayOptions, 'reader'> & { format?: FormatOption }): Promise<ReplayReport> {
  const source = new ReplaySource(opts.inputs, opts.format ? { format: opts.format } : {});
  try {
    return await replayRecords({ ...opts, reader: replaySourceReader(source) });
  } finally {
    await source.close();
  }
}
