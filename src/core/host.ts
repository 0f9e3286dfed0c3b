import fs from 'node:fs';
import os from 'node:os';
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

/** "NAME VERSION_ID" from os-release text (e.g. "Debian GNU/Linux 12"); undefined without a NAME. */
export function parseOsRelease(text: string): string | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) fields.set(m[1] as string, (m[2] as string).replace(/^(["'])(.*)\1$/, '$2'));
  }
  const name = fields.get('NAME');
  if (!name) return undefined;
  const ver = fields.get('VERSION_ID');
  return ver ? `${name} ${ver}` : name;
}

/** The machine id (32 hex digits) from machine-id text; undefined when it is not one. */
export function parseMachineId(text: string): string | undefined {
  const id = text.trim().toLowerCase();
  return /^[0-9a-f]{32}$/.test(id) ? id : undefined;
}

function firstReadable(files: string[]): string | undefined {
  for (const f of files) {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch { /* next */ }
  }
  return undefined;
}

/**
 * Host facts for every output (UDM principal). On Linux they come from the files themselves
 * (os-release, machine-id: two small reads, no child process); elsewhere from systeminformation,
 * loaded only then (OS facts and the machine id only - never its networkConnections, and never with
 * input from other processes). Any failure degrades to the node:os facts; it never fails a scan.
 */
export async function hostFacts(): Promise<HostFacts> {
  const facts: HostFacts = { hostname: os.hostname(), platform: process.platform, arch: process.arch, release: os.release(), ips: hostIps() };
  try {
    if (process.platform === 'linux') {
      const osName = parseOsRelease(firstReadable(['/etc/os-release', '/usr/lib/os-release']) ?? '');
      const id = parseMachineId(firstReadable(['/etc/machine-id', '/var/lib/dbus/machine-id']) ?? '');
      if (osName) facts.os = osName;
      if (id) facts.assetId = id;
      return facts;
    }
    const si = (require('systeminformation') as typeof import('systeminformation'));
    const [info, ids] = await Promise.all([si.osInfo(), si.uuid()]);
    if (info.distro) facts.os = info.release ? `${info.distro} ${info.release}` : info.distro;
    if (ids.os) facts.assetId = ids.os;
  } catch {
    /* host facts are decoration; the scan goes on without them */
  }
  return facts;
}
