/**
 * HTTP/1.x requests, and the WebSocket Upgrade that carries MQTT, STOMP, XMPP or AMQP: the
 * subprotocol (Sec-WebSocket-Protocol) names it; failing that, the path (/mqtt, /stomp, /xmpp).
 * Client frames after the request are masked; unmasked, they are a stream of their own.
 */
import type { WireCollector } from './features';
import { SparseStream } from './stream';
import type { WireChunk, WireInfo, WireProtocol } from './types';

const REQUEST_LINE = /^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) (\S{1,8192}) HTTP\/1\.[01]\r?\n/;

export function looksLikeHttp(head: Buffer): boolean {
  return /^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|TRACE) /.test(head.toString('latin1', 0, 8));
}

const SUBPROTOCOLS: [RegExp, WireProtocol][] = [[/^mqtt/i, 'MQTT'], [/stomp/i, 'STOMP'], [/^xmpp$/i, 'XMPP'], [/^amqp/i, 'AMQP']];
const PATHS: [RegExp, WireProtocol][] = [[/mqtt/i, 'MQTT'], [/stomp/i, 'STOMP'], [/xmpp/i, 'XMPP']];

export interface HttpRequest {
  /** Where the request's header block ends (the first WebSocket frame starts there). */
  end: number;
  /** The pub/sub protocol a WebSocket Upgrade announces, if any. */
  carried: WireProtocol | null;
}

export function parseHttp(s: SparseStream, info: WireInfo, c: WireCollector): HttpRequest | null {
  const text = s.readKnown(0, 16384).toString('latin1');
  const line = REQUEST_LINE.exec(text);
  const headEnd = text.indexOf('\r\n\r\n');
  if (!line) { info.malformed = 'HTTP request line'; return null; }
  info.version = 'HTTP/1';
  info.path = c.name(line[2]!.replace(/[?#].*$/, ''));
  const header = (name: string): string | null => {
    const m = new RegExp(`\\r?\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(headEnd < 0 ? text : text.slice(0, headEnd));
    return m ? m[1]!.trim() : null;
  };
  const host = header('Host');
  if (host) info.serverName = c.name(host);
  if (headEnd < 0) c.cut.add('bytes');
  const upgrade = header('Upgrade');
  if (!upgrade || !/websocket/i.test(upgrade)) return { end: headEnd < 0 ? s.length : headEnd + 4, carried: null };
  const offered = (header('Sec-WebSocket-Protocol') ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (offered.length > 0) info.subprotocols = offered.slice(0, c.caps.maxNames).map((p) => c.name(p));
  const bySub = offered.map((p) => SUBPROTOCOLS.find(([re]) => re.test(p))?.[1]).find((p) => p !== undefined);
  const byPath = PATHS.find(([re]) => re.test(info.path ?? ''))?.[1];
  return { end: headEnd < 0 ? s.length : headEnd + 4, carried: bySub ?? byPath ?? null };
}

/** The unmasked payloads of the client's WebSocket frames from `pos`, as chunks (holes kept). */
export function websocketPayloads(s: SparseStream, pos: number, c: WireCollector): WireChunk[] {
  const out: WireChunk[] = [];
  while (pos < s.length) {
    const h = s.read(pos, 2);
    if (!h) { c.cut.add('bytes'); break; }
    let len = h[1]! & 0x7f;
    let at = pos + 2;
    if (len === 126) { const e = s.read(at, 2); if (!e) break; len = e.readUInt16BE(0); at += 2; }
    else if (len === 127) { const e = s.read(at, 8); if (!e) break; len = Number(e.readBigUInt64BE(0)); at += 8; }
    const masked = (h[1]! & 0x80) !== 0;
    const key = masked ? s.read(at, 4) : Buffer.alloc(4);
    if (!key) break;
    if (masked) at += 4;
    const opcode = h[0]! & 0x0f;
    if (opcode <= 2) {
      const known = Buffer.from(s.readKnown(at, len));
      for (let i = 0; i < known.length; i++) known[i]! ^= key[i % 4]!;
      out.push({ timeMs: s.timeAt(pos), bytes: known, length: len });
    }
    pos = at + len;
  }
  return out;
}

export { SparseStream };
