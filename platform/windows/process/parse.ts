/**
 * Pure decoders for the process facts read through koffi (read.ts): Toolhelp32's PROCESSENTRY32W,
 * FILETIME, the PEB pointers and UNICODE_STRING, and Windows command-line splitting.
 *
 * PROCESSENTRY32W on x64 (568 bytes, dwSize must be set to 568): th32ProcessID +8,
 * th32ParentProcessID +32, szExeFile +44 (WCHAR[260], NUL-terminated).
 * PROCESS_BASIC_INFORMATION on x64 (48 bytes): PebBaseAddress +8.
 * PEB (x64): ProcessParameters +0x20. RTL_USER_PROCESS_PARAMETERS: CommandLine UNICODE_STRING +0x70.
 * UNICODE_STRING (x64, 16 bytes): Length (bytes) +0, MaximumLength +2, Buffer pointer +8.
 */

export const PROCESSENTRY32W_SIZE = 568;
export const PROCESS_BASIC_INFORMATION_SIZE = 48;
export const PEB_PROCESS_PARAMETERS = 0x20;
export const PARAMETERS_COMMAND_LINE = 0x70;
/** Command lines are at most 32767 WCHARs on Windows; a longer Length is corrupt or hostile. */
export const MAX_COMMAND_LINE_BYTES = 32767 * 2;

export interface ToolhelpEntry {
  pid: number;
  ppid: number;
  /** The image file name (no path), as Toolhelp reports it. */
  name: string;
}

/** A NUL-terminated UTF-16LE string from a fixed-size buffer. */
export function utf16z(buf: Uint8Array, offset = 0, maxBytes = buf.length - offset): string {
  const end = Math.min(buf.length, offset + maxBytes);
  let i = offset;
  while (i + 1 < end && (buf[i] !== 0 || buf[i + 1] !== 0)) i += 2;
  return Buffer.from(buf.buffer, buf.byteOffset + offset, i - offset).toString('utf16le');
}

export function parseProcessEntry(buf: Uint8Array): ToolhelpEntry {
  if (buf.length < PROCESSENTRY32W_SIZE) throw new Error(`PROCESSENTRY32W: ${buf.length} bytes, expected ${PROCESSENTRY32W_SIZE}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return { pid: view.getUint32(8, true), ppid: view.getUint32(32, true), name: utf16z(buf, 44, 520) };
}

/** FILETIME (100 ns ticks since 1601-01-01 UTC, little-endian u64) to ISO 8601; null for 0 or out of range. */
export function fileTimeToIso(buf: Uint8Array, offset = 0): string | null {
  if (buf.length < offset + 8) return null;
  const ticks = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(offset, true);
  if (ticks === 0n) return null;
  const ms = Number((ticks - 116444736000000000n) / 10000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A 64-bit pointer field (little-endian) as a bigint. */
export function pointerAt(buf: Uint8Array, offset: number): bigint {
  if (buf.length < offset + 8) throw new Error(`pointer at +${offset}: buffer of ${buf.length} bytes`);
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(offset, true);
}

export interface UnicodeString {
  /** Length in bytes (not WCHARs), without a terminator. */
  length: number;
  buffer: bigint;
}

export function parseUnicodeString(buf: Uint8Array): UnicodeString {
  if (buf.length < 16) throw new Error(`UNICODE_STRING: ${buf.length} bytes, expected 16`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = view.getUint16(0, true);
  if (length % 2 !== 0) throw new Error(`UNICODE_STRING: odd length ${length}`);
  return { length, buffer: view.getBigUint64(8, true) };
}

/**
 * Splits a command line as the Microsoft C runtime does (CommandLineToArgvW rules): whitespace
 * separates arguments outside quotes; 2n backslashes + quote = n backslashes and a quote toggle;
 * 2n+1 backslashes + quote = n backslashes and a literal quote; "" inside quotes is a literal quote.
 * The first argument (the program) ends at the next whitespace or closing quote, backslashes literal.
 */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  const n = line.length;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t';
  // Program name.
  let prog = '';
  if (line[0] === '"') {
    i = 1;
    while (i < n && line[i] !== '"') prog += line[i++];
    if (i < n) i++;
  } else {
    while (i < n && !isSpace(line[i])) prog += line[i++];
  }
  args.push(prog);
  for (;;) {
    while (isSpace(line[i])) i++;
    if (i >= n) break;
    let arg = '';
    let quoted = false;
    while (i < n && (quoted || !isSpace(line[i]))) {
      let slashes = 0;
      while (line[i] === '\\') { slashes++; i++; }
      if (line[i] === '"') {
        arg += '\\'.repeat(Math.floor(slashes / 2));
        if (slashes % 2 === 1) { arg += '"'; i++; continue; }
        if (quoted && line[i + 1] === '"') { arg += '"'; i += 2; continue; }
        quoted = !quoted;
        i++;
        continue;
      }
      arg += '\\'.repeat(slashes);
      if (i < n && (quoted || !isSpace(line[i]))) arg += line[i++];
    }
    args.push(arg);
  }
  return args;
}
