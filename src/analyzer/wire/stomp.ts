/**
 * STOMP 1.0-1.2 client frames: CONNECT/STOMP (host, login - never the passcode, accept-version),
 * SEND (destination, body size and entropy), SUBSCRIBE (destination). Pure, over a SparseStream.
 */
import type { WireCollector } from './features';
import type { SparseStream } from './stream';
import type { WireInfo } from './types';

const MAX_HEADER_BYTES = 8192;
const MAX_BODY_SCAN = 1 << 20;
const FRAME_START = /^(CONNECT|STOMP|SEND|SUBSCRIBE|UNSUBSCRIBE|BEGIN|COMMIT|ABORT|ACK|NACK|DISCONNECT)\r?\n/;

export function looksLikeStompConnect(head: Buffer): boolean {
  return /^(?:\r?\n)*(CONNECT|STOMP)\r?\n/.test(head.toString('latin1', 0, 16));
}

/** Where the header block ends; the search starts at the command line's own EOL (no headers is valid). */
function headerEnd(text: string, afterCommand: number): { at: number; size: number } | null {
  const lf = text.indexOf('\n\n', afterCommand - 1);
  const crlf = text.indexOf('\r\n\r\n', afterCommand - 2);
  if (lf < 0 && crlf < 0) return null;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, size: 4 };
  return { at: lf, size: 2 };
}

function headers(lines: string[]): Map<string, string> {
  const h = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(':');
    // STOMP 1.2: the first occurrence of a repeated header wins.
    if (i > 0 && !h.has(line.slice(0, i))) h.set(line.slice(0, i), line.slice(i + 1));
  }
  return h;
}

export function parseStomp(s: SparseStream, start: number, info: WireInfo, c: WireCollector): void {
  let pos = start;
  while (pos < s.length) {
    // Heart-beats (bare EOLs) between frames.
    let eol = s.byte(pos);
    while (eol === 0x0a || eol === 0x0d) eol = s.byte(++pos);
    if (pos >= s.length) return;
    const head = s.readKnown(pos, MAX_HEADER_BYTES);
    const text = head.toString('utf8');
    const m = FRAME_START.exec(text);
    const he = m ? headerEnd(text, m[0].length) : null;
    if (!m || !he) {
      c.cut.add(head.length < Math.min(MAX_HEADER_BYTES, s.length - pos) ? 'bytes' : 'sync');
      return;
    }
    if (!c.nextMessage()) return;
    const h = headers(text.slice(0, he.at).split(/\r?\n/).slice(1));
    const bodyAt = pos + Buffer.byteLength(text.slice(0, he.at + he.size), 'utf8');
    const command = m[1];
    if (command === 'CONNECT' || command === 'STOMP') {
      const v = h.get('accept-version');
      info.version = v ? c.name(v) : '1.0';
      const host = h.get('host');
      if (host) info.serverName = c.name(host);
      const login = h.get('login');
      if (login) info.username = c.name(login);
    }
    const dest = h.get('destination');
    if (dest !== undefined && command === 'SUBSCRIBE') c.add('subscriptions', dest);
    if (dest !== undefined && command === 'SEND') c.add('topics', dest);
    // The body ends at content-length, or else at the first NUL.
    const cl = h.get('content-length');
    let bodyLen: number | null = cl !== undefined && /^\d{1,9}$/.test(cl) ? Number(cl) : null;
    if (bodyLen === null) {
      const known = s.readKnown(bodyAt, MAX_BODY_SCAN);
      const nul = known.indexOf(0);
      if (nul < 0) {
        if (command === 'SEND') c.publish(s.timeAt(pos), null, known);
        c.cut.add(bodyAt + known.length < s.length ? 'sync' : 'bytes');
        return;
      }
      bodyLen = nul;
    }
    if (command === 'SEND') c.publish(s.timeAt(pos), bodyLen, s.readKnown(bodyAt, bodyLen));
    pos = bodyAt + bodyLen + 1;
  }
}
