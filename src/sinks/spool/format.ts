/**
 * The spool's segment file format, as pure functions over bytes. One record is one line:
 *
 *   <crc32 of the JSON, 8 lowercase hex digits> <the record's JSON line>\n
 *
 * JSON lines never hold a raw newline, so "\n" ends an entry. The checksum finds a torn tail (a
 * write cut by kill -9 or a crash) and garbage a power loss can leave in unsynced blocks. The text
 * form keeps a spool readable with ordinary tools while the collector is down.
 */
import zlib from 'node:zlib';

const NL = 0x0a;
const HEAD = 9; // 8 hex digits and a space

let TABLE: Uint32Array | null = null;

/** CRC-32 (IEEE), for Node versions before zlib.crc32 (20.15). */
function crc32Js(data: Uint8Array): number {
  if (!TABLE) {
    TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      TABLE[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const crc32: (data: Uint8Array) => number = typeof zlib.crc32 === 'function' ? (d) => zlib.crc32(d) : crc32Js;

/** Bytes an entry takes for a JSON line of `jsonBytes` UTF-8 bytes. */
export function entrySize(jsonBytes: number): number {
  return HEAD + jsonBytes + 1;
}

/** Writes one entry at `offset` of `out` (which has room for entrySize); returns the offset after it. */
export function encodeEntryInto(out: Buffer, offset: number, json: string, jsonBytes: number): number {
  out.write(json, offset + HEAD, jsonBytes, 'utf8');
  out.write(crc32(out.subarray(offset + HEAD, offset + HEAD + jsonBytes)).toString(16).padStart(8, '0'), offset, 'latin1');
  out[offset + 8] = 0x20;
  out[offset + HEAD + jsonBytes] = NL;
  return offset + HEAD + jsonBytes + 1;
}

/** One entry's bytes. `json` must be a single line (toJsonLine / JSON.stringify output). */
export function encodeEntry(json: string): Buffer {
  const length = Buffer.byteLength(json, 'utf8');
  const out = Buffer.allocUnsafe(entrySize(length));
  encodeEntryInto(out, 0, json, length);
  return out;
}

/** The JSON bytes of one line (a view, without its "\n"), or null when the line is not a whole, intact entry. */
export function decodeLine(line: Buffer): Buffer | null {
  if (line.length < HEAD + 1 || line[8] !== 0x20) return null;
  const hex = line.toString('latin1', 0, 8);
  if (!/^[0-9a-f]{8}$/.test(hex)) return null;
  const body = line.subarray(HEAD);
  return crc32(body) === parseInt(hex, 16) ? body : null;
}

export interface ParsedEntries {
  /** Intact entries in order (views into the buffer), each with the offset just past its "\n". */
  entries: { line: Buffer; end: number }[];
  /** Bytes of whole lines looked at (intact or not); the rest is an unfinished line. */
  consumed: number;
  /** Whole lines that failed the check. */
  corrupt: number;
}

/** Splits a buffer into entries; stops after maxEntries intact ones. A last line without "\n" is left unconsumed. */
export function parseEntries(buf: Buffer, maxEntries = Infinity): ParsedEntries {
  const entries: { line: Buffer; end: number }[] = [];
  let pos = 0;
  let corrupt = 0;
  while (pos < buf.length && entries.length < maxEntries) {
    const nl = buf.indexOf(NL, pos);
    if (nl < 0) break;
    const line = decodeLine(buf.subarray(pos, nl));
    pos = nl + 1;
    if (line === null) corrupt++;
    else entries.push({ line, end: pos });
  }
  return { entries, consumed: pos, corrupt };
}

export interface SegmentScan {
  /** Intact entries in the file. */
  entries: number;
  /** Intact entries that end at or before `upTo`. */
  entriesBefore: number;
  /** Offset just past the last intact entry: everything after it is a torn tail. */
  validEnd: number;
  corrupt: number;
}

/** Checks a whole segment file's bytes (at start-up): counts entries and finds where the intact part ends. */
export function scanSegment(buf: Buffer, upTo = 0): SegmentScan {
  let pos = 0;
  let entries = 0;
  let entriesBefore = 0;
  let validEnd = 0;
  let corrupt = 0;
  let corruptSinceValid = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(NL, pos);
    if (nl < 0) break;
    const ok = decodeLine(buf.subarray(pos, nl)) !== null;
    pos = nl + 1;
    if (!ok) {
      corruptSinceValid++;
      continue;
    }
    corrupt += corruptSinceValid;
    corruptSinceValid = 0;
    entries++;
    if (pos <= upTo) entriesBefore++;
    validEnd = pos;
  }
  // Corrupt lines after the last intact entry are part of the torn tail, not counted apart.
  return { entries, entriesBefore, validEnd, corrupt };
}
