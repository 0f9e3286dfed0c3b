/**
 * `export-rule --format sigma`: Sigma rules (https://sigmahq.io/docs/basics/rules.html) in the
 * `network_connection` log source, with the field names of Sysmon Event ID 3 (Image, Initiated,
 * DestinationIp, DestinationHostname, DestinationPort), so sigma-cli turns them into queries for
 * Sysmon data in any SIEM. Two rules in one YAML stream:
 *  1. the connection rule: outbound (Initiated 'true') to a pub/sub port, not internal, not an
 *     allowlisted broker, not an approved app - or to a brokerReputationList broker at any rate;
 *  2. the same with an unusualProcessList image, one level higher (as the agent raises severity).
 * yaral-parity mode gives the published YARA-L rule's event filter instead (IPv4 private blocks and
 * loopback excluded, the mosquitto clients excluded on MQTT ports; Sigma has no `#net > 1`).
 * Rule ids are fixed UUIDs per mode and rule, so a regenerated rule replaces the old one.
 */
import YAML from 'yaml';
import type { Config } from '../config/schema';
import { asCidr, type Broker, brokers, entryPorts, type ProtocolPorts, protocolPorts, seedPorts, unusualPatterns } from './rule-parts';
import { type GeneratedRule, re2Problem } from './yaral';

type Detection = Record<string, unknown>;

const IDS = {
  det0002: '7c0b3e52-5f0e-4d7a-9a53-1e0c2b6d4f01',
  det0002Unusual: '7c0b3e52-5f0e-4d7a-9a53-1e0c2b6d4f02',
  parity: '7c0b3e52-5f0e-4d7a-9a53-1e0c2b6d4f03',
} as const;

const REFERENCES = ['https://attack.mitre.org/techniques/T1071/005/', 'https://attack.mitre.org/detectionstrategies/DET0002/'];
const TAGS = ['attack.command-and-control', 'attack.t1071.005'];
const LEVELS = ['informational', 'low', 'medium', 'high', 'critical'] as const;

/** One filter per broker: Sigma cannot OR an IP block and a host name inside one selection. */
function brokerSelection(b: Broker, table: readonly ProtocolPorts[]): Detection {
  const sel: Detection = b.kind === 'hostname' ? { DestinationHostname: b.broker } : { 'DestinationIp|cidr': asCidr(b) };
  const ports = entryPorts(b, table);
  if (ports) sel.DestinationPort = ports;
  return sel;
}

function ruleDoc(fields: Detection): string {
  return YAML.stringify(fields, { lineWidth: 0, aliasDuplicateObjects: false });
}

function det0002Rules(config: Config): GeneratedRule {
  const warnings: string[] = [];
  const table = protocolPorts(config);
  const loopback = config.includeLoopback ? [] : ['127.0.0.0/8', '::1/128'].filter((c) => !config.internalNetworks.includes(c));
  const internal = config.internalNetworks.filter((c) => !(config.includeLoopback && (c === '127.0.0.0/8' || c === '::1/128')));
  const detection: Detection = {
    selection: { Initiated: 'true', DestinationPort: table.flatMap((t) => t.ports) },
    filter_main_internal: { 'DestinationIp|cidr': [...internal, ...loopback] },
  };
  brokers(config.brokerAllowList).forEach((b, i) => { detection[`filter_main_allowlist_${i}`] = brokerSelection(b, table); });
  config.appContextFilter.forEach((app, i) => {
    const problem = re2Problem(app.process);
    if (problem) warnings.push(`appContextFilter process ${JSON.stringify(app.process)} uses ${problem}, which most Sigma backends do not support`);
    if (app.cmdline !== undefined) warnings.push(`appContextFilter[${i}] cmdline: Sysmon Event ID 3 has no command line; the Sigma rule approves ${app.process} by image only`);
    const base: Detection = { 'Image|re': app.process };
    const ports = entryPorts({ ...(app.protocols ? { protocols: app.protocols.map((p) => p.toUpperCase()) } : {}) }, table);
    if (ports) base.DestinationPort = ports;
    const list = app.brokers ? brokers(app.brokers) : [];
    if (list.length === 0) detection[`filter_main_app_${i}`] = base;
    // One filter per approved broker: an app is approved only towards its own brokers.
    list.forEach((b, j) => { detection[`filter_main_app_${i}_${j}`] = { ...base, ...brokerSelection(b, []) }; });
  });
  const bad = brokers(config.brokerReputationList);
  bad.forEach((b, i) => { detection[`reputation_${i}`] = brokerSelection(b, table); });
  const main = bad.length ? 'selection and (1 of reputation_* or not 1 of filter_main_*)' : 'selection and not 1 of filter_main_*';

  const unusual: Detection = {};
  for (const u of unusualPatterns(config)) {
    const problem = re2Problem(u.pattern);
    if (problem) warnings.push(`unusualProcessList.${u.os} ${JSON.stringify(u.source)} uses ${problem}, which most Sigma backends do not support`);
    const key = `unusual_${u.os}`;
    const field = u.caseInsensitive ? 'Image|re|i' : 'Image|re';
    const sel = (unusual[key] ??= { [field]: [] }) as Record<string, string[]>;
    sel[field]?.push(u.pattern);
  }
  const severity = LEVELS.indexOf((config.severityByProtocol.MQTT ?? config.defaultSeverity).toLowerCase() as (typeof LEVELS)[number]);
  const level = LEVELS[Math.max(0, severity)] ?? 'high';
  const raised = LEVELS[Math.min(LEVELS.length - 1, Math.max(0, severity) + 1)] ?? 'critical';
  const common = {
    status: 'experimental',
    references: REFERENCES,
    author: 'brokerwatch export-rule',
    tags: TAGS,
    logsource: { category: 'network_connection' },
  };
  const falsepositives = ['IoT fleet agents and chat clients keeping sessions to cloud brokers: add them to appContextFilter or brokerAllowList and regenerate'];
  const first = ruleDoc({
    title: 'Publish/Subscribe Protocol Connection to an External Broker',
    id: IDS.det0002,
    ...common,
    description: `MITRE DET0002 (T1071.005): outbound connection to a publish/subscribe broker port (${table.map((t) => `${t.protocol} ${t.ports.join('/')}`).join(', ')}) outside internalNetworks, to a broker not on brokerAllowList, from an application not approved by appContextFilter, or to any brokerReputationList broker. Generated from the brokerwatch configuration.`,
    detection: { ...detection, condition: main },
    falsepositives,
    level,
  });
  const second = ruleDoc({
    title: 'Publish/Subscribe Protocol Connection to an External Broker by an Unusual Process',
    id: IDS.det0002Unusual,
    ...common,
    description: 'As the first rule, from a process on unusualProcessList (DET0002 AN0002 Windows, AN0003 Linux, AN0004 macOS): scripting hosts, raw-socket tools, CLI broker clients, binaries in world-writable folders.',
    detection: { ...detection, ...unusual, condition: Object.keys(unusual).length ? `(${main}) and 1 of unusual_*` : main },
    falsepositives,
    level: raised,
  });
  return { text: `${first}---\n${second}`, warnings };
}

function parityRule(config: Config): GeneratedRule {
  const table = seedPorts();
  const mqtt = table.find((t) => t.protocol === 'MQTT')?.ports ?? [];
  const text = ruleDoc({
    title: 'Pub/Sub Protocol External C2 (YARA-L t1071_005_pubsub_protocol_external_c2 event filter)',
    id: IDS.parity,
    status: 'experimental',
    description: 'The event filter of the YARA-L rule t1071_005_pubsub_protocol_external_c2: outbound connections to pub/sub protocol ports targeting non-RFC-1918, non-loopback IPv4 addresses (every IPv6 address counts), except the mosquitto clients on MQTT ports. The YARA-L rule fires when a host has more than one such connection in its window; Sigma rules have no such count.',
    references: REFERENCES,
    author: 'brokerwatch export-rule',
    tags: TAGS,
    logsource: { category: 'network_connection' },
    detection: {
      selection: { Initiated: 'true', DestinationPort: table.flatMap((t) => t.ports) },
      filter_main_private: { 'DestinationIp|re': '^(10\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.|192\\.168\\.|127\\.)' },
      filter_main_mosquitto: { DestinationPort: mqtt, 'Image|re|i': '(mosquitto_pub|mosquitto_sub|mosquitto)(\\.exe)?$' },
      condition: 'selection and not 1 of filter_main_*',
    },
    falsepositives: ['IoT fleet management agents, unified communications clients (XMPP), developers testing against public brokers'],
    level: 'high',
  });
  return { text, warnings: [] };
}

/** The Sigma rule(s) for a config, in the config's mode unless `mode` says otherwise. */
export function generateSigma(config: Config, mode: Config['mode'] = config.mode): GeneratedRule {
  return mode === 'yaral-parity' ? parityRule(config) : det0002Rules(config);
}
