import type { Config } from '../config/schema';
import type { ConnectionEvent, Finding, JudgedConnection } from '../core/types';
import type { Correlation } from './correlation';
import { BeaconDetector, type BeaconSettings } from './beacon';
import { judge } from './judge';
import type { Rules } from './rules';
import { type Match, SNAPSHOT, WindowCorrelator, type WindowOutput } from './windows';

/** What the pipeline produces, in the order it knows it. */
export type PipelineItem =
  /** A judged connection that is not a finding (allowed, or in yaral-parity a match alone in its window). */
  | { kind: 'connection'; value: JudgedConnection }
  /** A finding; `connection` is the judged connection it is about (absent for BEACONING, which is about a series). */
  | { kind: 'finding'; value: Finding; connection?: JudgedConnection }
  | { kind: 'correlation'; value: Correlation };

export interface PipelineCounts {
  judged: number;
  findings: number;
  allowed: number;
  ignoredInternal: number;
  ignoredLoopback: number;
  inbound: number;
}

/** The config's `beaconing` block as the pipeline takes it (null when it is off). */
export function beaconingOf(b: Config['beaconing']): PipelineOptions['beaconing'] {
  return b.enabled ? { minConnections: b.minConnections, maxJitter: b.maxJitter, minPeriodMs: b.minPeriod, maxTracked: b.maxTracked } : null;
}

export interface PipelineOptions {
  /** The rules (compiled for this host's OS). */
  rules: Rules;
  /** Replay: the rules for an event from another OS (its own analytic, AN0002/3/4); same mode. */
  rulesFor?: (e: ConnectionEvent) => Rules;
  /** The host name for events that carry none (live capture: this host). */
  host: string;
  /** SNAPSHOT for scan; the config's timeWindow for run and replay. */
  window: number | typeof SNAPSHOT;
  /** Live agent: emit a correlation as soon as a window holds two matches (see WindowCorrelator). */
  emitOpen?: boolean;
  /** Beaconing settings, or null to skip it (scan: one point in time has no period). */
  beaconing: Omit<BeaconSettings, 'windowMs'> | null;
}

/**
 * The one analysis pipeline of scan, run and replay: judge -> time windows (the YARA-L per-host
 * `#net > 1` aggregate) -> beaconing -> findings and correlations. It is pure: events in, items
 * out, with the events' own timestamps as its clock; the caller decides when windows close
 * (expire(now) for the live agent, a watermark for replay, finish() at the end).
 */
export class AnalysisPipeline {
  readonly counts: PipelineCounts = { judged: 0, findings: 0, allowed: 0, ignoredInternal: 0, ignoredLoopback: 0, inbound: 0 };
  private readonly windows: WindowCorrelator;
  private readonly beacons: BeaconDetector | null;
  private rulesFor: (e: ConnectionEvent) => Rules;
  private readonly mode: Rules['mode'];

  constructor(private readonly o: PipelineOptions) {
    this.rulesFor = o.rulesFor ?? (() => o.rules);
    this.mode = o.rules.mode;
    this.windows = new WindowCorrelator({ windowMs: o.window, mode: this.mode, emitOpen: o.emitOpen ?? false });
    // The YARA-L rule has no beaconing: parity mode reproduces the rule and nothing else.
    this.beacons = o.beaconing && this.mode !== 'yaral-parity' && o.window !== SNAPSHOT ? new BeaconDetector({ ...o.beaconing, windowMs: o.window }) : null;
  }

  /** Judges one event; returns what is known now. An event on a port no rule watches yields nothing. */
  push(e: ConnectionEvent): PipelineItem[] {
    if (e.direction === 'inbound') {
      this.counts.inbound++;
      return [];
    }
    const rules = this.rulesFor(e);
    const j = judge(e, rules);
    if (!j) return [];
    if (j.verdict.outcome === 'ignored') {
      if (j.verdict.destinationClass === 'loopback') this.counts.ignoredLoopback++;
      else this.counts.ignoredInternal++;
      return [];
    }
    this.counts.judged++;
    const connection: JudgedConnection = { ...e, direction: 'outbound', verdict: j.verdict };
    if (!j.finding) {
      this.counts.allowed++;
      return [{ kind: 'connection', value: connection }];
    }
    return this.release(this.windows.add({ connection, finding: j.finding }, e.host ?? this.o.host));
  }

  /** New rules of the same mode (a reload): open windows and beacon series carry over. */
  setRules(rules: Rules): void {
    if (rules.mode !== this.mode) throw new Error('AnalysisPipeline.setRules: a new mode needs a new pipeline');
    this.rulesFor = () => rules;
  }

  /** Closes the windows that ended by `nowMs`. */
  expire(nowMs: number): PipelineItem[] {
    this.beacons?.expire(nowMs);
    return this.release(this.windows.expire(nowMs));
  }

  /** Closes every window: the end of a scan or replay, or the agent's stop. */
  finish(): PipelineItem[] {
    return this.release(this.windows.closeAll());
  }

  private release(w: WindowOutput): PipelineItem[] {
    const out: PipelineItem[] = [];
    for (const m of w.findings) out.push(...this.findingItems(m));
    for (const m of w.unmet) {
      this.counts.allowed++;
      const verdict = { ...m.connection.verdict, outcome: 'allowed' as const, reasons: [...m.connection.verdict.reasons, 'but the rule needs more than one matching event per host in its window (#net > 1)'] };
      out.push({ kind: 'connection', value: { ...m.connection, verdict } });
    }
    for (const c of w.correlations) out.push({ kind: 'correlation', value: c });
    return out;
  }

  private findingItems(m: Match): PipelineItem[] {
    this.counts.findings++;
    const out: PipelineItem[] = [{ kind: 'finding', value: m.finding, connection: m.connection }];
    const beacon = this.beacons?.add(m.finding) ?? null;
    if (beacon) {
      this.counts.findings++;
      out.push({ kind: 'finding', value: beacon });
    }
    return out;
  }
}
