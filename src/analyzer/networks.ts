import ipaddr from 'ipaddr.js';
import type { DestinationClass } from '../core/types';
import { parseIp } from '../core/ip';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

const LOOPBACK: Range[] = [ipaddr.parseCIDR('127.0.0.0/8'), ipaddr.parseCIDR('::1/128')];

/**
 * Parses a CIDR block. An IPv4-mapped IPv6 block (::ffff:10.0.0.0/104) becomes the IPv4 block it
 * stands for: addresses are compared in canonical form, where a mapped address is IPv4, so the
 * IPv6 form would otherwise never match anything.
 */
export function parseRange(cidr: string): Range {
  const [addr, bits] = ipaddr.parseCIDR(cidr);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [addr, bits];
}

function inRanges(addr: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Range[]): boolean {
  return ranges.some((r) => r[0].kind() === addr.kind() && addr.match(r));
}

/**
 * Decides whether a destination is internal, loopback or external from the configured CIDR list
 * (not from ipaddr.js range names: 198.51.100.7 is "reserved" there but external here).
 * IPv4-mapped IPv6 addresses are matched as IPv4.
 */
export class NetworkClassifier {
  private readonly ranges: Range[];

  constructor(cidrs: readonly string[], private readonly loopbackIsExternal = false) {
    this.ranges = cidrs.map(parseRange);
  }

  classify(ip: string): DestinationClass {
    const addr = parseIp(ip);
    if (addr === null) return 'external';
    if (inRanges(addr, LOOPBACK)) return this.loopbackIsExternal ? 'external' : 'loopback';
    return inRanges(addr, this.ranges) ? 'internal' : 'external';
  }
}

/** True when ip lies in one of the given ranges (already-parsed CIDRs). */
export function ipInRanges(ip: string, ranges: readonly Range[]): boolean {
  const addr = parseIp(ip);
  return addr !== null && inRanges(addr, ranges);
}

export type { Range };
