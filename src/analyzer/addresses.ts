import type { BrokerEntry } from '../config/schema';
import { addressKind } from '../config/address-kind';
import { canonicalIp, parseIp } from '../core/ip';
import { parseRange, type Range } from './networks';

/** Resolves a host name to all its addresses (A and AAAA). Injected so tests can use a fixed table. */
export type Resolver = (hostname: string) => Promise<string[]>;

export const systemResolver: Resolver = async (hostname) => {
  const dns = require('node:dns/promises') as typeof import('node:dns/promises'); // loaded only when a name is resolved
  return (await dns.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
};

interface CompiledEntry {
  text: string;
  kind: 'ip' | 'cidr' | 'hostname';
  ips: Set<string>;
  range?: Range;
  ports?: Set<number>;
  protocols?: Set<string>;
  comment?: string;
}

export interface AddressMatch {
  entry: string;
  comment?: string;
}

/**
 * A list of brokers by IP, CIDR or host name, each optionally limited to ports or protocols
 * (brokerAllowList, brokerReputationList, appContextFilter brokers). Host names are resolved by
 * resolve() and again by each refresh; a name that does not resolve matches nothing and is reported.
 */
export class AddressList {
  private readonly entries: CompiledEntry[];
  /** Entries loaded from feeds (brokerReputationFeeds), by feed; each feed is replaced as a whole. */
  private readonly feeds = new Map<string, CompiledEntry[]>();

  constructor(entries: readonly BrokerEntry[]) {
    this.entries = entries.map((e) => compileEntry(e));
  }

  /**
   * Replaces the entries of one feed (an atomic swap: a match sees the old list or the new one).
   * Host names keep the addresses they resolved to before, until the next resolve().
   */
  setFeed(feed: string, entries: readonly string[], comment: string): void {
    const before = new Map((this.feeds.get(feed) ?? []).filter((e) => e.kind === 'hostname').map((e) => [e.text, e.ips]));
    this.feeds.set(feed, entries.map((text) => {
      const e = compileEntry({ broker: text, comment });
      const ips = before.get(text);
      if (ips) e.ips = ips;
      return e;
    }));
  }

  private all(): CompiledEntry[] {
    return this.feeds.size === 0 ? this.entries : [...this.entries, ...[...this.feeds.values()].flat()];
  }

  get hostnames(): string[] {
    return this.all().filter((e) => e.kind === 'hostname').map((e) => e.text);
  }

  get size(): number {
    return this.all().length;
  }

  /** Resolves every host-name entry. Returns one message per name that failed (it then matches nothing). */
  async resolve(resolver: Resolver): Promise<string[]> {
    const failures: string[] = [];
    await Promise.all(this.all().filter((e) => e.kind === 'hostname').map(async (e) => {
      try {
        const ips = (await resolver(e.text)).map(canonicalIp).filter((ip): ip is string => ip !== null);
        e.ips = new Set(ips);
        if (ips.length === 0) failures.push(`${e.text}: resolved to no addresses`);
      } catch (err) {
        // Keep the previous addresses on a failed refresh: a DNS hiccup must not flip verdicts.
        failures.push(`${e.text}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }));
    return failures;
  }

  /**
   * The first entry that covers this destination (and port/protocol, where the entry limits them).
   * A host-name entry also matches by name when the connection carries the name its process
   * resolved (`hostname`, from the wire probes): no DNS lookup of ours is needed then.
   */
  match(ip: string, port: number, protocol: string, hostname?: string): AddressMatch | null {
    const canonical = canonicalIp(ip);
    const addr = parseIp(ip);
    if (canonical === null || addr === null) return null;
    const name = hostname === undefined ? undefined : normalHostname(hostname);
    for (const e of this.all()) {
      if (e.ports && !e.ports.has(port)) continue;
      if (e.protocols && !e.protocols.has(protocol.toUpperCase())) continue;
      const byName = e.kind === 'hostname' && name !== undefined && normalHostname(e.text) === name;
      const hit = byName || (e.range ? e.range[0].kind() === addr.kind() && addr.match(e.range) : e.ips.has(canonical));
      if (hit) return e.comment ? { entry: e.text, comment: e.comment } : { entry: e.text };
    }
    return null;
  }
}

/** Host names compare case-insensitively and without the root's trailing dot. */
export function normalHostname(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function compileEntry(e: BrokerEntry): CompiledEntry {
  const spec = typeof e === 'string' ? { broker: e } : e;
  const kind = addressKind(spec.broker) ?? 'hostname';
  const compiled: CompiledEntry = { text: spec.broker, kind, ips: new Set() };
  if (kind === 'ip') compiled.ips.add(canonicalIp(spec.broker) as string);
  if (kind === 'cidr') compiled.range = parseRange(spec.broker);
  if (typeof e !== 'string') {
    if (e.ports) compiled.ports = new Set(e.ports);
    if (e.protocols) compiled.protocols = new Set(e.protocols.map((p) => p.toUpperCase()));
    if (e.comment) compiled.comment = e.comment;
  }
  return compiled;
}
