/**
 * MQTT 3.1 (MQIsdp), 3.1.1 and 5 from the client side: CONNECT (client id, user name - never the
 * password), PUBLISH (topic, payload size and entropy), SUBSCRIBE (filters). Pure, over a
 * SparseStream; a message whose tail was not captured is still counted from its length.
 */
import type { WireCollector } from './features';
import type { SparseStream } from './stream';
import type { WireInfo } from './types';

const LEVELS: Record<number, string> = { 3: '3.1', 4: '3.1.1', 5: '5' };

/** MQTT variable byte integer: value and size, or null (hole, or more than 4 bytes). */
export function readVarint(s: SparseStream, pos: number): { value: number; size: number } | null {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const b = s.byte(pos + i);
    if (b === null) return null;
    value += (b & 0x7f) * 128 ** i;
    if ((b & 0x80) === 0) return { value, size: i + 1 };
  }
  return null;
}

/** A length-prefixed (u16) string at pos: its bytes and the position after it. */
function readStr(s: SparseStream, pos: number, end: number): { bytes: Buffer; next: number } | null {
  const len = s.read(pos, 2);
  if (!len) return null;
  const n = len.readUInt16BE(0);
  if (pos + 2 + n > end) return null;
  const bytes = s.read(pos + 2, n);
  return bytes ? { bytes, next: pos + 2 + n } : null;
}

/** Does the stream start with an MQTT CONNECT? Returns the protocol level, or null. */
export function looksLikeMqttConnect(head: Buffer): number | null {
  if (head.length < 2 || head[0] !== 0x10) return null;
  let i = 1;
  while (i < 5 && i < head.length && (head[i]! & 0x80) !== 0) i++;
  const p = i + 1;
  if (head.length < p + 2) return null;
  const nameLen = head.readUInt16BE(p);
  const name = head.subarray(p + 2, p + 2 + nameLen).toString('latin1');
  if (!((nameLen === 4 && name === 'MQTT') || (nameLen === 6 && name === 'MQIsdp'))) return null;
  const level = head[p + 2 + nameLen];
  return level === undefined ? 0 : level;
}

function skipProperties(s: SparseStream, pos: number, v5: boolean): number | null {
  if (!v5) return pos;
  const len = readVarint(s, pos);
  return len ? pos + len.size + len.value : null;
}

function parseConnect(s: SparseStream, pos: number, end: number, info: WireInfo, c: WireCollector): boolean {
  const name = readStr(s, pos, end);
  if (!name) return false;
  const head = s.read(name.next, 4);
  if (!head) return false;
  const level = head[0]!;
  const flags = head[1]!;
  info.version = LEVELS[level] ?? `level ${level}`;
  const v5 = level === 5;
  let at = skipProperties(s, name.next + 4, v5);
  if (at === null) return false;
  const id = readStr(s, at, end);
  if (!id) return false;
  info.clientId = c.name(id.bytes);
  at = id.next;
  if (flags & 0x04) { // will: properties (v5), topic, payload
    const p = skipProperties(s, at, v5);
    const topic = p === null ? null : readStr(s, p, end);
    const payload = topic ? readStr(s, topic.next, end) : null;
    if (!payload) return false;
    at = payload.next;
  }
  if (flags & 0x80) {
    const user = readStr(s, at, end);
    if (!user) return false;
    info.username = c.name(user.bytes);
  }
  return true; // the password (flag 0x40) is deliberately never read
}

function parsePublish(s: SparseStream, first: number, pos: number, end: number, v5: boolean, c: WireCollector): void {
  const topic = readStr(s, pos, end);
  let payloadAt: number | null = null;
  if (topic) {
    if (topic.bytes.length > 0) c.add('topics', topic.bytes);
    const qos = (first >> 1) & 3;
    payloadAt = skipProperties(s, topic.next + (qos > 0 ? 2 : 0), v5);
  }
  if (payloadAt === null || payloadAt > end) { c.publish(s.timeAt(pos), null, null); return; }
  c.publish(s.timeAt(pos), end - payloadAt, s.readKnown(payloadAt, end - payloadAt));
}

function parseSubscribe(s: SparseStream, pos: number, end: number, v5: boolean, c: WireCollector): void {
  let at = skipProperties(s, pos + 2, v5);
  while (at !== null && at < end) {
    const f = readStr(s, at, end);
    if (!f) return;
    c.add('subscriptions', f.bytes);
    at = f.next + 1; // subscription options byte
  }
}

/** Parses client-to-broker MQTT packets from `start`; fills info through the collector. */
export function parseMqtt(s: SparseStream, start: number, info: WireInfo, c: WireCollector): void {
  let pos = start;
  let v5 = false;
  while (pos < s.length) {
    const first = s.byte(pos);
    const len = readVarint(s, pos + 1);
    if (first === null || len === null) { c.cut.add(first === null ? 'bytes' : 'sync'); return; }
    const body = pos + 1 + len.size;
    const end = body + len.value;
    if (!c.nextMessage()) return;
    const type = first >> 4;
    if (type === 0 || type === 15) { info.malformed = `MQTT packet type ${type} from a client`; return; }
    if (type === 1 && pos === start) {
      if (!parseConnect(s, body, end, info, c)) c.cut.add('bytes');
      v5 = info.version === '5';
    } else if (type === 3) parsePublish(s, first, body, end, v5, c);
    else if (type === 8) parseSubscribe(s, body, end, v5, c);
    pos = end;
  }
}
