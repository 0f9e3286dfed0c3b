/**
 * AMQP from the client side. 0-9-1: the protocol header, then frames; basic.publish gives the
 * exchange and routing key, its content header the body size, the first body frame the entropy;
 * basic.consume gives the queue; connection.start-ok with PLAIN gives the user name (the password
 * that follows it is never read). 1.0: the header only (version and whether SASL or TLS comes first).
 */
import type { WireCollector } from './features';
import type { SparseStream } from './stream';
import type { WireInfo } from './types';

export function amqpVersion(head: Buffer): string | null {
  if (head.length < 8 || head.toString('latin1', 0, 4) !== 'AMQP') return null;
  const [id, major, minor, rev] = [head[4]!, head[5]!, head[6]!, head[7]!];
  if (id === 0 && major === 0 && minor === 9) return `0-9-${rev}`;
  if (major === 1 && minor === 0) return id === 3 ? '1.0 (SASL)' : id === 2 ? '1.0 (TLS)' : '1.0';
  return `${id}-${major}-${minor}-${rev}`;
}

function shortStr(s: SparseStream, pos: number): { bytes: Buffer; next: number } | null {
  const n = s.byte(pos);
  if (n === null) return null;
  const bytes = s.read(pos + 1, n);
  return bytes ? { bytes, next: pos + 1 + n } : null;
}

/** The user name from a PLAIN response ("authzid NUL authcid NUL password"): authcid only. */
function plainUser(s: SparseStream, pos: number, end: number): Buffer | null {
  const len = s.read(pos, 4);
  if (!len) return null;
  const resp = s.readKnown(pos + 4, Math.min(len.readUInt32BE(0), end - pos - 4));
  const first = resp.indexOf(0);
  const second = first < 0 ? -1 : resp.indexOf(0, first + 1);
  return second < 0 ? null : resp.subarray(first + 1, second);
}

function startOk(s: SparseStream, pos: number, end: number, info: WireInfo, c: WireCollector): void {
  const tableLen = s.read(pos, 4);
  if (!tableLen) return;
  const mech = shortStr(s, pos + 4 + tableLen.readUInt32BE(0));
  if (!mech || mech.bytes.toString('latin1') !== 'PLAIN') return;
  const user = plainUser(s, mech.next, end);
  if (user) info.username = c.name(user);
}

export function parseAmqp091(s: SparseStream, start: number, info: WireInfo, c: WireCollector): void {
  let pos = start;
  let publishAt: number | null = null;
  let bodySize: number | null = null;
  const flush = (body: Buffer | null): void => {
    if (publishAt !== null) c.publish(publishAt, bodySize, body);
    publishAt = null;
    bodySize = null;
  };
  while (pos < s.length) {
    const hdr = s.read(pos, 7);
    if (!hdr) { c.cut.add(pos + 7 > s.length ? 'bytes' : 'sync'); break; }
    const type = hdr[0]!;
    const size = hdr.readUInt32BE(3);
    const payload = pos + 7;
    const end = payload + size;
    if (type < 1 || type > 8) { info.malformed = `AMQP frame type ${type}`; break; }
    if (!c.nextMessage()) break;
    if (type === 1) {
      flush(null);
      const ids = s.read(payload, 4);
      const cls = ids?.readUInt16BE(0);
      const method = ids?.readUInt16BE(2);
      if (cls === 10 && method === 11) startOk(s, payload + 4, end, info, c);
      if (cls === 60 && method === 20) { const q = shortStr(s, payload + 6); if (q) c.add('subscriptions', q.bytes); }
      if (cls === 60 && method === 40) {
        publishAt = s.timeAt(pos);
        const exchange = shortStr(s, payload + 6);
        const key = exchange ? shortStr(s, exchange.next) : null;
        if (exchange && exchange.bytes.length > 0) c.add('exchanges', exchange.bytes);
        if (key) c.add('topics', key.bytes);
      }
    } else if (type === 2 && publishAt !== null) {
      const bs = s.read(payload + 4, 8);
      if (bs) bodySize = Number(bs.readBigUInt64BE(0));
      if (bodySize === 0) flush(null);
    } else if (type === 3 && publishAt !== null) {
      flush(s.readKnown(payload, size));
    }
    pos = end + 1; // frame-end octet 0xCE
  }
  flush(null);
}
