import type { ConnectionEvent, Finding, JudgedConnection } from '../core/types';

export { type Correlation, correlate } from './correlation';
import type { Correlation } from './correlation';
import { AnalysisPipeline, type PipelineCounts, type PipelineItem } from './pipeline';
import { SNAPSHOT } from './windows';
import type { Rules } from './rules';

export interface Analysis {
  connections: JudgedConnection[];
  findings: Finding[];
  correlations: Correlation[];
  /** Connections on pub/sub ports: judged, and not judged by why. */
  counts: PipelineCounts;
}

/** Collects pipeline items into the lists a report shows. */
export function collect(items: Iterable<PipelineItem>, into: Pick<Analysis, 'connections' | 'findings' | 'correlations'>): void {
  for (const item of items) {
    if (item.kind === 'connection') into.connections.push(item.value);
    else if (item.kind === 'finding') {
      into.findings.push(item.value);
      if (item.connection) into.connections.push(item.connection);
    } else into.correlations.push(item.value);
  }
}

/**
 * Judges a snapshot of outbound connections: the analysis pipeline over one window that holds the
 * whole snapshot. In yaral-parity mode a single matching connection is not a finding (the rule's
 * `#net > 1`); in det0002 mode every judged connection stands alone and the aggregate is reported
 * beside it.
 */
export function analyzeSnapshot(events: readonly ConnectionEvent[], rules: Rules, host: string): Analysis {
  const pipeline = new AnalysisPipeline({ rules, host, window: SNAPSHOT, beaconing: null });
  const out: Analysis = { connections: [], findings: [], correlations: [], counts: pipeline.counts };
  for (const e of events) collect(pipeline.push(e), out);
  collect(pipeline.finish(), out);
  return out;
}
