/**
 * What `export-rule` takes from the effective config, in the order the config lists it, shared by
 * the YARA-L and Sigma generators (pure functions: the same config always gives the same text).
 */
import net from 'node:net';
import type { BrokerEntry, Config } from '../config/schema';
import { YARAL_PORTS } from '../analyzer/judge';

export type RuleMode = Config['mode'];

export interface ProtocolPorts {
  protocol: string;
  ports: number[];
}

/** protocolPortList with names upper-cased, a port listed twice kept under its first protocol (as the agent does). */
export function protocolPorts(config: Config): ProtocolPorts[] {
  const seen = new Set<number>();
  const out: ProtocolPorts[] = [];
  for (const [name, ports] of Object.entries(config.protocolPortList)) {
    const own = ports.filter((p) => !seen.has(p));
    own.forEach((p) => seen.add(p));
    if (own.length > 0) out.push({ protocol: name.toUpperCase(), ports: own });
  }
  return out;
}

export interface Broker {
  /** IP address, CIDR block or host name, as written. */
  broker: string;
  kind: 'ip' | 'cidr' | 'hostname';
  ports?: number[];
  protocols?: string[];
  comment?: string;
}

/** A broker-list entry in object form; a bare IP becomes a /32 or /128 block so one IP rule fits all. */
export function brokers(list: readonly BrokerEntry[]): Broker[] {
  return list.map((e) => {
    const spec = typeof e === 'string' ? { broker: e } : e;
    const family = net.isIP(spec.broker);
    const kind: Broker['kind'] = family !== 0 ? 'ip' : spec.broker.includes('/') ? 'cidr' : 'hostname';
    const b: Broker = { broker: spec.broker, kind };
    if (typeof e !== 'string') {
      if (e.ports) b.ports = e.ports;
      if (e.protocols) b.protocols = e.protocols.map((p) => p.toUpperCase());
      if (e.comment) b.comment = e.comment;
    }
    return b;
  });
}

/** An IP or CIDR entry as a CIDR block (an IP is a one-address block). */
export function asCidr(b: Broker): string {
  if (b.kind !== 'ip') return b.broker;
  return `${b.broker}/${net.isIP(b.broker) === 4 ? 32 : 128}`;
}

/** The ports an entry limited to protocols/ports covers (undefined: every pub/sub port). */
export function entryPorts(b: { ports?: number[]; protocols?: string[] }, table: readonly ProtocolPorts[]): number[] | undefined {
  if (!b.ports && !b.protocols) return undefined;
  let ports = b.protocols ? table.filter((t) => b.protocols?.includes(t.protocol)).flatMap((t) => t.ports) : table.flatMap((t) => t.ports);
  if (b.ports) ports = b.protocols ? ports.filter((p) => b.ports?.includes(p)) : b.ports;
  return ports;
}

/**
 * An unusualProcessList pattern as a regex over the FULL executable path. The agent tests a pattern
 * without a path separator against the file name; anchored at the start (^name) that becomes
 * "after the last separator", unanchored it must still match inside the last path component.
 */
export function fullPathPattern(source: string): string {
  if (source.includes('/') || source.includes('\\\\')) return source;
  if (source.startsWith('^')) return `(^|[/\\\\])${source.slice(1)}`;
  return `(${source})[^/\\\\]*$`;
}

/** The OS lists with their case rule (Windows and macOS file systems are case-insensitive). */
export function unusualPatterns(config: Config): { os: string; source: string; pattern: string; caseInsensitive: boolean }[] {
  const lists = config.unusualProcessList;
  return (['linux', 'windows', 'darwin'] as const).flatMap((os) =>
    lists[os].map((p) => ({ os, source: p, pattern: fullPathPattern(p), caseInsensitive: os !== 'linux' })));
}

/** A duration in milliseconds as YARA-L/Sigma write it: the largest whole unit (1h, 90m, 30s). */
export function windowText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

/** The published rule's ports, which the agent's parity judge uses too (judgeYaral), whatever protocolPortList says. */
export function seedPorts(): ProtocolPorts[] {
  const table: ProtocolPorts[] = [];
  for (const [port, protocol] of YARAL_PORTS) {
    const row = table.find((t) => t.protocol === protocol);
    if (row) row.ports.push(port);
    else table.push({ protocol, ports: [port] });
  }
  return table;
}

