/**
 * Wire inspection: what protocol the first bytes a client sends are, and what they say. Pure;
 * never throws on any input (fuzzed in test/analyzer/wire/fuzz.test.ts).
 */
import { amqpVersion, parseAmqp091 } from './amqp';
import { WireCollector } from './features';
import { looksLikeHttp, parseHttp, websocketPayloads } from './http';
import { looksLikeMqttConnect, parseMqtt } from './mqtt';
import { looksLikeStompConnect, parseStomp } from './stomp';
import { SparseStream } from './stream';
import { looksLikeTlsClientHello, parseClientHello } from './tls';
import { DEFAULT_WIRE_CAPS, PUBSUB_WIRE_PROTOCOLS, type WireCaps, type WireChunk, type WireInfo, type WireProtocol } from './types';
import { looksLikeXmpp, parseXmpp } from './xmpp';

function blank(protocol: WireProtocol, s: SparseStream): WireInfo {
  const info: WireInfo = { protocol, pubsub: PUBSUB_WIRE_PROTOCOLS.has(protocol), publishCount: 0, publishRate: null, bytesSeen: s.length };
  if (s.hasHoles) info.cut = ['bytes'];
  return info;
}

/** Identifies the protocol and reads its metadata from a plain (non-WebSocket) stream. */
function inspectPlain(s: SparseStream, c: WireCollector): WireInfo {
  const head = s.head(64);
  const mqttLevel = looksLikeMqttConnect(head);
  if (mqttLevel !== null) {
    const info = blank('MQTT', s);
    parseMqtt(s, 0, info, c);
    return info;
  }
  const amqp = amqpVersion(head);
  if (amqp !== null) {
    const info = blank('AMQP', s);
    info.version = amqp;
    if (amqp.startsWith('0-9-')) parseAmqp091(s, 8, info, c);
    return info;
  }
  if (looksLikeStompConnect(head)) {
    const info = blank('STOMP', s);
    parseStomp(s, 0, info, c);
    return info;
  }
  if (looksLikeXmpp(s.head(1024))) {
    const info = blank('XMPP', s);
    parseXmpp(s, info, c);
    return info;
  }
  if (looksLikeTlsClientHello(head)) {
    const info = blank('TLS', s);
    parseClientHello(s.head(16384 + 5), info, c);
    return info;
  }
  if (looksLikeHttp(head)) {
    const info = blank('HTTP', s);
    const req = parseHttp(s, info, c);
    if (req?.carried) {
      info.protocol = req.carried;
      info.pubsub = true;
      info.carrier = 'websocket';
      const inner = new SparseStream(websocketPayloads(s, req.end, c));
      if (inner.length > 0) {
        const innerInfo = inspectPlain(inner, c);
        if (innerInfo.protocol === req.carried) {
          const { protocol, pubsub, bytesSeen, cut, subprotocols, path, ...rest } = innerInfo;
          Object.assign(info, rest, info.serverName ? { serverName: info.serverName } : {});
        }
      }
    }
    return info;
  }
  return blank('UNKNOWN', s);
}

/** Inspects the captured writes of one connection (in order). Never throws. */
export function inspectWire(chunks: readonly WireChunk[], caps: WireCaps = DEFAULT_WIRE_CAPS): WireInfo {
  const s = new SparseStream(chunks);
  const c = new WireCollector(caps);
  let info: WireInfo;
  try {
    info = inspectPlain(s, c);
  } catch (err) {
    // A parser bug on hostile bytes must cost one connection's metadata, never the agent.
    info = blank('UNKNOWN', s);
    info.malformed = `parser error: ${(err as Error).message}`.slice(0, 200);
  }
  return c.fill(info);
}
