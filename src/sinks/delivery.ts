/**
 * Small contracts between the spool and the network sinks behind it, and the record classifiers
 * both use. Kept apart from spool.ts and forwarder.ts so neither depends on the other.
 */
import type { OutRecord } from '../core/sink';

/** One record going into the spool: its JSON line (single line, no trailing newline) and whether it is a finding. */
export interface SpoolItem {
  json: string;
  finding: boolean;
}

/** One record coming out of the spool: its JSON line as UTF-8 bytes (no newline), as stored. */
export interface SpooledLine {
  line: Buffer;
  finding: boolean;
}

/**
 * A sink that can send records as the spool stores them: bytes of JSON lines (saves a parse, a
 * stringify and two UTF-8 transcodings per record). Like Sink.write, the promise resolves only
 * when the sink considers the lines delivered.
 */
export interface JsonLineSink {
  writeJsonLines(items: SpooledLine[]): Promise<void>;
}

/** A sink that knows when retrying is worth it (a reconnect backoff, a 429's Retry-After). */
export interface RetryHint {
  /** Milliseconds until the next attempt can succeed; 0 when it may be tried now. */
  retryDelayMs(): number;
}

/**
 * True when an error says the records themselves were refused, so sending them again cannot
 * succeed: `retriable === false` with HTTP status 400, 413 or 422 (chronicle-api's ChronicleApiError).
 * Everything else - network errors, 5xx, 429, and also 401/403/404, which a fixed credential or
 * config cures - is retried, and the records wait in the spool.
 */
export function contentRejected(err: Error): boolean {
  const e = err as Error & { retriable?: unknown; status?: unknown };
  return e.retriable === false && (e.status === 400 || e.status === 413 || e.status === 422);
}

export function isJsonLineSink(s: object): s is JsonLineSink {
  return typeof (s as Partial<JsonLineSink>).writeJsonLines === 'function';
}

export function hasRetryHint(s: object): s is RetryHint {
  return typeof (s as Partial<RetryHint>).retryDelayMs === 'function';
}

function field(record: OutRecord, ...path: string[]): unknown {
  let cur: unknown = record;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * A record is a finding when it says why it was flagged: UDM security_result, or OCSF Detection
 * Finding (class_uid 2004) / finding_info. Everything else is telemetry.
 */
export function defaultIsFinding(record: OutRecord): boolean {
  const sr = record.security_result;
  if (Array.isArray(sr) ? sr.length > 0 : sr !== undefined && sr !== null) return true;
  // Sysmon-shaped records (src/format/sysmon.ts): a finding names itself in RuleName; telemetry has "-".
  if (record.SourceName === 'Microsoft-Windows-Sysmon') return typeof record.RuleName === 'string' && record.RuleName !== '-';
  return record.class_uid === 2004 || field(record, 'finding_info') !== undefined;
}

/** The record's stable id: UDM metadata.product_log_id, OCSF metadata.uid, or a top-level id. */
export function defaultIdOf(record: OutRecord): string | undefined {
  for (const v of [field(record, 'metadata', 'product_log_id'), field(record, 'metadata', 'uid'), field(record, 'finding_info', 'uid'), record.id]) {
    if (typeof v === 'string' && v !== '') return v;
  }
  // Sysmon-shaped records: RecordNumber is derived from the stable event id (src/format/sysmon.ts).
  if (record.SourceName === 'Microsoft-Windows-Sysmon' && typeof record.RecordNumber === 'number') return `sysmon:${record.RecordNumber}`;
  return undefined;
}

const UNSAFE_IN_LINE = /[\u007f-\u009f\u2028\u2029]/g;
/** A lone surrogate as JSON.stringify writes it (paired ones are written as raw characters). */
const ESCAPED_SURROGATE = /\\ud[89a-f][0-9a-f]{2}/i;

function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_IN_LINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The same bytes as toJsonLine (src/format/jsonline.ts), faster for the common record: plain
 * JSON.stringify, then the line-safety escapes, with native scans to skip the regular expressions
 * when they cannot match. A record with a lone surrogate (rare) takes toJsonLine's path, which
 * turns it into U+FFFD.
 */
export function fastJsonLine(value: unknown, slow: (v: unknown) => string): string {
  const text: string | undefined = JSON.stringify(value);
  if (text === undefined) return slow(value); // throws the same TypeError
  if (text.includes('\\u') && ESCAPED_SURROGATE.test(text)) return slow(value);
  // All ASCII: DEL is the only character to escape.
  if (Buffer.byteLength(text, 'utf8') === text.length) return text.includes('\u007f') ? escapeUnsafe(text) : text;
  UNSAFE_IN_LINE.lastIndex = 0;
  return UNSAFE_IN_LINE.test(text) ? escapeUnsafe(text) : text;
}
