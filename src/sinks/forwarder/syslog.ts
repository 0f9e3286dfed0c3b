/**
 * RFC 5424 framing for the forwarder sink: `<PRI>1 TIMESTAMP HOSTNAME brokerwatch PROCID - - MSG`,
 * where MSG is the event's JSON line (no BOM: the JSON is UTF-8 and collectors' JSON parsers choke
 * on a BOM). Lines are LF-terminated (RFC 6587 non-transparent framing), which is what the
 * Chronicle forwarder's and Bindplane's syslog/tcplog receivers split on.
 *
 * Facility: local0 by default. The events are security telemetry of one product, and local0-7 are
 * the facilities sites route per product; auth/authpriv would land in the host's auth log on any
 * rsyslog relay in between. Configurable (`syslog.facility`).
 *
 * Severity: telemetry is informational (6). A finding's severity maps as CRITICAL -> crit (2),
 * HIGH -> err (3), MEDIUM -> warning (4), LOW -> notice (5), INFORMATIONAL -> info (6). emerg (0)
 * and alert (1) are left to "the system is unusable" conditions an agent cannot judge.
 */
import type { OutRecord } from '../../core/sink';

import { FACILITIES, type FacilityName } from '../../config/sinks';

export { FACILITIES, FACILITY_NAMES, type FacilityName } from '../../config/sinks';

export const SYSLOG_INFO = 6;
const FINDING_DEFAULT = 4; // a finding whose severity we cannot read is at least a warning

const BY_NAME: Record<string, number> = { CRITICAL: 2, HIGH: 3, MEDIUM: 4, LOW: 5, INFORMATIONAL: 6, INFO: 6 };
/** OCSF severity_id: 1 Informational .. 5 Critical, 6 Fatal; 0 Unknown and 99 Other say nothing. */
const BY_OCSF_ID: Record<number, number> = { 1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 2 };

/**
 * Syslog severity of a record: the most severe of UDM security_result[].severity, or OCSF
 * severity_id, or a plain `severity` string. Records without any are informational, unless
 * `finding` says the record is a finding (then warning).
 */
export function syslogSeverity(record: OutRecord, finding: boolean): number {
  let best = Infinity;
  const results = record.security_result;
  if (Array.isArray(results)) {
    for (const r of results) {
      const s = (r as Record<string, unknown> | null)?.severity;
      if (typeof s === 'string' && BY_NAME[s] !== undefined) best = Math.min(best, BY_NAME[s] as number);
    }
  }
  if (typeof record.severity_id === 'number' && BY_OCSF_ID[record.severity_id] !== undefined) best = Math.min(best, BY_OCSF_ID[record.severity_id] as number);
  if (typeof record.severity === 'string' && BY_NAME[record.severity.toUpperCase()] !== undefined) best = Math.min(best, BY_NAME[record.severity.toUpperCase()] as number);
  // Sysmon-shaped findings carry their severity in RuleName (src/format/sysmon.ts).
  const inRule = typeof record.RuleName === 'string' ? /(?:^|,)severity=([A-Z]+)(?:,|$| )/.exec(record.RuleName)?.[1] : undefined;
  if (inRule !== undefined && BY_NAME[inRule] !== undefined) best = Math.min(best, BY_NAME[inRule] as number);
  if (best !== Infinity) return best;
  return finding ? FINDING_DEFAULT : SYSLOG_INFO;
}

/** RFC 5424 HOSTNAME: printable US-ASCII without spaces, 1-255 characters, "-" when unknown. */
export function syslogHostname(name: string): string {
  const clean = name.replace(/[^\x21-\x7e]/g, '_').slice(0, 255);
  return clean === '' ? '-' : clean;
}

/** The header before the JSON, up to and including the space that starts MSG. */
export function syslogHeader(facility: number, severity: number, time: Date, hostname: string, pid: number): string {
  return `<${facility * 8 + severity}>1 ${time.toISOString()} ${hostname} brokerwatch ${pid} - - `;
}
