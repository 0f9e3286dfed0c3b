import type { Finding, Severity } from '../core/types';
import { RULE } from './judge';
import { maxSeverity, type Rules } from './rules';

/**
 * The YARA-L rule's outcome block for one host over one window: computed from the connections
 * that passed the event filter. Emitted when more than one connection matched (#net > 1).
 */
export interface Correlation {
  rule: string;
  technique: 'T1071.005';
  host: string;
  /** "snapshot" for a one-shot scan; the daemon uses ISO start/end of its time window. */
  window: { start: string; end: string } | 'snapshot';
  severity: Severity;
  /** #net: how many connection events matched. */
  event_count: number;
  /** The YARA-L outcome variables, under their names in the rule. */
  connection_count: number;
  protocols_seen: string[];
  initiating_process: string[];
  target_ips: string[];
}

function distinct(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** The seed's per-host aggregate over a set of matched findings (all from one host). */
export function correlate(findings: readonly Finding[], host: string, window: Correlation['window'], mode: Rules['mode']): Correlation | null {
  if (findings.length <= 1) return null;
  const severity = mode === 'yaral-parity' ? 'HIGH' : findings.reduce<Severity>((s, f) => maxSeverity(s, f.severity), 'INFORMATIONAL');
  return {
    rule: RULE.yaral,
    technique: 'T1071.005',
    host,
    window,
    severity,
    event_count: findings.length,
    connection_count: distinct(findings.map((f) => f.destination.ip)).length,
    protocols_seen: distinct(findings.map((f) => f.protocol)),
    initiating_process: distinct(findings.map((f) => f.process?.exe ?? '')).filter((p) => p !== ''),
    target_ips: distinct(findings.map((f) => f.destination.ip)),
  };
}

