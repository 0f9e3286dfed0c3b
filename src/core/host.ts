import os from 'node:os';
import si from 'systeminformation';
import { canonicalIp } from './ip';
import type { HostFacts } from './types';

/** This host's non-loopback addresses, canonical form. */
export function hostIps(): string[] {
  const out = new Set<string>();
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      const ip = canonicalIp(a.address);
      if (ip !== null) out.add(ip);
    }
  }
  return [...out];
}

/**
 * Host facts for every output (UDM principal). systeminformation is used for OS facts and the
 * machine id only - never its networkConnections, and never with input from other processes.
 * Any failure there degrades to the node:os facts; it never fails a scan.
 */
export async function hostFacts(): Promise<HostFacts> {
  const facts: HostFacts = { hostname: os.hostname(), platform: process.platform, arch: process.arch, release: os.release(), ips: hostIps() };
  try {
    const [info, ids] = await Promise.all([si.osInfo(), si.uuid()]);
    if (info.distro) facts.os = info.release ? `${info.distro} ${info.release}` : info.distro;
    if (ids.os) facts.assetId = ids.os;
  } catch {
    /* host facts are decoration; the scan goes on without them */
  }
  return facts;
}
