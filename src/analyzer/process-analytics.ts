import type { ConnectionEvent, Severity } from '../core/types';
import { ANALYTIC_BY_OS } from './processes';
import { raiseSeverity, type Rules } from './rules';

/**
 * The OS analytic (AN0002/AN0003/AN0004) for a finding: a process on unusualProcessList, or one
 * whose executable was deleted, adds the analytic id and raises the severity one step (once, even
 * when both hold). Appends to ids, reasons and details; returns the new severity.
 */
export function applyProcessAnalytic(conn: ConnectionEvent, rules: Rules, severity: Severity, ids: string[], reasons: string[], details: Record<string, unknown>): Severity {
  const analytic = ANALYTIC_BY_OS[rules.os];
  const unusual = rules.unusual.match(conn.process);
  let out = severity;
  if (unusual) {
    ids.push(analytic);
    out = raiseSeverity(out);
    reasons.push(`${unusual.on} ${JSON.stringify(unusual.value)} is on unusualProcessList.${rules.os} (${unusual.pattern}) - ${analytic}`);
  }
  if (conn.process?.exeDeleted) {
    if (!unusual) { ids.push(analytic); out = raiseSeverity(out); }
    reasons.push('the executable was deleted from disk after the process started');
    details.exeDeleted = true;
  }
  return out;
}
