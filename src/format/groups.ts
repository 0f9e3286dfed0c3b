import { SEVERITY_ORDER, type Endpoint, type Finding, type ProcessInfo, type Severity } from '../core/types';

/**
 * Findings an analyst can read: identical findings (same process identity, destination and rules)
 * become one group with a count and first/last seen; findings with no owner (sockets already
 * closed, TIME_WAIT) become one group per destination. Groups are ordered attributed first, then by
 * severity, then by count. Nothing is dropped: every finding id is listed in its group.
 */
export interface FindingGroup {
  /** true when a process owns the connections; false for sockets whose owner is unknown. */
  attributed: boolean;
  /** Ownerless groups: the sockets were already closing or closed (TIME_WAIT, FIN_WAIT...), so no process holds them. */
  closed?: boolean;
  severity: Severity;
  protocol: string;
  tls: boolean;
  destination: Endpoint;
  /** The host the findings are from (replay), when the events named one. */
  host?: string;
  process: ProcessInfo | null;
  rules: string[];
  count: number;
  firstSeen: string;
  lastSeen: string;
  /** The reasons of the first finding of the group (the others say the same for another socket). */
  reasons: string[];
  findingIds: string[];
}

function processIdentity(p: ProcessInfo | null): string {
  return p ? `${p.pid}\u0000${p.startTime ?? ''}\u0000${p.exe ?? p.name ?? ''}` : '';
}

function groupKey(f: Finding): string {
  const dest = `${f.destination.ip}\u0000${f.destination.port}\u0000${f.host ?? ''}`;
  // Ownerless findings differ only in their source port: one group per destination.
  return f.process ? `p\u0000${processIdentity(f.process)}\u0000${dest}\u0000${f.rules.join(',')}` : `c\u0000${dest}\u0000${isClosed(f.state)}`;
}

const CLOSED_STATES = new Set(['TIME_WAIT', 'FIN_WAIT1', 'FIN_WAIT2', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE', 'CLOSED', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSING']);
const isClosed = (state: string) => CLOSED_STATES.has(state.toUpperCase());

const rank = (s: Severity) => SEVERITY_ORDER.indexOf(s);

export function groupFindings(findings: readonly Finding[]): FindingGroup[] {
  const groups = new Map<string, FindingGroup>();
  for (const f of findings) {
    const key = groupKey(f);
    const g = groups.get(key);
    if (!g) {
      const group: FindingGroup = {
        attributed: f.process !== null, severity: f.severity, protocol: f.protocol, tls: f.tls, destination: f.destination, process: f.process,
        rules: [...f.rules], count: 1, firstSeen: f.time, lastSeen: f.time, reasons: f.reasons, findingIds: [f.id],
      };
      if (f.host !== undefined) group.host = f.host;
      if (f.process === null) group.closed = isClosed(f.state);
      groups.set(key, group);
      continue;
    }
    g.count++;
    g.findingIds.push(f.id);
    if (f.time < g.firstSeen) g.firstSeen = f.time;
    if (f.time > g.lastSeen) g.lastSeen = f.time;
    if (rank(f.severity) > rank(g.severity)) g.severity = f.severity;
    for (const r of f.rules) if (!g.rules.includes(r)) g.rules.push(r);
  }
  return [...groups.values()].sort((a, b) =>
    Number(b.attributed) - Number(a.attributed) || rank(b.severity) - rank(a.severity) || b.count - a.count
    || a.destination.ip.localeCompare(b.destination.ip) || a.destination.port - b.destination.port);
}
