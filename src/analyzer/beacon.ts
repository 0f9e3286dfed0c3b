import type { Finding, Severity } from '../core/types';
import { findingId } from './judge';
import { baseName } from './processes';
import { raiseSeverity } from './rules';

export const BEACON_RULE = 'BEACONING';

export interface BeaconSettings {
  /** Connections needed before a series is judged (intervals = connections - 1). */
  minConnections: number;
  /** Largest relative jitter (median absolute deviation / median interval) still called regular. */
  maxJitter: number;
  /** Intervals shorter than this are bursts (retries, pools), not beacons. */
  minPeriodMs: number;
  /** How many (process, destination) series are tracked at most; the least recently seen goes first. */
  maxTracked: number;
  /** A series unseen for this long is forgotten; also how often one series may raise a finding. */
  windowMs: number;
}

export interface BeaconResult {
  periodMs: number;
  jitter: number;
  connections: number;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Judges a series of connection times. The period is the median interval and the jitter the
 * median absolute deviation relative to it: both robust to one missed or doubled beacon, which a
 * mean and a coefficient of variation are not.
 */
export function regularity(timesMs: readonly number[], s: Pick<BeaconSettings, 'minConnections' | 'maxJitter' | 'minPeriodMs'>): BeaconResult | null {
  if (timesMs.length < s.minConnections) return null;
  const intervals: number[] = [];
  for (let i = 1; i < timesMs.length; i++) intervals.push((timesMs[i] as number) - (timesMs[i - 1] as number));
  const period = median(intervals);
  if (period < s.minPeriodMs) return null;
  const jitter = median(intervals.map((iv) => Math.abs(iv - period))) / period;
  return jitter <= s.maxJitter ? { periodMs: period, jitter, connections: timesMs.length } : null;
}

interface Series {
  times: number[];
  lastSeen: number;
  lastFindingAt: number | null;
}

/**
 * Beaconing per (executable, destination ip, port): a regular series of new connections raises a
 * BEACONING finding with the period and jitter. State is bounded: at most maxTracked series, each
 * with at most 4 x minConnections timestamps, and series unseen for a window are dropped.
 */
export class BeaconDetector {
  private readonly series = new Map<string, Series>();

  constructor(private readonly s: BeaconSettings) {}

  /** Records a connection that the analyzer judged; returns a finding when its series turns regular. */
  add(f: Finding): Finding | null {
    const t = Date.parse(f.time);
    const exe = f.process?.exe ?? f.process?.name ?? '?';
    const key = `${exe}\u0000${f.destination.ip}\u0000${f.destination.port}`;
    let ser = this.series.get(key);
    if (ser) this.series.delete(key); // re-insert: Map order is the LRU order
    else ser = { times: [], lastSeen: t, lastFindingAt: null };
    this.series.set(key, ser);
    if (this.series.size > this.s.maxTracked) this.series.delete(this.series.keys().next().value as string);
    if (ser.times.length > 0 && t < (ser.times[ser.times.length - 1] as number)) return null; // out of order: ignore
    ser.times.push(t);
    ser.lastSeen = t;
    if (ser.times.length > this.s.minConnections * 4) ser.times.shift();
    if (ser.lastFindingAt !== null && t - ser.lastFindingAt < this.s.windowMs) return null;
    const r = regularity(ser.times, this.s);
    if (!r) return null;
    ser.lastFindingAt = t;
    const severity: Severity = raiseSeverity(f.severity);
    const reasons = [
      `${baseName(exe)} connected to ${f.destination.ip}:${f.destination.port} ${r.connections} times at a regular period of ${(r.periodMs / 1000).toFixed(1)} s (jitter ${(r.jitter * 100).toFixed(1)}%): beaconing`,
      ...f.reasons,
    ];
    return {
      ...f,
      id: findingId([BEACON_RULE, exe, f.destination.ip, f.destination.port, ser.times[0]]),
      rules: [BEACON_RULE, ...f.rules.filter((r2) => r2 !== BEACON_RULE)],
      severity,
      reasons,
      details: { ...(f.details ?? {}), beacon: { periodMs: r.periodMs, jitter: Number(r.jitter.toFixed(4)), connections: r.connections } },
    };
  }

  /** Forgets series not seen within the window. */
  expire(nowMs: number): void {
    for (const [key, ser] of this.series) if (nowMs - ser.lastSeen > this.s.windowMs) this.series.delete(key);
  }

  get tracked(): number {
    return this.series.size;
  }
}
