import crypto from 'node:crypto';
import type { ConnectionEvent, Finding, ProcessInfo, Severity, Verdict } from '../core/types';
import { endpointText } from '../core/text';
import { applyProcessAnalytic } from './process-analytics';
import { baseName } from './processes';
import { maxSeverity, minSeverity, raiseSeverity, type Rules } from './rules';
import { readMqttCliIntent, scoreTopicAnomaly, scoreWireAnomaly } from './topics';
import { applyWire, portOrWireProtocol } from './wire-judge';
import { isWebBrokerCandidate, judgeUriPath } from './uripath';

export const RULE = {
  external: 'PUBSUB-EXTERNAL',
  reputation: 'BROKER-REPUTATION',
  topic: 'TOPIC-ANOMALY',
  yaral: 't1071_005_pubsub_protocol_external_c2',
} as const;

export interface Judgement {
  verdict: Verdict;
  finding: Finding | null;
}

export function describeProcess(p: ProcessInfo | undefined): string {
  if (!p) return 'an unknown process';
  const what = p.exe ?? p.name ?? '?';
  return `${baseName(what)} (pid ${p.pid}${p.exe ? `, ${p.exe}` : ''})`;
}

function holderList(holders: readonly ProcessInfo[]): string {
  return holders.map(describeProcess).join(', ');
}

/** Stable id for a finding on one connection: the same socket seen twice gets the same id. */
export function findingId(parts: readonly (string | number | undefined)[]): string {
  return crypto.createHash('sha256').update(parts.map((p) => String(p ?? '')).join('\u0000')).digest('hex').slice(0, 16);
}

function makeFinding(conn: ConnectionEvent, rules: string[], severity: Severity, protocol: string, tls: boolean, reasons: string[], details?: Record<string, unknown>): Finding {
  const f: Finding = {
    id: findingId([rules.join(','), conn.process?.pid, conn.process?.exe, conn.source.ip, conn.source.port, conn.destination.ip, conn.destination.port, conn.process?.startTime, ...(conn.host !== undefined ? [conn.host] : [])]),
    rules,
    technique: 'T1071.005',
    severity,
    protocol,
    tls,
    time: conn.time,
    transport: conn.transport,
    state: conn.state,
    process: conn.process ?? null,
    destination: conn.destination,
    source: conn.source,
    reasons,
  };
  if (conn.host !== undefined) f.host = conn.host;
  if (details && Object.keys(details).length > 0) f.details = details;
  return f;
}

/**
 * DET0002 judgement of one outbound connection. Returns null when neither the destination port nor
 * the connection's first bytes (wire inspection) say pub/sub (the connection is not ours to judge).
 */
export function judgeDet0002(conn: ConnectionEvent, rules: Rules): Judgement | null {
  const info = portOrWireProtocol(conn, rules);
  if (!info) return null;
  const { protocol, tls } = info;
  const hostname = conn.destination.hostname;
  const dest = `${endpointText(conn.destination.ip, conn.destination.port)}${hostname ? ` (${JSON.stringify(hostname)})` : ''}`;
  const destinationClass = rules.networks.classify(conn.destination.ip);
  const verdict = (outcome: Verdict['outcome'], reasons: string[]): Verdict => ({ protocol, tls, destinationClass, outcome, reasons });

  const bad = rules.reputation.match(conn.destination.ip, conn.destination.port, protocol, hostname);
  if (destinationClass !== 'external' && !bad) {
    const why = destinationClass === 'loopback' ? 'loopback destination (use --include-loopback to judge it)' : 'internal destination (internalNetworks)';
    return { verdict: verdict('ignored', [why]), finding: null };
  }
  if (!bad) {
    const allowed = rules.allow.match(conn.destination.ip, conn.destination.port, protocol, hostname);
    if (allowed) return { verdict: verdict('allowed', [`broker ${dest} is on brokerAllowList (${allowed.entry}${allowed.comment ? `: ${allowed.comment}` : ''})`]), finding: null };
    const app = rules.apps.approveSocket(conn, protocol, conn.destination.ip, conn.destination.port, hostname);
    if (app.label !== null) {
      const all = (conn.holders?.length ?? 0) > 1 ? `every process holding the socket (${holderList(conn.holders as ProcessInfo[])}) is an approved app` : `${describeProcess(conn.process)} is an approved app`;
      return { verdict: verdict('allowed', [`${all} (appContextFilter ${app.label})`]), finding: null };
    }
    // A shared socket: the finding names the holder that is not approved.
    if (app.blamed && app.blamed !== conn.process) conn = { ...conn, process: app.blamed };
  }
  const who = describeProcess(conn.process);

  const ruleIds: string[] = [];
  const reasons: string[] = [];
  const details: Record<string, unknown> = {};
  let severity: Severity = rules.severityByProtocol[protocol] ?? rules.defaultSeverity;
  if (bad) {
    ruleIds.push(RULE.reputation);
    severity = 'CRITICAL';
    reasons.push(`broker ${dest} is on brokerReputationList (${bad.entry}${bad.comment ? `: ${bad.comment}` : ''})`);
  } else {
    ruleIds.push(RULE.external);
    reasons.push(`outbound ${protocol}${tls ? ' over TLS' : ''} connection from ${who} to external broker ${dest}, which is not on brokerAllowList, and the app is not approved (appContextFilter)`);
  }
  if ((conn.holders?.length ?? 0) > 1) {
    const holders = conn.holders as ProcessInfo[];
    details.holders = holders.map((h) => ({ pid: h.pid, ...(h.exe !== undefined ? { exe: h.exe } : {}), ...(h.name !== undefined ? { name: h.name } : {}) }));
    reasons.push(`the socket is held by ${holders.length} processes: ${holderList(holders)}; a shared socket is approved only if every holder is`);
  }

  const brokerSw = rules.brokerSoftware.match(conn.process?.exe);
  if (brokerSw && !bad) {
    severity = minSeverity(severity, 'MEDIUM');
    reasons.push(`the process is broker software (brokerSoftware ${brokerSw}): broker-to-broker traffic such as a bridge, so at most MEDIUM`);
  }

  severity = applyProcessAnalytic(conn, rules, severity, ruleIds, reasons, details);
  severity = applyWire(conn, rules, info, severity, ruleIds, reasons, details);

  if (rules.topic && !bad && conn.wire?.pubsub) {
    const anomaly = scoreWireAnomaly(conn.wire, rules.topic);
    details.topicAnomalyScore = anomaly.score;
    if (anomaly.score >= rules.topic.threshold && anomaly.score > 0) {
      ruleIds.push(RULE.topic);
      severity = raiseSeverity(severity);
      reasons.push(...anomaly.indicators.map((i) => `TopicAnomalyScore (wire): ${i}`));
    }
  } else if (rules.topic && !bad) {
    const intent = readMqttCliIntent(conn.process);
    if (intent) {
      const anomaly = scoreTopicAnomaly(intent, rules.topic);
      details.topics = intent.topics;
      if (intent.payloadSource) details.payloadSource = intent.payloadSource;
      if (intent.message !== undefined) details.messageBytes = Buffer.byteLength(intent.message, 'utf8');
      details.topicAnomalyScore = anomaly.score;
      if (anomaly.score >= rules.topic.threshold && anomaly.score > 0) {
        ruleIds.push(RULE.topic);
        severity = raiseSeverity(severity);
        reasons.push(...anomaly.indicators.map((i) => `TopicAnomalyScore: ${i}`));
      }
    }
  }

  if (!conn.process) {
    reasons.push(conn.state === 'TIME_WAIT'
      ? 'the owning process already closed the socket (TIME_WAIT): the connection happened, its owner is unknown'
      : 'the owning process could not be identified (see warnings)');
  }
  if (bad) severity = maxSeverity(severity, 'CRITICAL');
  return { verdict: verdict('finding', reasons), finding: makeFinding(conn, ruleIds, severity, protocol, tls, reasons, details) };
}

/* The YARA-L rule's event filter, verbatim. */
export const YARAL_PORTS: ReadonlyMap<number, string> = new Map([
  [1883, 'MQTT'], [8883, 'MQTT'], [5222, 'XMPP'], [5223, 'XMPP'], [5269, 'XMPP'], [5672, 'AMQP'], [5671, 'AMQP'], [61613, 'STOMP'], [61614, 'STOMP'],
]);
const YARAL_PRIVATE_RE = /^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.|127\.)/;
const YARAL_PRIVATE_NO_LOOPBACK_RE = /^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.)/;
const YARAL_MOSQUITTO_RE = /(mosquitto_pub|mosquitto_sub|mosquitto)(\.exe)?$/i;

/**
 * yaral-parity: the YARA-L rule's per-event filter exactly as written - IPv4-only private regex
 * (so every IPv6 destination counts as external), the mosquitto exclusion on MQTT ports, no
 * allowlists. Whether it becomes a finding depends on the per-host count (#net > 1): see analyze.ts.
 */
export function judgeYaral(conn: ConnectionEvent, rules: Rules): Judgement | null {
  const protocol = YARAL_PORTS.get(conn.destination.port);
  if (!protocol) return null;
  const tls = rules.ports.get(conn.destination.port)?.tls ?? false;
  const destinationClass = rules.networks.classify(conn.destination.ip);
  const privateRe = rules.includeLoopback ? YARAL_PRIVATE_NO_LOOPBACK_RE : YARAL_PRIVATE_RE;
  const verdict = (outcome: Verdict['outcome'], reasons: string[]): Verdict => ({ protocol, tls, destinationClass, outcome, reasons });
  if (privateRe.test(conn.destination.ip)) return { verdict: verdict('ignored', ['target.ip matches the YARA-L private/loopback regex']), finding: null };
  const fullPath = conn.process?.exe ?? '';
  if ((conn.destination.port === 1883 || conn.destination.port === 8883) && YARAL_MOSQUITTO_RE.test(fullPath)) {
    return { verdict: verdict('allowed', ['YARA-L excludes mosquitto/mosquitto_pub/mosquitto_sub on MQTT ports']), finding: null };
  }
  const reasons = [`outbound ${protocol} connection from ${describeProcess(conn.process)} to ${endpointText(conn.destination.ip, conn.destination.port)} matches the YARA-L event filter`];
  return { verdict: verdict('finding', reasons), finding: makeFinding(conn, [RULE.yaral], 'HIGH', protocol, tls, reasons) };
}

export function judge(conn: ConnectionEvent, rules: Rules): Judgement | null {
  return rules.mode === 'yaral-parity' ? judgeYaral(conn, rules) : judgeDet0002(conn, rules) ?? judgeWebBroker(conn, rules);
}

/** AN0004 URIPathRegex on web broker ports (uripath.ts): null unless the command line names a broker URI. */
function judgeWebBroker(conn: ConnectionEvent, rules: Rules): Judgement | null {
  const u = judgeUriPath(conn, rules, describeProcess(conn.process));
  if (!u) return null;
  const { rules: ruleIds, severity, details, ...verdict } = u;
  return { verdict, finding: verdict.outcome === 'finding' ? makeFinding(conn, ruleIds, severity, verdict.protocol, verdict.tls, verdict.reasons, details) : null };
}

/**
 * Could a connection to this destination port matter at all (pub/sub ports, and web broker ports
 * while uriPathRegex is set)? Adapters use it to skip rows before decoding their addresses.
 */
export function isWatchedPort(port: number, rules: Rules): boolean {
  return isPubSubPort(port, rules) || (rules.mode !== 'yaral-parity' && rules.uriPathRegex.length > 0 && rules.webBrokerPorts.has(port));
}

/** Every port isWatchedPort accepts, as a sorted list (an adapter's in-kernel filter). */
export function watchedPorts(rules: Rules): number[] {
  const ports = new Set<number>(rules.mode === 'yaral-parity' ? [...YARAL_PORTS.keys()] : [...rules.ports.keys()]);
  if (rules.mode !== 'yaral-parity' && rules.uriPathRegex.length > 0) for (const p of rules.webBrokerPorts) ports.add(p);
  return [...ports].sort((a, b) => a - b);
}

/** Is this a pub/sub destination port in the active mode (whatever the address)? */
export function isPubSubPort(port: number, rules: Rules): boolean {
  return rules.mode === 'yaral-parity' ? YARAL_PORTS.has(port) : rules.ports.has(port);
}

/**
 * Cheap pre-filter for adapters: is this remote endpoint worth attributing to a process?
 * True for pub/sub ports on destinations the active mode would judge (or a reputation-listed broker),
 * and in det0002 mode for webBrokerPorts while uriPathRegex has entries (443 makes that most hosts).
 */
export function isCandidate(ip: string, port: number, rules: Rules): boolean {
  if (rules.mode === 'yaral-parity') {
    if (!YARAL_PORTS.has(port)) return false;
    return !(rules.includeLoopback ? YARAL_PRIVATE_NO_LOOPBACK_RE : YARAL_PRIVATE_RE).test(ip);
  }
  const info = rules.ports.get(port);
  if (!info) return isWebBrokerCandidate(ip, port, rules); // web ports, only while uriPathRegex is set
  return rules.networks.classify(ip) === 'external' || rules.reputation.match(ip, port, info.protocol) !== null;
}
