/**
 * Parsers for BrokerReputationList feeds (DET0002 AN0005: a dynamic blocklist or threat-intel feed
 * of C2 brokers). Pure functions over the feed's text; I/O is in src/engine/reputation-feeds.ts.
 *
 * Forms:
 *  - lines: one IP address, CIDR block or host name per line; `#` starts a comment, blank lines
 *    are skipped (the common plain blocklist form).
 *  - csv: what threat-intel platforms export. A header row names the column (indicator, value, ip,
 *    ip_address, address, cidr, network, domain, hostname, host, ioc); without a recognised header
 *    the first column is used. RFC 4180 quoting.
 *  - stix: a STIX 2.1 bundle (or a JSON array of objects). Indicators with pattern_type "stix" whose
 *    pattern compares ipv4-addr:value, ipv6-addr:value or domain-name:value with `=` (several joined
 *    by OR), and bare ipv4-addr / ipv6-addr / domain-name objects. Revoked indicators and those whose
 *    valid_until has passed are skipped, not errors.
 * Bad entries are reported with their line number (STIX: the object's index and id) and the rest
 * still load.
 */
import { addressKind } from '../config/address-kind';

export type FeedFormat = 'lines' | 'csv' | 'stix';

export interface FeedProblem {
  /** 1-based line number (lines, csv) or 1-based object index (stix). */
  line: number;
  message: string;
}

export interface ParsedFeed {
  format: FeedFormat;
  /** IP addresses, CIDR blocks and host names, in feed order, duplicates removed. */
  entries: string[];
  problems: FeedProblem[];
  /** Entries skipped on purpose (revoked or expired STIX indicators). */
  skipped: number;
}

const CSV_COLUMNS = ['indicator', 'value', 'ip', 'ip_address', 'ipaddress', 'address', 'cidr', 'network', 'domain', 'hostname', 'host', 'ioc'];
const MAX_SHOWN = 80;

function shown(text: string): string {
  return JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);
}

/** Guesses the form from the content: JSON is STIX, a comma or quote in the first data line is CSV. */
export function detectFeedFormat(text: string): FeedFormat {
  const body = text.replace(/^\uFEFF/, '').trimStart();
  if (body.startsWith('{') || body.startsWith('[')) return 'stix';
  const first = body.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trimStart().startsWith('#')) ?? '';
  return first.includes(',') || first.startsWith('"') ? 'csv' : 'lines';
}

class Collector {
  readonly entries: string[] = [];
  readonly problems: FeedProblem[] = [];
  private readonly seen = new Set<string>();

  add(value: string, line: number): void {
    const v = value.trim().replace(/\.$/, '');
    if (v === '') return;
    if (addressKind(v) === null) {
      this.problems.push({ line, message: `not an IP address, CIDR block or host name: ${shown(v)}` });
      return;
    }
    const key = v.toLowerCase();
    if (!this.seen.has(key)) {
      this.seen.add(key);
      this.entries.push(v);
    }
  }
}

function parseLines(text: string): ParsedFeed {
  const c = new Collector();
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line !== '') c.add(line, i + 1);
  });
  return { format: 'lines', entries: c.entries, problems: c.problems, skipped: 0 };
}

/** One CSV record's fields (RFC 4180 quotes; a record spanning lines is not supported and reported). */
export function csvFields(line: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) return null; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') { value += '"'; i += 2; continue; }
          i++;
          break;
        }
        value += line[i++];
      }
      out.push(value);
      if (i < line.length && line[i] !== ',') return null;
      i++;
    } else {
      const end = line.indexOf(',', i);
      out.push(line.slice(i, end < 0 ? line.length : end));
      i = end < 0 ? line.length + 1 : end + 1;
    }
  }
  return out;
}

function parseCsv(text: string): ParsedFeed {
  const c = new Collector();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let column: number | null = null;
  lines.forEach((raw, i) => {
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const fields = csvFields(raw);
    if (!fields) {
      c.problems.push({ line: i + 1, message: `malformed CSV (unbalanced quotes): ${shown(raw)}` });
      return;
    }
    if (column === null) {
      const header = fields.findIndex((f) => CSV_COLUMNS.includes(f.trim().toLowerCase()));
      column = header >= 0 ? header : 0;
      if (header >= 0 || addressKind((fields[0] ?? '').trim()) === null) return; // a header row
    }
    const value = fields[column];
    if (value === undefined) c.problems.push({ line: i + 1, message: `no column ${column + 1}: ${shown(raw)}` });
    else c.add(value, i + 1);
  });
  return { format: 'csv', entries: c.entries, problems: c.problems, skipped: 0 };
}

const STIX_COMPARISON = /(ipv4-addr|ipv6-addr|domain-name):value\s*=\s*'((?:[^'\\]|\\.)*)'/g;
const STIX_SCO = new Set(['ipv4-addr', 'ipv6-addr', 'domain-name']);

function parseStix(text: string, now: number): ParsedFeed {
  const c = new Collector();
  let skipped = 0;
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return { format: 'stix', entries: [], problems: [{ line: 1, message: `not JSON: ${(err as Error).message}` }], skipped: 0 };
  }
  const objects = Array.isArray(doc) ? doc : (doc as { objects?: unknown })?.objects;
  if (!Array.isArray(objects)) {
    return { format: 'stix', entries: [], problems: [{ line: 1, message: 'not a STIX 2.1 bundle: no "objects" array' }], skipped: 0 };
  }
  objects.forEach((o: unknown, i) => {
    const n = i + 1;
    if (o === null || typeof o !== 'object') return;
    const obj = o as Record<string, unknown>;
    const id = typeof obj.id === 'string' ? ` (${obj.id.slice(0, 80)})` : '';
    if (typeof obj.type === 'string' && STIX_SCO.has(obj.type)) {
      if (typeof obj.value === 'string') c.add(obj.value, n);
      else c.problems.push({ line: n, message: `object ${n}${id}: ${obj.type} without a string value` });
      return;
    }
    if (obj.type !== 'indicator') return;
    if (obj.revoked === true || (typeof obj.valid_until === 'string' && Date.parse(obj.valid_until) <= now)) {
      skipped++;
      return;
    }
    if (obj.pattern_type !== undefined && obj.pattern_type !== 'stix') return; // snort, yara, ...: not ours
    if (typeof obj.pattern !== 'string') {
      c.problems.push({ line: n, message: `object ${n}${id}: indicator without a pattern` });
      return;
    }
    const values = [...obj.pattern.matchAll(STIX_COMPARISON)].map((m) => (m[2] as string).replace(/\\(.)/g, '$1'));
    if (values.length === 0) {
      // Indicators on other observables (file hashes, URLs) are normal in a feed; only say so once each.
      if (/ipv4-addr|ipv6-addr|domain-name/.test(obj.pattern)) c.problems.push({ line: n, message: `object ${n}${id}: unsupported pattern ${shown(obj.pattern)} (only "= '...'" comparisons of ipv4-addr, ipv6-addr and domain-name values)` });
      return;
    }
    for (const v of values) {
      const before = c.problems.length;
      c.add(v, n);
      const p = c.problems[before];
      if (p) p.message = `object ${n}${id}: ${p.message}`;
    }
  });
  return { format: 'stix', entries: c.entries, problems: c.problems, skipped };
}

/** Parses a feed in the given form ('auto' detects it). `now` decides which STIX indicators expired. */
export function parseFeed(text: string, format: FeedFormat | 'auto', now: number = Date.now()): ParsedFeed {
  const f = format === 'auto' ? detectFeedFormat(text) : format;
  if (f === 'stix') return parseStix(text, now);
  return f === 'csv' ? parseCsv(text) : parseLines(text);
}
