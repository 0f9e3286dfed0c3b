/**
 * The control protocol: JSON lines over a local socket. One request per line, one reply per line.
 *
 *   request  {"command": "status" | "reload" | "stop", "id"?: string | number}
 *   reply    {"ok": true, "id"?: ..., "result": {...}}  or  {"ok": false, "id"?: ..., "error": "..."}
 *
 * Everything that arrives is hostile until parsed: a frame is capped in size, must be UTF-8 and a
 * JSON object with exactly the known keys. Pure functions and a line decoder; no I/O here.
 */

export const CONTROL_COMMANDS = ['status', 'reload', 'stop'] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

export interface ControlRequest {
  command: ControlCommand;
  id?: string | number;
}

export type ControlReply =
  | { ok: true; id?: string | number; result: unknown }
  | { ok: false; id?: string | number; error: string };

/** Largest request line the server reads (a request is a few dozen bytes; 64 KiB leaves room). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Largest reply line the client reads (a status reply is a few KiB). */
export const MAX_REPLY_BYTES = 1024 * 1024;

/** A line longer than the cap: the connection is answered with an error and closed. */
export class FrameTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`frame too long: over ${limit} bytes without a newline`);
    this.name = 'FrameTooLongError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a byte stream into lines (without the "\n"; a trailing "\r" is dropped too). Bytes are
 * kept until a newline arrives, so a multi-byte character split across chunks decodes whole.
 * push() throws FrameTooLongError once more than `limit` bytes are pending without a newline.
 * A line that is not valid UTF-8 comes out as null (the caller answers it with an error).
 */
export class LineDecoder {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  /** Bytes received that are not yet a whole line (after close: half a line, to be discarded). */
  get pending(): number {
    return this.size;
  }

  push(chunk: Buffer): (string | null)[] {
    const lines: (string | null)[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      if (this.size + (nl - start) > this.limit) throw new FrameTooLongError(this.limit);
      this.parts.push(chunk.subarray(start, nl));
      lines.push(this.take());
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.size += chunk.length - start;
      if (this.size > this.limit) throw new FrameTooLongError(this.limit);
      this.parts.push(chunk.subarray(start));
    }
    return lines;
  }

  private take(): string | null {
    let bytes = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    try {
      return utf8.decode(bytes);
    } catch {
      return null;
    }
  }
}

export type ParsedRequest = { ok: true; request: ControlRequest } | { ok: false; error: string; id?: string | number };

function isId(v: unknown): v is string | number {
  return (typeof v === 'string' && v.length <= 128) || (typeof v === 'number' && Number.isFinite(v));
}

/** Shortens hostile text for an error message: JSON-quoted (so control characters are escaped), at most 40 characters. */
function quote(v: unknown): string {
  const s = JSON.stringify(typeof v === 'string' ? (v.length > 40 ? `${v.slice(0, 40)}…` : v) : v) ?? String(v);
  return s;
}

/** Parses one request line. Never throws: anything wrong is an error text to send back. */
export function parseRequest(line: string | null): ParsedRequest {
  if (line === null) return { ok: false, error: 'request is not valid UTF-8' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, error: 'request is not JSON; send one JSON object per line, e.g. {"command":"status"}' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'request must be a JSON object, e.g. {"command":"status"}' };
  }
  const obj = value as Record<string, unknown>;
  const id = isId(obj.id) ? obj.id : undefined;
  const fail = (error: string): ParsedRequest => (id === undefined ? { ok: false, error } : { ok: false, error, id });
  const unknown = Object.keys(obj).filter((k) => k !== 'command' && k !== 'id');
  if (unknown.length > 0) return fail(`unknown request key ${quote(unknown[0])}; a request has "command" and optionally "id"`);
  if (obj.id !== undefined && id === undefined) return fail('"id" must be a string (at most 128 characters) or a number');
  if (typeof obj.command !== 'string' || !(CONTROL_COMMANDS as readonly string[]).includes(obj.command)) {
    return fail(`unknown command ${quote(obj.command)}; expected one of ${CONTROL_COMMANDS.join(', ')}`);
  }
  const request: ControlRequest = { command: obj.command as ControlCommand };
  if (id !== undefined) request.id = id;
  return { ok: true, request };
}

/** One reply (or request) as a frame: compact JSON and a newline. JSON escapes every control character. */
export function encodeFrame(message: ControlReply | ControlRequest): string {
  return `${JSON.stringify(message)}\n`;
}

/** Checks the shape of a reply read by the client (the daemon is trusted more than a peer, but not blindly). */
export function parseReply(line: string | null): ControlReply | null {
  if (line === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const obj = value as Record<string, unknown>;
  const id = isId(obj.id) ? { id: obj.id } : {};
  if (obj.ok === true) return { ok: true, ...id, result: obj.result ?? null };
  if (obj.ok === false && typeof obj.error === 'string') return { ok: false, ...id, error: obj.error };
  return null;
}
