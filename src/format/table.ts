import type { ScanReport } from './report';
import { columns, endpointText, safeText } from '../core/text';

/** The human view of a scan: findings first with their reasons, then the other judged connections. */
export function reportTable(r: ScanReport): string {
  const out: string[] = [];
  const s = r.summary;
  out.push(`brokerwatch scan: host ${safeText(r.host.hostname)} (${r.host.os ?? r.host.platform}), adapter ${r.adapter}, mode ${r.mode}`);
  out.push(`${s.findings} finding${s.findings === 1 ? '' : 's'}; ${s.judged} outbound pub/sub connection${s.judged === 1 ? '' : 's'} to external brokers judged (${s.allowed} allowed); not judged: ${s.ignoredInternal} internal, ${s.ignoredLoopback} loopback`);
  if (r.findings.length > 0) {
    out.push('', 'FINDINGS');
    const rows = [['SEVERITY', 'PROTOCOL', 'DESTINATION', 'PID', 'USER', 'PROCESS', 'RULES']];
    for (const f of r.findings) {
      rows.push([
        f.severity, `${f.protocol}${f.tls ? '/TLS' : ''}`, endpointText(f.destination.ip, f.destination.port),
        f.process ? String(f.process.pid) : '-', safeText(f.process?.user ?? '-', 16), safeText(f.process?.exe ?? f.process?.name ?? '(unknown)', 48), f.rules.join(','),
      ]);
    }
    const lines = columns(rows);
    out.push(lines[0] as string);
    r.findings.forEach((f, i) => {
      out.push(lines[i + 1] as string);
      if (f.process?.cmdline) out.push(`    cmdline: ${safeText(f.process.cmdline, 200)}`);
      for (const reason of f.reasons) out.push(`    - ${safeText(reason, 300)}`);
    });
  }
  const allowed = r.connections.filter((c) => c.verdict.outcome !== 'finding');
  if (allowed.length > 0) {
    out.push('', 'ALLOWED');
    const rows = [['PROTOCOL', 'DESTINATION', 'PID', 'PROCESS', 'WHY']];
    for (const c of allowed) {
      rows.push([c.verdict.protocol, endpointText(c.destination.ip, c.destination.port), c.process ? String(c.process.pid) : '-', safeText(c.process?.exe ?? c.process?.name ?? '(unknown)', 48), safeText(c.verdict.reasons.join('; '), 200)]);
    }
    out.push(...columns(rows));
  }
  for (const c of r.correlations) {
    out.push('', `CORRELATION ${c.rule} (${c.severity}): ${c.event_count} connections from ${safeText(c.host)} to ${c.connection_count} distinct external brokers; protocols ${c.protocols_seen.join(', ')}; processes ${c.initiating_process.map((p) => safeText(p)).join(', ') || '(unknown)'}`);
  }
  if (r.warnings.length > 0) {
    out.push('', 'WARNINGS (partial results)');
    for (const w of r.warnings) out.push(`  ${w.code}: ${safeText(w.message)}${w.count > 1 ? ` (x${w.count})` : ''}`);
  }
  return `${out.join('\n')}\n`;
}
