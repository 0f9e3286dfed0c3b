/**
 * One socket, one event: the connect sources (eBPF connect tracer, procfs polling) report a
 * connection when it opens; wire inspection reports the same connection again once its first
 * writes were read. WireJoin holds a connect event up to `holdMs` for the wire event of the same
 * socket (same pid, destination and - when both know it - source port) and emits the two merged;
 * without one, the connect event goes out alone when the hold ends, and a wire event with no
 * connect event (a port only wire inspection watches: AN0005) goes out by itself. Pure: the caller
 * drives time through tick(now).
 */
import type { ConnectionEvent } from '../core/types';

export interface WireJoinStats { merged: number; connectOnly: number; wireOnly: number; wireLate: number }

interface Held { event: ConnectionEvent; untilMs: number }

function key(e: ConnectionEvent): string | null {
  const pid = e.process?.pid;
  return pid === undefined ? null : `${pid}|${e.destination.ip}|${e.destination.port}`;
}

export class WireJoin {
  private readonly held = new Map<string, Held[]>();
  /** Sockets whose connect event went out alone, so a late wire event is not a second record. */
  private readonly released = new Map<string, number>();
  readonly stats: WireJoinStats = { merged: 0, connectOnly: 0, wireOnly: 0, wireLate: 0 };

  constructor(private readonly emit: (e: ConnectionEvent) => void, private readonly holdMs: number, private readonly watched: (port: number) => boolean, private readonly maxHeld = 10_000) {}

  /** A connect-source event. */
  connect(e: ConnectionEvent, nowMs: number): void {
    const k = key(e);
    if (k === null || !this.watched(e.destination.port) || this.size >= this.maxHeld) { this.emit(e); return; }
    const list = this.held.get(k) ?? [];
    list.push({ event: e, untilMs: nowMs + this.holdMs });
    this.held.set(k, list);
  }

  /** A wire event. */
  wire(w: ConnectionEvent, nowMs: number): void {
    const k = key(w);
    const list = k === null ? undefined : this.held.get(k);
    const i = list ? list.findIndex((h) => h.event.source.port === 0 || w.source.port === 0 || h.event.source.port === w.source.port) : -1;
    if (list && i >= 0) {
      const [h] = list.splice(i, 1);
      if (list.length === 0) this.held.delete(k as string);
      const c = h!.event;
      const destination = w.destination.hostname ? { ...c.destination, hostname: w.destination.hostname } : c.destination;
      const merged: ConnectionEvent = { ...c, destination };
      if (w.wire) merged.wire = w.wire;
      if (w.inspection) merged.inspection = w.inspection;
      this.stats.merged++;
      this.emit(merged);
      return;
    }
    const sockKey = `${k}|${w.source.port}`;
    if (k !== null && (this.released.has(sockKey) || this.released.has(`${k}|0`))) { this.stats.wireLate++; return; }
    this.stats.wireOnly++;
    this.emit(w);
  }

  /** Releases connect events whose hold ended; forgets released sockets after a minute. */
  tick(nowMs: number): void {
    for (const [k, list] of this.held) {
      const keep = list.filter((h) => {
        if (h.untilMs > nowMs) return true;
        this.stats.connectOnly++;
        this.released.set(`${k}|${h.event.source.port}`, nowMs);
        if (this.released.size > this.maxHeld) this.released.delete(this.released.keys().next().value as string);
        this.emit(h.event);
        return false;
      });
      if (keep.length === 0) this.held.delete(k);
      else this.held.set(k, keep);
    }
    for (const [k, at] of this.released) if (nowMs - at > 60_000) this.released.delete(k);
  }

  /** Everything held goes out (at stop). */
  flush(): void {
    for (const list of this.held.values()) for (const h of list) { this.stats.connectOnly++; this.emit(h.event); }
    this.held.clear();
  }

  get size(): number {
    let n = 0;
    for (const l of this.held.values()) n += l.length;
    return n;
  }
}
