import type { Config, OsName } from '../config/schema';
import { type Severity, SEVERITY_ORDER } from '../core/types';
import { AddressList, type Resolver } from './addresses';
import { AppContextFilter } from './appcontext';
import { NetworkClassifier } from './networks';
import { ExePatterns, osNameOf, ProcessPatterns } from './processes';
import type { TopicAnomalySettings } from './topics';

export interface PortInfo {
  protocol: string;
  tls: boolean;
}

/** Everything the analyzer needs, compiled once from a Config (regexes built, CIDRs parsed). */
export interface Rules {
  mode: Config['mode'];
  os: OsName;
  includeLoopback: boolean;
  ports: Map<number, PortInfo>;
  networks: NetworkClassifier;
  allow: AddressList;
  reputation: AddressList;
  brokerSoftware: ExePatterns;
  unusual: ProcessPatterns;
  apps: AppContextFilter;
  severityByProtocol: Record<string, Severity>;
  defaultSeverity: Severity;
  topic: (TopicAnomalySettings & { threshold: number }) | null;
  uriPathRegex: RegExp[];
  /** Web ports that carry brokers over HTTPS/WebSockets: judged by uriPathRegex (uripath.ts). */
  webBrokerPorts: Set<number>;
  timeWindowMs: number;
  /** HIGH-FREQUENCY-PUBLISH thresholds (wireInspection.highFrequency). */
  highFrequency: { publishesPerSecond: number; minPublishes: number };
}

export interface CompileOptions {
  /** The platform the events come from (default: this host's). Picks the unusualProcessList. */
  platform?: NodeJS.Platform;
  /** Judge loopback destinations as external (lab use: the Atomic tests aim at 127.0.0.1); default: the config's includeLoopback. */
  includeLoopback?: boolean;
}

/** Builds the port -> protocol map; a port listed under two protocols keeps the first. */
export function buildPortMap(protocolPortList: Record<string, number[]>, tlsPorts: readonly number[]): Map<number, PortInfo> {
  const tls = new Set(tlsPorts);
  const map = new Map<number, PortInfo>();
  for (const [protocol, ports] of Object.entries(protocolPortList)) {
    for (const port of ports) if (!map.has(port)) map.set(port, { protocol: protocol.toUpperCase(), tls: tls.has(port) });
  }
  return map;
}

/**
 * The parts of the rules that depend on the OS the events come from: its unusualProcessList, and
 * its case rule (Windows and macOS paths compare case-insensitively).
 */
function osRules(config: Config, os: OsName): Pick<Rules, 'os' | 'brokerSoftware' | 'unusual' | 'apps'> {
  const caseInsensitive = os !== 'linux';
  return {
    os,
    brokerSoftware: new ExePatterns(config.brokerSoftware, caseInsensitive),
    unusual: new ProcessPatterns(config.unusualProcessList[os], caseInsensitive),
    apps: new AppContextFilter(config.appContextFilter, caseInsensitive),
  };
}

export function compileRules(config: Config, options: CompileOptions = {}): Rules {
  const os = osNameOf(options.platform ?? process.platform);
  const severityByProtocol: Record<string, Severity> = {};
  for (const [p, s] of Object.entries(config.severityByProtocol)) severityByProtocol[p.toUpperCase()] = s;
  const t = config.topicAnomalyScore;
  const includeLoopback = options.includeLoopback ?? config.includeLoopback;
  return {
    mode: config.mode,
    ...osRules(config, os),
    includeLoopback,
    ports: buildPortMap(config.protocolPortList, config.tlsPorts),
    networks: new NetworkClassifier(config.internalNetworks, includeLoopback),
    allow: new AddressList(config.brokerAllowList),
    reputation: new AddressList(config.brokerReputationList),
    severityByProtocol,
    defaultSeverity: config.defaultSeverity,
    topic: t.enabled
      ? {
          topicPatterns: t.topicPatterns.map((p) => new RegExp(p, 'i')),
          entropyThreshold: t.entropyThreshold,
          minEntropyLength: t.minEntropyLength,
          payloadLengthThreshold: config.payloadLengthThreshold,
          threshold: t.threshold,
        }
      : null,
    uriPathRegex: config.uriPathRegex.map((p) => new RegExp(p, 'i')),
    webBrokerPorts: new Set(config.webBrokerPorts),
    timeWindowMs: config.timeWindow,
    highFrequency: { ...config.wireInspection.highFrequency },
  };
}

/** The rules for events from another OS (replay): the same compiled lists and networks, with that OS's parts. */
export function rulesForOs(base: Rules, config: Config, os: OsName): Rules {
  return os === base.os ? base : { ...base, ...osRules(config, os) };
}

/** Resolves host names in every broker list; returns one warning text per name that failed. */
export async function resolveBrokerNames(rules: Rules, resolver: Resolver): Promise<string[]> {
  const lists = [rules.allow, rules.reputation, ...rules.apps.brokerLists];
  const failures = (await Promise.all(lists.map((l) => l.resolve(resolver)))).flat();
  return failures.map((f) => `cannot resolve broker host name ${f}; it matches nothing until it resolves`);
}

/** One step up the severity ladder, capped at CRITICAL. */
export function raiseSeverity(s: Severity, steps = 1): Severity {
  const i = Math.min(SEVERITY_ORDER.length - 1, SEVERITY_ORDER.indexOf(s) + steps);
  return SEVERITY_ORDER[i] as Severity;
}

export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_ORDER.indexOf(a) >= SEVERITY_ORDER.indexOf(b) ? a : b;
}

export function minSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_ORDER.indexOf(a) <= SEVERITY_ORDER.indexOf(b) ? a : b;
}
