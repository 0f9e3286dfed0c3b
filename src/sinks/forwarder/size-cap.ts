/**
 * The per-event size cap of the network sinks. A record whose JSON line is over the cap keeps its
 * shape: only its longest strings are shortened, all to the same length (water-filling), so one
 * 1 MB command line is cut while short fields such as ids and addresses stay whole. The record says
 * what was cut, in the same words udm.ts uses for its own field limits:
 *   UDM  -> additional.truncated_fields: ["principal.process.command_line: 1048576 bytes, kept 250000"]
 *   OCSF -> unmapped.truncated_fields (OCSF's place for data outside the class)
 *   else -> brokerwatch_truncated
 * Sizes are UTF-8 bytes of the escaped JSON text, which is what crosses the wire.
 */
import type { OutRecord } from '../../core/sink';
import { toJsonLine } from '../../format/jsonline';
import { fastJsonLine } from '../delivery';

/** Strings are never cut below this many bytes (ids, addresses, enum values stay whole). */
const MIN_KEEP = 64;
const MAX_ROUNDS = 6;

export type NoteTruncation = (record: Record<string, unknown>, notes: string[]) => void;

export interface CapOptions {
  maxBytes: number;
  serialize?: (value: unknown) => string;
  note?: NoteTruncation;
}

export type CapResult = { json: string; notes: string[] } | { json: null; reason: string };

interface Leaf {
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  path: string;
  text: string;
  bytes: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Escaped UTF-8 size of one code point in a toJsonLine string. */
function escapedSize(cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2;
  if (cp < 0x20) return cp === 8 || cp === 9 || cp === 10 || cp === 12 || cp === 13 ? 2 : 6;
  if (cp < 0x7f) return 1;
  if (cp <= 0x9f || cp === 0x2028 || cp === 0x2029) return 6;
  if (cp < 0x800) return 2;
  if (cp >= 0xd800 && cp <= 0xdfff) return 3; // a lone surrogate becomes U+FFFD
  return cp < 0x10000 ? 3 : 4;
}

function escapedBytes(text: string): number {
  let n = 0;
  for (const ch of text) n += escapedSize(ch.codePointAt(0) as number);
  return n;
}

/** The longest prefix whose escaped size fits `budget`, never splitting a surrogate pair. */
function cutEscaped(text: string, budget: number): string {
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const size = escapedSize(ch.codePointAt(0) as number);
    if (used + size > budget) break;
    used += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

function collectStrings(value: unknown, path: string, out: Leaf[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'string') out.push({ holder: value, key: i, path: `${path}[${i}]`, text: v, bytes: escapedBytes(v) });
      else collectStrings(v, `${path}[${i}]`, out);
    });
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (typeof v === 'string') out.push({ holder: value, key: k, path: p, text: v, bytes: escapedBytes(v) });
      else collectStrings(v, p, out);
    }
  }
}

/** The highest level L such that cutting every string longer than L down to L frees `need` bytes. */
export function waterLevel(sizes: number[], need: number): number {
  const desc = [...sizes].sort((a, b) => b - a);
  let sum = 0;
  for (let k = 1; k <= desc.length; k++) {
    sum += desc[k - 1] as number;
    const level = Math.floor((sum - need) / k);
    if (level >= (desc[k] ?? 0)) return Math.max(0, level);
  }
  return 0;
}

/** Where a record says it was truncated: see the file comment. */
export const noteTruncation: NoteTruncation = (record, notes) => {
  const append = (holderKey: string) => {
    const holder = isObject(record[holderKey]) ? { ...(record[holderKey] as Record<string, unknown>) } : {};
    const before = Array.isArray(holder.truncated_fields) ? holder.truncated_fields : [];
    holder.truncated_fields = [...before, ...notes];
    record[holderKey] = holder;
  };
  if (typeof record.class_uid === 'number') append('unmapped');
  else if (isObject(record.metadata)) append('additional');
  else record.brokerwatch_truncated = notes;
};

/**
 * The record's JSON line, at most maxBytes of UTF-8. Over the cap, the longest strings are cut and
 * the record notes it; json is null (with the reason) when even that cannot make it fit.
 */
export function capRecord(record: OutRecord, options: CapOptions): CapResult {
  const serialize = options.serialize ?? ((v: unknown) => fastJsonLine(v, toJsonLine));
  const note = options.note ?? noteTruncation;
  const json = serialize(record);
  const size = Buffer.byteLength(json, 'utf8');
  if (size <= options.maxBytes) return { json, notes: [] };
  let need = size - options.maxBytes;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const copy = JSON.parse(json) as Record<string, unknown>; // the line is valid JSON: a deep copy to cut in
    const leaves: Leaf[] = [];
    collectStrings(copy, '', leaves);
    const sizes = leaves.map((l) => l.bytes);
    // The notes themselves take room: reserve it, then settle the level again.
    let level = waterLevel(sizes, need);
    const reserve = 64 + leaves.filter((l) => l.bytes > level).reduce((n, l) => n + l.path.length + 48, 0);
    level = waterLevel(sizes, need + reserve);
    if (level < MIN_KEEP) break;
    const notes: string[] = [];
    for (const l of leaves) {
      if (l.bytes <= level) continue;
      const kept = cutEscaped(l.text, level);
      (l.holder as Record<string | number, unknown>)[l.key] = kept;
      notes.push(`${l.path}: ${Buffer.byteLength(l.text, 'utf8')} bytes, kept ${Buffer.byteLength(kept, 'utf8')}`);
    }
    note(copy, notes);
    const cut = serialize(copy);
    const cutSize = Buffer.byteLength(cut, 'utf8');
    if (cutSize <= options.maxBytes) return { json: cut, notes };
    need += cutSize - options.maxBytes;
  }
  return { json: null, reason: `${size} bytes of JSON do not fit ${options.maxBytes} bytes even with every string cut to ${MIN_KEEP} bytes` };
}
