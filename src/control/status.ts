/**
 * What `brokerwatch status` shows: built by the daemon from its counters (collectStatus), printed
 * by the client (formatStatus). The client treats the reply as data from another process: it reads
 * only the fields it knows, checks their types and escapes text before printing it.
 */
import type { SourceHealth } from '../core/source';
import { safeText } from '../core/text';
import type { Warning } from '../core/types';

/** The parts of the Daemon that status reads (kept narrow so tests and run.ts can pass anything that fits). */
export interface StatusDaemon {
  readonly startedAt: number;
  readonly counters: {
    eventsSeen: number; eventsJudged: number; eventsIgnored: number; eventsDropped: number;
    findings: number; correlations: number; beacons: number; recordsSent: number; sinkErrors: number;
  };
  readonly sourceName: string | null;
  readonly queueLength: number;
  readonly lastError: string | null;
  /** Capture's partial failures since start (Daemon.captureHealth). */
  captureHealth?(): SourceHealth;
  /** The outcome of the last reload. */
  readonly lastReload?: { at: string; ok: boolean; message: string } | null;
  /** brokerReputationFeeds, when any are configured. */
  readonly reputationFeeds?: readonly FeedState[];
}

/** One reputation feed's state (src/engine/reputation-feeds.ts FeedStatus). */
export interface FeedState {
  source: string;
  entries: number;
  loadedAt: string | null;
  badLines: number;
  lastError: string | null;
  failures: number;
}

export interface StatusInfo {
  version: string;
  configFiles: string[];
  controlSocket: string;
  /** The capture in use and why a preferred one is not (Capture.status in run.ts). */
  capture?: () => { active: string; fallbacks: string[] };
  /** Records waiting in the sinks' spool, when a sink spools; null when none does. */
  spooled?: () => number | null;
}

export interface DaemonStatus {
  pid: number;
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  capture: {
    source: string | null;
    fallbacks: string[];
    /** Events the capture knows it lost (eBPF perf buffer overflow). */
    eventsLost: number;
    /** Failed polls (or tracer restarts); the source retried each time. */
    pollErrors: number;
    lastError: string | null;
    /** Partial failures by code since start: total count and latest message. */
    warnings: Warning[];
  };
  counters: {
    eventsSeen: number; eventsJudged: number; eventsIgnored: number; eventsDropped: number; queued: number;
    recordsSent: number; recordsSpooled: number | null; sinkErrors: number;
    findings: number; correlations: number; beacons: number;
  };
  lastError: string | null;
  reputationFeeds: FeedState[];
  /** The last reload: when, whether it was applied, and the reply it got (null before the first). */
  lastReload: { at: string; ok: boolean; message: string } | null;
  configFiles: string[];
  controlSocket: string;
}

/** The status reply's result. `now` is injectable for tests. */
export function collectStatus(daemon: StatusDaemon, info: StatusInfo, now: number = Date.now()): DaemonStatus {
  const c = daemon.counters;
  const capture = info.capture?.();
  const health = daemon.captureHealth?.() ?? { eventsLost: 0, pollErrors: 0, lastError: null, warnings: [] };
  return {
    pid: process.pid,
    version: info.version,
    startedAt: new Date(daemon.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((now - daemon.startedAt) / 1000)),
    capture: {
      source: capture?.active ?? daemon.sourceName,
      fallbacks: [...(capture?.fallbacks ?? [])],
      eventsLost: health.eventsLost,
      pollErrors: health.pollErrors,
      lastError: health.lastError,
      warnings: [...health.warnings].sort((a, b) => b.count - a.count).map((w) => ({ ...w })),
    },
    counters: {
      eventsSeen: c.eventsSeen, eventsJudged: c.eventsJudged, eventsIgnored: c.eventsIgnored, eventsDropped: c.eventsDropped,
      queued: daemon.queueLength, recordsSent: c.recordsSent, recordsSpooled: info.spooled?.() ?? null, sinkErrors: c.sinkErrors,
      findings: c.findings, correlations: c.correlations, beacons: c.beacons,
    },
    lastError: daemon.lastError,
    reputationFeeds: (daemon.reputationFeeds ?? []).map(({ source, entries, loadedAt, badLines, lastError, failures }) => ({ source, entries, loadedAt, badLines, lastError, failures })),
    lastReload: daemon.lastReload ? { ...daemon.lastReload } : null,
    configFiles: [...info.configFiles],
    controlSocket: info.controlSocket,
  };
}

/** "2d 3h 4m 5s", leaving out leading zero units. */
export function formatUptime(seconds: number): string {
  const units: [string, number][] = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  let left = Math.max(0, Math.floor(seconds));
  const parts: string[] = [];
  for (const [name, size] of units) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n > 0 || parts.length > 0 || size === 1) parts.push(`${n}${name}`);
  }
  return parts.join(' ');
}

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const num = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? String(v) : '?');
const text = (v: unknown, max = 300): string => (typeof v === 'string' ? safeText(v, max) : '?');
const texts = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string').slice(0, 20).map((x) => safeText(x as string, 300)) : []);

/** "proc-eacces x12 (latest: ...)", the ten most frequent, for the human status. */
function formatWarnings(v: unknown): string {
  const list = (Array.isArray(v) ? v : []).map(obj).filter((w) => typeof w.code === 'string');
  if (list.length === 0) return 'none';
  const shown = list.slice(0, 10).map((w) => `${text(w.code, 60)} x${num(w.count)} (latest: ${text(w.message, 200)})`);
  return `${shown.join('; ')}${list.length > 10 ? `; and ${list.length - 10} more codes (see --json)` : ''}`;
}

function formatReload(v: unknown): string {
  if (v === null || v === undefined) return 'none since start';
  const r = obj(v);
  return `${r.ok === true ? 'applied' : 'refused'} at ${text(r.at, 40)}: ${text(r.message, 400)}`;
}

/** The human status: a few labelled lines. Works on any JSON value (a reply from another process). */
export function formatStatus(result: unknown): string {
  const s = obj(result);
  const c = obj(s.counters);
  const cap = obj(s.capture);
  const fallbacks = texts(cap.fallbacks);
  const spooled = c.recordsSpooled === null ? 'n/a' : num(c.recordsSpooled);
  const lines = [
    `brokerwatch ${text(s.version, 40)} running (pid ${num(s.pid)}), up ${typeof s.uptimeSeconds === 'number' ? formatUptime(s.uptimeSeconds) : '?'}`,
    `capture:     ${cap.source === null ? 'none' : text(cap.source, 40)}${fallbacks.length ? ` (fallbacks: ${fallbacks.join('; ')})` : ''}`,
    `  problems:  ${num(cap.pollErrors)} failed polls${typeof cap.lastError === 'string' ? ` (last: ${text(cap.lastError)})` : ''}, ${num(cap.eventsLost)} events lost`,
    `  warnings:  ${formatWarnings(cap.warnings)}`,
    `events:      ${num(c.eventsSeen)} seen, ${num(c.eventsJudged)} judged, ${num(c.eventsIgnored)} ignored, ${num(c.eventsDropped)} dropped, ${num(c.queued)} queued`,
    `records:     ${num(c.recordsSent)} sent, ${spooled} spooled, ${num(c.sinkErrors)} sink errors`,
    `findings:    ${num(c.findings)} (${num(c.correlations)} correlations, ${num(c.beacons)} beacons)`,
    `last error:  ${s.lastError === null ? 'none' : text(s.lastError)}`,
    `last reload: ${formatReload(s.lastReload)}`,
    ...(Array.isArray(s.reputationFeeds) ? s.reputationFeeds.slice(0, 20).map(obj).map((f) =>
      `feed:        ${text(f.source)}: ${num(f.entries)} entries${f.loadedAt ? ` (loaded ${text(f.loadedAt, 40)})` : ' (never loaded)'}, ${num(f.badLines)} bad lines${typeof f.lastError === 'string' ? `; last attempt failed (${num(f.failures)}x): ${text(f.lastError)}` : ''}`) : []),
    `config:      ${texts(s.configFiles).join(' + ') || '?'}`,
    `socket:      ${text(s.controlSocket)}`,
  ];
  return `${lines.join('\n')}\n`;
}
