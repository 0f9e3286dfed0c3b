import type { Correlation } from '../analyzer/correlation';
import { columns, endpointText, safeText } from '../core/text';
import type { Finding, JudgedConnection, Warning } from '../core/types';
import { type FindingGroup, groupFindings } from './groups';
import type { ScanReport } from './report';

/** What the human table shows, from a scan or a replay. */
export interface TableInput {
  headline: string[];
  findings: readonly Finding[];
  connections: readonly JudgedConnection[];
  correlations: readonly Correlation[];
  warnings: readonly Warning[];
}

const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function seen(g: FindingGroup): string {
  if (g.count === 1) return '';
  return g.firstSeen === g.lastSeen ? ` - ${g.count} connections` : ` - ${g.count} connections, first ${when(g.firstSeen)}, last ${when(g.lastSeen)}`;
}

/** Attributed findings: one row per group, its command line and reasons beneath. */
function findingRows(groups: readonly FindingGroup[], withHost: boolean): string[] {
  const header = ['SEVERITY', 'PROTOCOL', 'DESTINATION', 'COUNT', 'PID', 'USER', 'PROCESS', 'RULES'];
  const rows = [withHost ? ['HOST', ...header] : header];
  for (const g of groups) {
    const row = [
      g.severity, `${g.protocol}${g.tls ? '/TLS' : ''}`, endpointText(g.destination.ip, g.destination.port), String(g.count),
      g.process ? String(g.process.pid) : '-', safeText(g.process?.user ?? '-', 16), safeText(g.process?.exe ?? g.process?.name ?? '(unknown)', 48), g.rules.join(','),
    ];
    rows.push(withHost ? [safeText(g.host ?? '-', 24), ...row] : row);
  }
  const lines = columns(rows);
  const out = [lines[0] as string];
  groups.forEach((g, i) => {
    out.push(`${lines[i + 1] as string}${seen(g)}`);
    if (g.process?.cmdline) out.push(`    cmdline: ${safeText(g.process.cmdline, 200)}`);
    for (const reason of g.reasons) out.push(`    - ${safeText(reason, 300)}`);
  });
  return out;
}

/** Findings with no owner: one line per destination. */
function closedLines(groups: readonly FindingGroup[]): string[] {
  return groups.map((g) => {
    const what = g.closed ? `closed connection${g.count === 1 ? '' : 's'}` : `connection${g.count === 1 ? '' : 's'}`;
    const why = g.closed ? 'the process had closed the socket before the scan' : 'its owner could not be read (see warnings)';
    return `  ${g.count} ${what} to ${endpointText(g.destination.ip, g.destination.port)}${g.host ? ` from ${safeText(g.host)}` : ''} (${g.protocol}${g.tls ? '/TLS' : ''}, ${g.severity}), owner unknown - ${why}`;
  });
}

/** Allowed connections, grouped by process, destination and reason. */
function allowedRows(connections: readonly JudgedConnection[]): string[] {
  const groups = new Map<string, { c: JudgedConnection; count: number }>();
  for (const c of connections) {
    if (c.verdict.outcome === 'finding') continue;
    const key = [c.host ?? '', c.process?.pid ?? '', c.process?.exe ?? '', c.destination.ip, c.destination.port, c.verdict.reasons.join(';')].join('\u0000');
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { c, count: 1 });
  }
  if (groups.size === 0) return [];
  const rows = [['PROTOCOL', 'DESTINATION', 'COUNT', 'PID', 'PROCESS', 'WHY']];
  for (const { c, count } of groups.values()) {
    rows.push([c.verdict.protocol, endpointText(c.destination.ip, c.destination.port), String(count), c.process ? String(c.process.pid) : '-', safeText(c.process?.exe ?? c.process?.name ?? '(unknown)', 48), safeText(c.verdict.reasons.join('; '), 200)]);
  }
  return ['', 'ALLOWED', ...columns(rows)];
}

export function renderTable(t: TableInput): string {
  const out = [...t.headline];
  const groups = groupFindings(t.findings);
  const attributed = groups.filter((g) => g.attributed);
  const closed = groups.filter((g) => !g.attributed);
  const withHost = t.findings.some((f) => f.host !== undefined);
  if (attributed.length > 0) {
    const n = attributed.reduce((s, g) => s + g.count, 0);
    out.push('', `FINDINGS (${n} connection${n === 1 ? '' : 's'} in ${attributed.length} group${attributed.length === 1 ? '' : 's'}, most severe first)`, ...findingRows(attributed, withHost));
  }
  if (closed.length > 0) out.push('', 'FINDINGS WITH NO OWNER (closed sockets, or owners not readable)', ...closedLines(closed));
  out.push(...allowedRows(t.connections));
  for (const c of t.correlations) {
    const window = c.window === 'snapshot' ? '' : ` in ${when(c.window.start)} - ${when(c.window.end)}`;
    out.push('', `CORRELATION ${c.rule} (${c.severity}): ${c.event_count} connections from ${safeText(c.host)}${window} to ${c.connection_count} distinct external brokers; protocols ${c.protocols_seen.join(', ')}; processes ${c.initiating_process.map((p) => safeText(p)).join(', ') || '(unknown)'}`);
  }
  if (t.warnings.length > 0) {
    out.push('', 'WARNINGS (partial results)');
    for (const w of t.warnings) out.push(`  ${w.code}: ${safeText(w.message)}${w.count > 1 ? ` (x${w.count})` : ''}`);
  }
  return `${out.join('\n')}\n`;
}

/** The human view of a scan: grouped findings, most severe and attributed first, then the rest. */
export function reportTable(r: ScanReport): string {
  const s = r.summary;
  return renderTable({
    headline: [
      `brokerwatch scan: host ${safeText(r.host.hostname)} (${r.host.os ?? r.host.platform}), adapter ${r.adapter}, mode ${r.mode}`,
      `${s.findings} finding${s.findings === 1 ? '' : 's'}; ${s.judged} outbound pub/sub connection${s.judged === 1 ? '' : 's'} to external brokers judged (${s.allowed} allowed); not judged: ${s.ignoredInternal} internal, ${s.ignoredLoopback} loopback`,
    ],
    findings: r.findings,
    connections: r.connections,
    correlations: r.correlations,
    warnings: r.warnings,
  });
}
