import type { Analysis, Correlation } from '../analyzer/analyze';
import type { Finding, HostFacts, JudgedConnection, Warning } from '../core/types';
import type { FindingGroup } from './groups';

/** The `scan --json` document. Later commands (replay, status) reuse its parts. */
export interface ScanReport {
  tool: { name: 'brokerwatch'; version: string };
  time: string;
  host: HostFacts;
  adapter: string;
  mode: string;
  configFiles: string[];
  warnings: Warning[];
  stats: Record<string, number>;
  summary: Analysis['counts'];
  connections: JudgedConnection[];
  findings: Finding[];
  /** The findings grouped as the table shows them (every finding id is in one group). */
  groups: FindingGroup[];
  correlations: Correlation[];
}

/** Process fields that are only for internal use (argv duplicates cmdline) are kept: argv shows exact argument boundaries. */
export function reportJson(report: ScanReport): string {
  // JSON.stringify escapes every control character and quote, so hostile process strings stay inside their values.
  return `${JSON.stringify(report, null, 2)}\n`;
}
