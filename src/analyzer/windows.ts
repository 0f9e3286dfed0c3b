import type { Finding } from '../core/types';
import { type Correlation, correlate } from './analyze';
import type { Rules } from './rules';

interface HostWindow {
  start: number;
  members: Finding[];
  emitted: boolean;
}

/**
 * The YARA-L `match: $host over 1h` on the endpoint: tumbling windows aligned to multiples of the
 * window length (so two agents agree on the boundaries). The first time a host's window holds more
 * than one matching connection (`#net > 1`) a correlation is emitted - once per window; later
 * connections in the same window are counted in state but not re-emitted.
 *
 * Memory is bounded: a window keeps at most `maxMembers` findings (enough for the distinct lists;
 * the count keeps counting), and a host's state is dropped when its window has passed.
 */
export class WindowCorrelator {
  private readonly hosts = new Map<string, HostWindow & { count: number }>();

  constructor(private readonly windowMs: number, private readonly mode: Rules['mode'], private readonly maxMembers = 1000) {}

  windowStart(timeMs: number): number {
    return Math.floor(timeMs / this.windowMs) * this.windowMs;
  }

  /** Adds one matching connection; returns the correlation when this one crosses the threshold. */
  add(finding: Finding, host: string): Correlation | null {
    const t = Date.parse(finding.time);
    const start = this.windowStart(t);
    let w = this.hosts.get(host);
    if (!w || w.start !== start) {
      if (w && w.start > start) return null; // a late event for a window already closed: not reopened
      w = { start, members: [], emitted: false, count: 0 };
      this.hosts.set(host, w);
    }
    w.count++;
    if (w.members.length < this.maxMembers) w.members.push(finding);
    if (w.emitted || w.count <= 1) return null;
    w.emitted = true;
    const c = correlate(w.members, host, { start: new Date(w.start).toISOString(), end: new Date(w.start + this.windowMs).toISOString() }, this.mode);
    if (c) c.event_count = w.count;
    return c;
  }

  /** Drops windows that ended before `nowMs`. */
  expire(nowMs: number): void {
    for (const [host, w] of this.hosts) if (w.start + this.windowMs <= nowMs) this.hosts.delete(host);
  }

  get trackedHosts(): number {
    return this.hosts.size;
  }
}
