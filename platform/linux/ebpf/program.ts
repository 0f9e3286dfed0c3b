/**
 * Builds the bpftrace program from connect.bt. Pure: the caller reads the template. The only thing
 * ever put into the program text is a comparison chain of validated port integers.
 */
import type { Config } from '../../../src/config/schema';

export const PORT_FILTER_TOKEN = '__DPORT_FILTER__';
/** Output format version printed by the program's BEGIN probe ("R 1"). */
export const PROGRAM_FORMAT_VERSION = 1;

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

/** The program text with every filter token replaced; throws when the template has no token. */
export function renderProgram(template: string, ports: readonly unknown[]): string {
  if (!template.includes(PORT_FILTER_TOKEN)) throw new Error(`bpftrace template has no ${PORT_FILTER_TOKEN} placeholder`);
  return template.split(PORT_FILTER_TOKEN).join(portFilter(ports));
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
