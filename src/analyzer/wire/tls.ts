/**
 * TLS ClientHello: not pub/sub itself, but its SNI names the server and its ALPN may name the
 * protocol inside (AWS IoT offers "x-amzn-mqtt-ca" on 443). Pure over the first record.
 */
import type { WireCollector } from './features';
import type { WireInfo } from './types';

export function looksLikeTlsClientHello(head: Buffer): boolean {
  return head.length >= 6 && head[0] === 0x16 && head[1] === 0x03 && head[2]! <= 0x04 && head[5] === 0x01;
}

function readVec(b: Buffer, pos: number, lenBytes: 1 | 2): { data: Buffer; next: number } | null {
  if (pos + lenBytes > b.length) return null;
  const n = lenBytes === 1 ? b[pos]! : b.readUInt16BE(pos);
  if (pos + lenBytes + n > b.length) return null;
  return { data: b.subarray(pos + lenBytes, pos + lenBytes + n), next: pos + lenBytes + n };
}

export function parseClientHello(head: Buffer, info: WireInfo, c: WireCollector): void {
  const b = head.subarray(0, 5 + head.readUInt16BE(3));
  let pos = 5 + 4 + 2 + 32; // record header, handshake header, client_version, random
  const session = readVec(b, pos, 1);
  const suites = session && readVec(b, session.next, 2);
  const compression = suites && readVec(b, suites.next, 1);
  // Only the head of a large ClientHello may be captured: read the extensions that are there.
  if (!compression || compression.next + 2 > b.length) { c.cut.add('bytes'); return; }
  const extLen = b.readUInt16BE(compression.next);
  const exts = { data: b.subarray(compression.next + 2, Math.min(b.length, compression.next + 2 + extLen)) };
  if (exts.data.length < extLen) c.cut.add('bytes');
  pos = 0;
  const alpn: string[] = [];
  while (pos + 4 <= exts.data.length) {
    const type = exts.data.readUInt16BE(pos);
    const ext = readVec(exts.data, pos + 2, 2);
    if (!ext) break;
    if (type === 0) { // server_name: list, name_type 0 host_name
      const list = readVec(ext.data, 0, 2);
      if (list && list.data[0] === 0) {
        const name = readVec(list.data, 1, 2);
        if (name) info.serverName = c.name(name.data);
      }
    }
    if (type === 16) { // ALPN
      const list = readVec(ext.data, 0, 2);
      let p = 0;
      while (list && p < list.data.length) {
        const proto = readVec(list.data, p, 1);
        if (!proto) break;
        if (alpn.length < c.caps.maxNames) alpn.push(c.name(proto.data));
        p = proto.next;
      }
    }
    pos = ext.next;
  }
  if (alpn.length > 0) info.subprotocols = alpn;
}
