/**
 * Builds the bpftrace program from connect.bt. Pure: the caller reads the template. The only thing
 * ever put into the program text is a comparison chain of validated port integers.
 */
import type { Config } from '../../../src/config/schema';

export const PORT_FILTER_TOKEN = '__DPORT_FILTER__';
export const LOOPBACK_TOKEN = '__LOOPBACK__';
/** Output format version printed by the program's BEGIN probe ("R 2"). */
export const PROGRAM_FORMAT_VERSION = 2;

const v6Bytes = (bytes: number[]) => bytes.map((b, i) => `args->daddr_v6[${i}] == ${b}`).join(' && ');
/**
 * A loopback destination: 127.0.0.0/8 on an AF_INET socket; ::1 or ::ffff:127.0.0.0/104 on an
 * AF_INET6 one (its v4 daddr field holds a placeholder for native IPv6, so the v6 bytes decide).
 */
export const LOOPBACK_TEST = `((args->family == 2 && args->daddr[0] == 127) || (args->family == 10 && ((${v6Bytes([...Array(15).fill(0), 1])}) || (${v6Bytes([...Array(10).fill(0), 255, 255, 127])}))))`;

/** Sorted, de-duplicated ports; throws on anything that is not an integer 1-65535. */
export function validatePorts(ports: readonly unknown[]): number[] {
  if (ports.length === 0) throw new Error('no destination ports to trace (protocolPortList is empty)');
  for (const p of ports) {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
      throw new Error(`not a TCP port (integer 1-65535): ${JSON.stringify(p) ?? String(p)}`);
    }
  }
  return [...new Set(ports as number[])].sort((a, b) => a - b);
}

/** "(args->dport == 1883 || args->dport == 8883)" from validated ports. */
export function portFilter(ports: readonly unknown[]): string {
  return `(${validatePorts(ports).map((p) => `args->dport == ${p}`).join(' || ')})`;
}

export interface RenderOptions {
  /** Count loopback connects in the kernel instead of reporting them (default true: they are never judged). */
  dropLoopback?: boolean;
}

/** The program text with every filter token replaced; throws when the template lacks a token. */
export function renderProgram(template: string, ports: readonly unknown[], opts: RenderOptions = {}): string {
  for (const token of [PORT_FILTER_TOKEN, LOOPBACK_TOKEN]) {
    if (!template.includes(token)) throw new Error(`bpftrace template has no ${token} placeholder`);
  }
  return template.split(PORT_FILTER_TOKEN).join(portFilter(ports)).split(LOOPBACK_TOKEN).join(opts.dropLoopback === false ? '0' : LOOPBACK_TEST);
}

/**
 * The ports to trace for a configuration: every port the analyzer calls pub/sub (its port map, or
 * the YARA-L rule's ports in yaral-parity mode), every protocolPortList port, and webBrokerPorts
 * while uriPathRegex has entries in det0002 mode (the analyzer's candidates).
 */
export function tracedPorts(config: Pick<Config, 'protocolPortList' | 'webBrokerPorts' | 'uriPathRegex' | 'mode'>, isPubSubPort?: (port: number) => boolean): number[] {
  const ports = new Set(Object.values(config.protocolPortList).flat());
  if (config.mode === 'det0002' && config.uriPathRegex.length > 0) for (const p of config.webBrokerPorts) ports.add(p);
  if (isPubSubPort) for (let p = 1; p <= 65535; p++) if (isPubSubPort(p)) ports.add(p);
  return validatePorts([...ports]);
}
