/**
 * Address-list entries: an IP address, a CIDR block or a host name. Kept apart from the config
 * schema (zod) so the analyzer can classify entries without loading the schema: a release binary
 * scanning with its prevalidated default config never loads zod.
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';

export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const addr = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || net.isIP(addr) === 0) return false;
  return Number(bits) <= (net.isIP(addr) === 4 ? 32 : 128) && ipaddr.isValidCIDR(text);
}

/** A host name as DNS allows it (RFC 1123 labels). */
const HOSTNAME_RE = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export type AddressKind = 'ip' | 'cidr' | 'hostname';

/** Classifies an address-list entry; null when it is none of IP, CIDR or host name. */
export function addressKind(text: string): AddressKind | null {
  // Text without a colon cannot be IPv6: the IPv6 check (a large regular expression) is skipped.
  if (text.includes(':') ? net.isIP(text) !== 0 : net.isIPv4(text)) return 'ip';
  if (text.includes('/')) return isCidr(text) ? 'cidr' : null;
  // All-numeric dotted text that is not a valid IP (e.g. 198.51.100.300) is a typo, not a host name.
  if (/^[\d.]+$/.test(text)) return null;
  return HOSTNAME_RE.test(text) ? 'hostname' : null;
}
