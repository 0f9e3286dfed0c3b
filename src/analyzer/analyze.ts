import type { ConnectionEvent, Finding, JudgedConnection, Severity } from '../core/types';
import { judge, RULE } from './judge';
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

export interface Analysis {
  connections: JudgedConnection[];
  findings: Finding[];
  correlations: Correlation[];
  /** Connections on pub/sub ports that were not judged, by why. */
  counts: { judged: number; findings: number; allowed: number; ignoredInternal: number; ignoredLoopback: number; inbound: number };
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

/**
 * Judges a snapshot of outbound connections. In yaral-parity mode a single matching connection is
 * not a finding (the rule's `#net > 1`); in det0002 mode every judged connection stands alone and
 * the aggregate is reported beside it.
 */
export function analyzeSnapshot(events: readonly ConnectionEvent[], rules: Rules, host: string): Analysis {
  const counts: Analysis['counts'] = { judged: 0, findings: 0, allowed: 0, ignoredInternal: 0, ignoredLoopback: 0, inbound: 0 };
  const connections: JudgedConnection[] = [];
  let findings: Finding[] = [];
  for (const conn of events) {
    const j = judge(conn, rules);
    if (!j) continue;
    if (j.verdict.outcome === 'ignored') {
      if (j.verdict.destinationClass === 'loopback') counts.ignoredLoopback++;
      else counts.ignoredInternal++;
      continue;
    }
    counts.judged++;
    if (j.verdict.outcome === 'allowed') counts.allowed++;
    connections.push({ ...conn, direction: 'outbound', verdict: j.verdict });
    if (j.finding) findings.push(j.finding);
  }
  const correlation = correlate(findings, host, 'snapshot', rules.mode);
  if (rules.mode === 'yaral-parity' && !correlation) {
    // One event alone does not satisfy `#net > 1`: say so on the connection instead of reporting it.
    for (const c of connections) {
      if (c.verdict.outcome === 'finding') {
        c.verdict = { ...c.verdict, outcome: 'allowed', reasons: [...c.verdict.reasons, 'but the rule needs more than one matching event per host (#net > 1)'] };
        counts.allowed++;
      }
    }
    findings = [];
  }
  counts.findings = findings.length;
  return { connections, findings, correlations: correlation ? [correlation] : [], counts };
}
