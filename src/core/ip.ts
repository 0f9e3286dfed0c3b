import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The one way brokerwatch writes an IP address: validated with net.isIP first, IPv4-mapped IPv6
 * (::ffff:a.b.c.d) unwrapped to IPv4 with ipaddr.process(), IPv6 in RFC 5952 short form
 * (2001:db8::7). Returns null for anything that is not an IP address.
 */
export function canonicalIp(text: string): string | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // Zone ids (fe80::1%eth0) are kept off: they are not part of the address.
  const noZone = bare.includes('%') ? bare.slice(0, bare.indexOf('%')) : bare;
  if (net.isIP(noZone) === 0) return null;
  const addr = ipaddr.process(noZone);
  return addr.kind() === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
}

/**
 * Parsed addresses by text: the analyzer asks for the same few destinations many times (every rule,
 * every connection to a broker). Bounded: emptied when full, so a flood of distinct addresses costs
 * at most PARSED_MAX entries. Shared objects: callers only read them.
 */
const PARSED_MAX = 4096;
const parsed = new Map<string, ipaddr.IPv4 | ipaddr.IPv6 | null>();

/** Parsed form of a canonical address, for range matching. */
export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const known = parsed.get(text);
  if (known !== undefined) return known;
  const canonical = canonicalIp(text);
  const addr = canonical === null ? null : ipaddr.parse(canonical);
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(text, addr);
  return addr;
}
