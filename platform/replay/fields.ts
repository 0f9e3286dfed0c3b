/** Small pure helpers shared by the record parsers: loose values from exporters that stringify everything. */
import type { ConnectionEvent, EventOs } from '../../src/core/types';

export type Parsed =
  | { kind: 'event'; event: ConnectionEvent }
  | { kind: 'skip'; reason: 'not-eid3' | 'not-sysmon' | 'not-connection' | 'finding' | 'other-format' }
  | { kind: 'malformed'; reason: string };

export function malformed(reason: string): Parsed {
  return { kind: 'malformed', reason };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A scalar as text ("" for absent, objects and arrays): NXLog and Winlogbeat may write any value as a string. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

/** true / True / "true" / "TRUE" / 1 -> true; false likewise; anything else -> undefined. */
export function bool(v: unknown): boolean | undefined {
  const t = text(v).toLowerCase();
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  return undefined;
}

/** A non-negative decimal integer no larger than max, or undefined ("0x1f", "12abc", "" are not). */
export function int(v: unknown, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const t = text(v);
  if (!/^\d{1,16}$/.test(t)) return undefined;
  const n = Number(t);
  return n <= max ? n : undefined;
}

/** First value that is set, trying each path ("a.b.c"); exporters differ in naming (snake_case, lowerCamelCase). */
export function pick(obj: Record<string, unknown>, ...paths: string[]): unknown {
  for (const path of paths) {
    let cur: unknown = obj;
    for (const part of path.split('.')) cur = isObject(cur) ? cur[part] : undefined;
    if (cur !== undefined && cur !== null && cur !== '') return cur;
  }
  return undefined;
}

/** The file name of a path written with / or \ (a Windows Image read on Linux keeps its backslashes). */
export function baseName(path: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return cut === -1 ? path : path.slice(cut + 1);
}

/** OS from a path's shape: "C:\..." or "\\server\..." is Windows, "/..." is Unix (Linux unless told otherwise). */
export function osFromPath(path: string): EventOs | undefined {
  if (/^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\')) return 'windows';
  if (path.startsWith('/')) return 'linux';
  return undefined;
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;
const SYSMON_UTC_RE = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)Z?$/;

/**
 * An ISO 8601 time from an event's own clock: Sysmon's UtcTime ("2022-11-24 09:59:47.930", UTC by
 * definition) gets its T and Z; RFC 3339 text is kept as written (sub-millisecond digits too);
 * undefined for anything without a zone (a local time would shift events by hours) or unparsable.
 */
export function eventTime(v: unknown, utcWithoutZone = false): string | undefined {
  const t = text(v);
  if (t === '') return undefined;
  const sysmon = utcWithoutZone ? SYSMON_UTC_RE.exec(t) : null;
  const iso = sysmon ? `${sysmon[1]}T${sysmon[2]}Z` : t;
  if (!ISO_RE.test(iso) || Number.isNaN(Date.parse(iso))) return undefined;
  return iso;
}
