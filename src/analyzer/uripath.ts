/**
 * AN0004's URIPathRegex: publish/subscribe over HTTPS and WebSockets (MQTT or STOMP over
 * WebSockets, XMPP over BOSH or WebSocket) uses web ports, so the port alone says nothing. The
 * signal is a process connected to a web broker port (webBrokerPorts) whose command line names a
 * URL whose path matches uriPathRegex (/mqtt, /ws, /stomp, /http-bind, /xmpp-websocket). The
 * analytic is macOS's, but curl, python or a shell do the same everywhere, so it runs on every OS.
 *
 * Severity: the protocol's severityByProtocol one step lower (the broker is inferred from a command
 * line, not proven by a broker port), one step up for an unusual process (unusualProcessList) or a
 * deleted executable, CRITICAL for a broker on brokerReputationList.
 */
import type { ConnectionEvent, DestinationClass, Severity, Verdict } from '../core/types';
import { SEVERITY_ORDER } from '../core/types';
import { endpointText } from '../core/text';
import { applyProcessAnalytic } from './process-analytics';
import type { Rules } from './rules';

export const RULE_URI_PATH = 'URI-PATH';
const RULE_REPUTATION = 'BROKER-REPUTATION';

export interface UriMatch {
  /** scheme://host:port/path as written, without user info, query or fragment. */
  url: string;
  /** The path that matched (percent-decoded when only the decoded form matched). */
  path: string;
  /** The uriPathRegex entry that matched. */
  pattern: string;
  tls: boolean;
  /** True when the path came from the HTTP request on the wire, not from the command line. */
  fromWire?: boolean;
}

// A URL with a scheme anywhere a token can start; a scheme-less one only with an explicit port
// (curl's "198.51.100.7:8083/mqtt"), so file paths such as /opt/app.d/ws/run are not URLs.
const URL_WITH_SCHEME = /(?<![A-Za-z0-9+.-])(https?|wss?):\/\/([^\s/?#"'<>`\\]*)(\/[^\s?#"'<>`\\]*)?/gi;
const URL_WITH_PORT = /(?<![\w.:/@%-])(\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):(\d{1,5})(\/[^\s?#"'<>`\\]*)/g;

interface UrlCandidate { scheme: string | null; authority: string; path: string }

function urlsIn(cmdline: string): UrlCandidate[] {
  const out: UrlCandidate[] = [];
  for (const m of cmdline.matchAll(URL_WITH_SCHEME)) {
    if (m[3] === undefined) continue;
    const authority = (m[2] as string).replace(/^[^@]*@/, ''); // user:password@ never leaves the host
    out.push({ scheme: (m[1] as string).toLowerCase(), authority, path: m[3] });
  }
  for (const m of cmdline.matchAll(URL_WITH_PORT)) out.push({ scheme: null, authority: `${m[1]}:${m[2]}`, path: m[3] as string });
  return out;
}

function percentDecoded(path: string): string | null {
  try {
    const d = decodeURIComponent(path);
    return d === path ? null : d;
  } catch {
    return null;
  }
}

/** The pattern as written in the config: RegExp.source escapes "/" (equivalent in a regex), so undo that. */
function patternText(re: RegExp): string {
  return re.source.replace(/\\\//g, '/');
}

/** The first URL in the command line whose path matches one of the patterns (as given or percent-decoded). */
export function findBrokerUri(cmdline: string | undefined, patterns: readonly RegExp[]): UriMatch | null {
  if (!cmdline || patterns.length === 0) return null;
  for (const u of urlsIn(cmdline)) {
    for (const path of [u.path, percentDecoded(u.path)]) {
      if (path === null) continue;
      const re = patterns.find((p) => p.test(path));
      if (re) return { url: `${u.scheme ? `${u.scheme}://` : ''}${u.authority}${u.path}`, path, pattern: patternText(re), tls: u.scheme === 'https' || u.scheme === 'wss' };
    }
  }
  return null;
}

/**
 * The HTTP request path the process sent (wire inspection), as a URL with the host name it resolved
 * when known (else the address): ws:// or wss:// when a WebSocket, http(s):// otherwise.
 */
export function wireBrokerUri(conn: ConnectionEvent, patterns: readonly RegExp[]): UriMatch | null {
  const path = conn.wire?.path;
  if (!path || patterns.length === 0) return null;
  const re = patterns.find((p) => p.test(path));
  if (!re) return null;
  const tls = conn.inspection === 'tls-plaintext';
  const scheme = conn.wire?.carrier === 'websocket' || (conn.wire?.subprotocols?.length ?? 0) > 0 ? (tls ? 'wss' : 'ws') : (tls ? 'https' : 'http');
  const host = conn.destination.hostname ?? endpointText(conn.destination.ip, conn.destination.port).replace(/:\d+$/, '');
  return { url: `${scheme}://${host}:${conn.destination.port}${path}`, path, pattern: patternText(re), tls, fromWire: true };
}

/** Which broker protocol a matched path names; WEBSOCKET when it does not say (/ws). */
export function protocolOfPath(path: string): string {
  if (/mqtt/i.test(path)) return 'MQTT';
  if (/stomp/i.test(path)) return 'STOMP';
  if (/xmpp|http-bind|bosh/i.test(path)) return 'XMPP';
  if (/amqp/i.test(path)) return 'AMQP';
  return 'WEBSOCKET';
}

const WEB_PROTOCOLS = ['MQTT', 'STOMP', 'XMPP', 'AMQP', 'WEBSOCKET'];

/**
 * The adapters' pre-filter for web ports: worth attributing only while uriPathRegex has entries.
 * Port 443 is on most hosts' busiest sockets, so this turns process attribution on for nearly every
 * scan; an empty uriPathRegex turns it (and this rule) off.
 */
export function isWebBrokerCandidate(ip: string, port: number, rules: Rules): boolean {
  if (rules.uriPathRegex.length === 0 || !rules.webBrokerPorts.has(port)) return false;
  return rules.networks.classify(ip) === 'external' || WEB_PROTOCOLS.some((p) => rules.reputation.match(ip, port, p) !== null);
}

function lowerSeverity(s: Severity): Severity {
  return SEVERITY_ORDER[Math.max(0, SEVERITY_ORDER.indexOf(s) - 1)] as Severity;
}

export interface UriPathJudgement extends Verdict {
  rules: string[];
  severity: Severity;
  details: Record<string, unknown>;
}

/**
 * Judges a connection to a web broker port. Null when the port is not one, the rule is off, or the
 * command line names no broker URI; otherwise subject to brokerAllowList and appContextFilter like
 * every other finding. `who` describes the process for the reasons.
 */
export function judgeUriPath(conn: ConnectionEvent, rules: Rules, who: string): UriPathJudgement | null {
  const port = conn.destination.port;
  if (!rules.webBrokerPorts.has(port)) return null;
  const match = findBrokerUri(conn.process?.cmdline, rules.uriPathRegex) ?? wireBrokerUri(conn, rules.uriPathRegex);
  if (!match) return null;
  const hostname = conn.destination.hostname;
  const protocol = protocolOfPath(match.path);
  const dest = endpointText(conn.destination.ip, port);
  const destinationClass: DestinationClass = rules.networks.classify(conn.destination.ip);
  const details: Record<string, unknown> = { uriPath: match.path, uriPathRegex: match.pattern, url: match.url, webBrokerPort: port };
  const base = { protocol, tls: match.tls, destinationClass, rules: [] as string[], severity: 'INFORMATIONAL' as Severity, details };
  const bad = rules.reputation.match(conn.destination.ip, port, protocol, hostname);
  if (destinationClass !== 'external' && !bad) {
    return { ...base, outcome: 'ignored', reasons: [destinationClass === 'loopback' ? 'loopback destination (use --include-loopback to judge it)' : 'internal destination (internalNetworks)'] };
  }
  if (!bad) {
    const allowed = rules.allow.match(conn.destination.ip, port, protocol, hostname);
    if (allowed) return { ...base, outcome: 'allowed', reasons: [`broker ${dest} is on brokerAllowList (${allowed.entry}${allowed.comment ? `: ${allowed.comment}` : ''})`] };
    const app = rules.apps.approveSocket(conn, protocol, conn.destination.ip, port, hostname);
    if (app.label !== null) return { ...base, outcome: 'allowed', reasons: [`${who} is an approved app (appContextFilter ${app.label})`] };
  }

  const ids = bad ? [RULE_REPUTATION, RULE_URI_PATH] : [RULE_URI_PATH];
  const said = match.fromWire ? 'its first bytes request' : 'its command line names';
  const reasons = [`${who} is connected to ${dest}, a web broker port (webBrokerPorts), and ${said} the broker URI ${match.url} (path ${JSON.stringify(match.path)} matches uriPathRegex ${match.pattern}): ${protocol} over ${match.tls ? 'HTTPS/WSS' : 'HTTP/WebSocket'}`];
  let severity = lowerSeverity(rules.severityByProtocol[protocol] ?? rules.defaultSeverity);
  severity = applyProcessAnalytic(conn, rules, severity, ids, reasons, details);
  if (bad) {
    severity = 'CRITICAL';
    reasons.push(`broker ${dest} is on brokerReputationList (${bad.entry}${bad.comment ? `: ${bad.comment}` : ''})`);
  }
  return { ...base, outcome: 'finding', reasons, rules: ids, severity };
}
