import type { Finding, JudgedConnection } from '../core/types';
import { type Correlation, correlate } from './correlation';
import type { Rules } from './rules';

/** The window of a one-shot scan: everything seen at once is one window. */
export const SNAPSHOT = 'snapshot' as const;

/** A matched connection (it passed the rule's event filter) with the finding it makes. */
export interface Match {
  connection: JudgedConnection;
  finding: Finding;
}

/** What a window hands back as events arrive and windows close. */
export interface WindowOutput {
  /** Matches now known to be findings (in yaral-parity: released once the window holds two). */
  findings: Match[];
  /** Matches whose window closed with `#net > 1` unmet (yaral-parity only): not findings. */
  unmet: Match[];
  correlations: Correlation[];
}

interface HostWindow {
  host: string;
  start: number;
  count: number;
  members: Finding[];
  /** yaral-parity: the first match, held until a second one (finding) or the window's end (not). */
  pending: Match | null;
  /** A correlation was emitted when the window crossed #net > 1 (`emitOpen`), with this count. */
  emittedCount: number;
}

export interface WindowOptions {
  /** Window length, or SNAPSHOT for a one-shot scan (one window, closed by closeAll()). */
  windowMs: number | typeof SNAPSHOT;
  mode: Rules['mode'];
  /**
   * Also emit a correlation the moment a window crosses `#net > 1` (the live agent: an analyst
   * should not wait an hour). The window's final correlation follows at its close when more
   * connections joined it since. Replay and scan emit the final one only.
   */
  emitOpen: boolean;
  /** Findings kept per window for the distinct lists (the count keeps counting). */
  maxMembers?: number;
  /** Open windows at most (hosts x windows); beyond it the oldest closes early. */
  maxWindows?: number;
}

const empty = (): WindowOutput => ({ findings: [], unmet: [], correlations: [] });

/**
 * The YARA-L `match: $host over <timeWindow>` with its `#net > 1` condition, once for scan, run
 * and replay. Tumbling windows aligned to multiples of the window length (so two agents, and a
 * replay of their events, agree on the boundaries), keyed by host and window start, so events
 * that arrive out of order (replay of several files) still land in their own window.
 *
 * In det0002 mode every match is a finding at once and the correlation is reported beside the
 * findings. In yaral-parity mode a match alone is not a detection: the first match of a window is
 * held until a second one arrives (then both are findings) or the window closes (then it is not).
 */
export class WindowCorrelator {
  private readonly windows = new Map<string, HostWindow>();
  private readonly maxMembers: number;
  private readonly maxWindows: number;

  constructor(private readonly o: WindowOptions) {
    this.maxMembers = o.maxMembers ?? 1000;
    this.maxWindows = o.maxWindows ?? 10_000;
  }

  windowStart(timeMs: number): number {
    return this.o.windowMs === SNAPSHOT ? 0 : Math.floor(timeMs / this.o.windowMs) * this.o.windowMs;
  }

  /** Adds one matched connection of `host`. */
  add(match: Match, host: string): WindowOutput {
    const out = empty();
    const start = this.windowStart(Date.parse(match.finding.time) || 0);
    const key = `${host}\u0000${start}`;
    let w = this.windows.get(key);
    if (!w) {
      if (this.windows.size >= this.maxWindows) this.closeOldest(out);
      w = { host, start, count: 0, members: [], pending: null, emittedCount: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    if (w.members.length < this.maxMembers) w.members.push(match.finding);
    if (this.o.mode === 'yaral-parity') {
      if (w.count === 1) w.pending = match;
      else {
        if (w.pending) out.findings.push(w.pending);
        w.pending = null;
        out.findings.push(match);
      }
    } else {
      out.findings.push(match);
    }
    if (this.o.emitOpen && w.count === 2) {
      const c = this.correlationOf(w);
      if (c) {
        w.emittedCount = w.count;
        out.correlations.push(c);
      }
    }
    return out;
  }

  /** Closes the windows that ended at or before `nowMs` (a clock for `run`, a watermark for replay). */
  expire(nowMs: number): WindowOutput {
    const out = empty();
    if (this.o.windowMs === SNAPSHOT) return out;
    for (const [key, w] of this.windows) {
      if (w.start + this.o.windowMs <= nowMs) this.close(key, w, out);
    }
    return out;
  }

  /** Closes every window (end of a scan, a replay, or the agent's stop). */
  closeAll(): WindowOutput {
    const out = empty();
    for (const [key, w] of this.windows) this.close(key, w, out);
    return out;
  }

  get openWindows(): number {
    return this.windows.size;
  }

  private closeOldest(out: WindowOutput): void {
    let oldest: [string, HostWindow] | null = null;
    for (const entry of this.windows) if (!oldest || entry[1].start < oldest[1].start) oldest = entry;
    if (oldest) this.close(oldest[0], oldest[1], out);
  }

  private close(key: string, w: HostWindow, out: WindowOutput): void {
    this.windows.delete(key);
    if (w.pending) out.unmet.push(w.pending);
    if (w.count > 1 && w.count !== w.emittedCount) {
      const c = this.correlationOf(w);
      if (c) out.correlations.push(c);
    }
  }

  private correlationOf(w: HostWindow): Correlation | null {
    const window = this.o.windowMs === SNAPSHOT
      ? SNAPSHOT
      : { start: new Date(w.start).toISOString(), end: new Date(w.start + this.o.windowMs).toISOString() };
    const c = correlate(w.members, w.host, window, this.o.mode);
    if (c) c.event_count = w.count;
    return c;
  }
}
