/**
 * `scan`: the pipeline over one snapshot of the host's sockets. Picks the adapter through the
 * platform dispatcher, takes the snapshot, judges it, and returns the report the CLI prints.
 */
import { adapterNames, createSource } from '../../platform';
import { analyzeSnapshot } from '../analyzer/analyze';
import { type Resolver, systemResolver } from '../analyzer/addresses';
import { isCandidate, isPubSubPort, isWatchedPort, watchedPorts } from '../analyzer/judge';
import { compileRules, resolveBrokerNames } from '../analyzer/rules';
import { version } from '../config/embedded';
import { loadConfig } from '../config/load';
import { hostFacts } from '../core/host';
import { AdapterUnavailableError } from '../core/source';
import type { HostFacts } from '../core/types';
import { WarningCollector } from '../core/warnings';
import type { fetchFeed } from './feed-fetch';
import { ReputationFeeds } from './reputation-feeds';
import { groupFindings } from '../format/groups';
import type { ScanReport } from '../format/report';

export interface ScanOptions {
  configFiles: string[];
  includeLoopback?: boolean;
  /** An adapter name instead of the config's `adapter`. */
  adapter?: string;
  resolver?: Resolver;
  host?: () => Promise<HostFacts>;
  /** Reads a reputation feed (default: the file or HTTPS GET of feed-fetch.ts). */
  fetchFeed?: typeof fetchFeed;
}

export async function scanHost(opts: ScanOptions): Promise<ScanReport> {
  const { config, files, notices } = loadConfig(opts.configFiles);
  const rules = compileRules(config, opts.includeLoopback ? { includeLoopback: true } : {});
  const warn = new WarningCollector();
  if (config.brokerReputationFeeds.length > 0) {
    // Loaded once; a failed load or bad lines are warnings in the report, the rest still judges.
    const toWarning = (m: string) => warn.add('reputation-feed', m);
    const feeds = new ReputationFeeds(config.brokerReputationFeeds, { log: { error: toWarning, warn: toWarning, info: () => undefined, debug: () => undefined }, ...(opts.fetchFeed ? { fetch: opts.fetchFeed } : {}) });
    await feeds.loadAll();
    feeds.attach(rules.reputation);
  }
  const [hostInfo, nameFailures] = await Promise.all([(opts.host ?? hostFacts)(), resolveBrokerNames(rules, opts.resolver ?? systemResolver)]);
  for (const f of nameFailures) warn.add('broker-unresolved', f);
  for (const n of notices) warn.add('config-deprecated', n);

  const adapterName = opts.adapter ?? config.adapter;
  const source = createSource(adapterName, {
    config,
    isCandidate: (ip, port) => isCandidate(ip, port, rules),
    isPubSubPort: (port) => isPubSubPort(port, rules),
    isWatchedPort: (port) => isWatchedPort(port, rules),
    watchedPorts: watchedPorts(rules),
  });
  if (!source.snapshot) throw new AdapterUnavailableError(source.name, `it streams connects for \`brokerwatch run\` and cannot take a one-shot snapshot; scan with ${adapterNames().filter((a) => a !== source.name).join(' or ')}`);
  let snapshot;
  try {
    snapshot = await source.snapshot();
  } finally {
    await source.close();
  }
  warn.addAll(snapshot.warnings);
  const analysis = analyzeSnapshot(snapshot.connections, rules, hostInfo.hostname);
  const report: ScanReport = {
    tool: { name: 'brokerwatch', version: version() },
    time: new Date().toISOString(),
    host: hostInfo,
    adapter: source.name,
    mode: config.mode,
    configFiles: files,
    warnings: warn.list(),
    stats: snapshot.stats,
    summary: analysis.counts,
    connections: analysis.connections,
    findings: analysis.findings,
    groups: groupFindings(analysis.findings),
    correlations: analysis.correlations,
  };
  return report;
}
