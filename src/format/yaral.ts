/**
 * `export-rule --format yaral`: the Google SecOps (Chronicle) YARA-L 2.0 rule for the effective
 * config, so the SIEM and the endpoint judge with the same lists.
 *
 *  - yaral-parity: the rule t1071_005_pubsub_protocol_external_c2 as published (its meta, its
 *    IPv4-only private-range regex, its mosquitto exclusion, `#net > 1` per host). Its nine ports
 *    as published (the agent's parity judge uses them too, whatever protocolPortList says); the
 *    window from timeWindow. For the default config the output is the published rule byte for byte
 *    (test/format/export-rule.test.ts holds it to that).
 *  - det0002: the agent's DET0002 judgement. internalNetworks (IPv4 and IPv6) through
 *    net.ip_in_range_cidr, brokerAllowList and appContextFilter as exclusions, brokerReputationList
 *    as an override, unusualProcessList and the reputation hit as outcome variables, timeWindow as
 *    the match window.
 *
 * Regexes go in as written: YARA-L uses RE2, which has no look-around and no back-references, so
 * such patterns are reported as warnings (the agent's JavaScript regexes cannot be carried over).
 * YARA-L functions used: re.regex, net.ip_in_range_cidr, array_distinct, count_distinct, max, if
 * (https://cloud.google.com/chronicle/docs/detection/yara-l-2-0-functions).
 */
import type { Config } from '../config/schema';
import {
  asCidr, type Broker, brokers, entryPorts, type ProtocolPorts, protocolPorts, seedPorts, unusualPatterns, windowText,
} from './rule-parts';

export interface GeneratedRule {
  text: string;
  /** Things the SIEM rule cannot express as the agent does (said, never swallowed). */
  warnings: string[];
}

const PATH = '$net.principal.process.file.full_path';
const SEED_DESCRIPTION = 'Detects repeated outbound connections to pub/sub protocol ports (MQTT, XMPP, AMQP, STOMP) targeting non-RFC-1918 addresses. High suspicion for XMPP/STOMP and non-broker MQTT; medium for AMQP.';
/** The published rule's private/loopback filter (IPv4 only: in parity mode every IPv6 target is external). */
const SEED_PRIVATE_RE = '^(10\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.|192\\.168\\.|127\\.)';
const SEED_MOSQUITTO_RE = '(?i)(mosquitto_pub|mosquitto_sub|mosquitto)(\\.exe)?$';
/** The published rule aligns the protocol names of its outcome's if() chain at this column. */
const OUTCOME_ALIGN = 52;

/** A regex as a YARA-L string: a raw `...` literal unless the pattern itself holds a backtick. */
export function regexLiteral(pattern: string): string {
  if (!pattern.includes('`')) return `\`${pattern}\``;
  return `"${pattern.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function quoted(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Look-around and back-references: JavaScript has them, RE2 (YARA-L, most Sigma backends) does not. */
export function re2Problem(pattern: string): string | null {
  if (/\(\?<?[=!]/.test(pattern)) return 'look-around';
  if (/\\[1-9]|\\k</.test(pattern)) return 'a back-reference';
  return null;
}

function portTest(ports: readonly number[]): string {
  return ports.map((p) => `$net.target.port = ${p}`).join(' or ');
}

/** The nested if() that names the protocol of a port, as in the published rule's $protocols_seen. */
function protocolIf(table: readonly ProtocolPorts[], indent: string): string {
  const lines = table.map((t, i) => {
    const cond = portTest(t.ports);
    const last = i === table.length - 1;
    return `${indent}if(${cond},${' '.repeat(Math.max(1, OUTCOME_ALIGN - cond.length))}"${t.protocol}",${last ? ` "Unknown"${')'.repeat(table.length)}` : ''}`;
  });
  return lines.join('\n');
}

function parityRule(config: Config): GeneratedRule {
  const table = seedPorts();
  const mqtt = table.find((t) => t.protocol === 'MQTT')?.ports ?? [];
  const warnings = mqtt.length === 0 ? ['protocolPortList has no MQTT ports: the mosquitto exclusion names none'] : [];
  const text = `rule t1071_005_pubsub_protocol_external_c2 {
  meta:
    author          = "Detection Engineering"
    description     = "${SEED_DESCRIPTION}"
    mitre_attack_tactic   = "Command and Control"
    mitre_attack_technique = "T1071.005"
    severity        = "HIGH"
    priority        = "HIGH"

  events:
    $net.metadata.event_type = "NETWORK_CONNECTION"
    $net.network.direction   = "OUTBOUND"
    $net.target.port in (
${table.map((t) => `      ${t.ports.join(', ')}`).join(',\n')}
    )
    // Exclude RFC-1918 and loopback destinations
    not re.regex(
      $net.target.ip,
      \`${SEED_PRIVATE_RE}\`
    )
    // Exclude known-legitimate MQTT clients
    not (
      $net.target.port in (${mqtt.join(', ')}) and
      re.regex(${PATH}, \`${SEED_MOSQUITTO_RE}\`)
    )
    $net.principal.hostname = $host

  match:
    $host over ${windowText(config.timeWindow)}

  outcome:
    $connection_count  = count_distinct($net.target.ip)
    $protocols_seen    = array_distinct(
${protocolIf(table, '      ')}
    )
    $initiating_process = array_distinct(${PATH})
    $target_ips         = array_distinct($net.target.ip)

  condition:
    #net > 1
}
`;
  return { text, warnings };
}

/** The loopback blocks the agent never judges unless includeLoopback is set. */
const LOOPBACK = ['127.0.0.0/8', '::1/128'];

function brokerTest(b: Broker): string {
  return b.kind === 'hostname' ? `$net.target.hostname = ${quoted(b.broker)} nocase` : `net.ip_in_range_cidr($net.target.ip, ${quoted(asCidr(b))})`;
}

function limited(test: string, b: { ports?: number[]; protocols?: string[] }, table: readonly ProtocolPorts[]): string {
  const ports = entryPorts(b, table);
  return ports ? `(${test} and (${ports.length ? portTest(ports) : 'false'}))` : test;
}

function comment(text: string | undefined): string {
  return `// ${(text ?? '').replace(/[\r\n]+/g, ' ')}`;
}

function det0002Rule(config: Config): GeneratedRule {
  const warnings: string[] = [];
  const table = protocolPorts(config);
  const checkRegex = (where: string, p: string) => {
    const problem = re2Problem(p);
    if (problem) warnings.push(`${where} ${JSON.stringify(p)} uses ${problem}, which RE2 (YARA-L) does not support: fix the rule by hand`);
  };
  const internal = [...config.internalNetworks];
  if (!config.includeLoopback) for (const l of LOOPBACK) if (!internal.includes(l)) internal.push(l);
  // Each exclusion is one test; notes are comment lines placed before the test they explain.
  const exclusions: { test?: string; note?: string }[] = [];
  exclusions.push({ note: 'internalNetworks (IPv4 and IPv6): internal destinations are not judged' });
  for (const c of internal) {
    if (config.includeLoopback && LOOPBACK.includes(c)) continue;
    exclusions.push({ test: `not net.ip_in_range_cidr($net.target.ip, ${quoted(c)})` });
  }
  const allow = brokers(config.brokerAllowList);
  if (allow.length) exclusions.push({ note: 'brokerAllowList: known-good brokers' });
  for (const b of allow) {
    if (b.comment) exclusions.push({ note: b.comment });
    exclusions.push({ test: `not ${limited(brokerTest(b), b, table)}` });
  }
  if (config.appContextFilter.length) exclusions.push({ note: 'appContextFilter: approved applications, by full executable path (case as written)' });
  for (const app of config.appContextFilter) {
    checkRegex('appContextFilter process', app.process);
    const parts = [`re.regex(${PATH}, ${regexLiteral(app.process)})`];
    if (app.cmdline !== undefined) {
      checkRegex('appContextFilter cmdline', app.cmdline);
      parts.push(`re.regex($net.principal.process.command_line, ${regexLiteral(app.cmdline)})`);
    }
    const ports = entryPorts({ ...(app.protocols ? { protocols: app.protocols.map((p) => p.toUpperCase()) } : {}) }, table);
    if (ports) parts.push(`(${ports.length ? portTest(ports) : 'false'})`);
    if (app.brokers) parts.push(`(${brokers(app.brokers).map(brokerTest).join(' or ')})`);
    if (app.comment) exclusions.push({ note: app.comment });
    exclusions.push({ test: `not (${parts.join(' and ')})` });
  }
  const reputation = brokers(config.brokerReputationList).map((b) => limited(brokerTest(b), b, table));
  const lines = (indent: string, joiner: string): string[] => {
    const tests = exclusions.filter((e) => e.test !== undefined).length;
    let seen = 0;
    return exclusions.map((e) => {
      if (e.test === undefined) return `${indent}${comment(e.note)}`;
      seen++;
      return `${indent}${e.test}${seen < tests ? joiner : ''}`;
    });
  };
  const judged = reputation.length === 0
    ? lines('    ', '').join('\n')
    : [
        '    // brokerReputationList: a known-bad broker is a finding whatever else holds',
        '    (',
        ...reputation.map((r) => `      ${r} or`),
        '      (',
        ...lines('        ', ' and'),
        '      )',
        '    )',
      ].join('\n');

  const unusual = unusualPatterns(config);
  for (const u of unusual) checkRegex(`unusualProcessList.${u.os}`, u.source);
  // The same pattern under two OSes (curl, python) is one test.
  const unusualTest = [...new Set(unusual.map((u) => `re.regex(${PATH}, ${regexLiteral(`${u.caseInsensitive ? '(?i)' : ''}${u.pattern}`)})`))];
  const protocols = table.map((t) => t.protocol).join(', ');
  const text = `rule brokerwatch_t1071_005_det0002 {
  meta:
    author = "brokerwatch export-rule"
    description = "MITRE DET0002 (T1071.005): outbound connections to publish/subscribe broker ports (${protocols}) outside internalNetworks, to brokers not on brokerAllowList, from applications not approved by appContextFilter; any connection to a brokerReputationList broker. Generated from the brokerwatch configuration: regenerate it when the configuration changes."
    mitre_attack_tactic = "Command and Control"
    mitre_attack_technique = "T1071.005"
    severity = "HIGH"
    priority = "HIGH"

  events:
    $net.metadata.event_type = "NETWORK_CONNECTION"
    $net.network.direction = "OUTBOUND"
    // protocolPortList: ${table.map((t) => `${t.protocol} ${t.ports.join('/')}`).join(', ')}
    (${portTest(table.flatMap((t) => t.ports))})
${judged}
    $net.principal.hostname = $host

  match:
    $host over ${windowText(config.timeWindow)}

  outcome:
    $connection_count = count_distinct($net.target.ip)
    $protocols_seen = array_distinct(
${protocolIf(table, '      ')}
    )
    $initiating_process = array_distinct(${PATH})
    $target_ips = array_distinct($net.target.ip)
    // unusualProcessList (linux, windows, darwin), as full-path regexes: 1 when one matched
    $unusual_process = max(if(${unusualTest.length ? unusualTest.join(' or\n      ') : 'false'}, 1, 0))
${reputation.length ? `    $reputation_hit = max(if(${reputation.join(' or ')}, 1, 0))\n` : ''}
  condition:
    $net
}
`;
  return { text, warnings };
}

/** The YARA-L rule for a config, in the config's mode unless `mode` says otherwise. */
export function generateYaral(config: Config, mode: Config['mode'] = config.mode): GeneratedRule {
  return mode === 'yaral-parity' ? parityRule(config) : det0002Rule(config);
}
