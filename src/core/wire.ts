/**
 * What brokerwatch reads from the first bytes a process sends on a connection (wire inspection).
 * Only names (topics, destinations, client id, user name) and derived features (sizes, entropy,
 * counts, rate) are kept: payload bytes and passwords are never stored. Every list and string is
 * capped; `cut` names what was cut.
 */
export type WireProtocol = 'MQTT' | 'AMQP' | 'STOMP' | 'XMPP' | 'HTTP' | 'TLS' | 'UNKNOWN';

export const PUBSUB_WIRE_PROTOCOLS: ReadonlySet<WireProtocol> = new Set(['MQTT', 'AMQP', 'STOMP', 'XMPP']);

export interface PayloadStats {
  /** Messages whose size is known. */
  count: number;
  minBytes: number;
  maxBytes: number;
  meanBytes: number;
  /** Mean Shannon entropy in bits per byte over the captured part of each payload (0..8); null when no payload byte was captured. */
  meanEntropy: number | null;
  maxEntropy: number | null;
}

export interface WireInfo {
  /** The protocol the first bytes identify; UNKNOWN when nothing matched. */
  protocol: WireProtocol;
  /** True for MQTT, AMQP, STOMP and XMPP (also over WebSocket). */
  pubsub: boolean;
  /** 'websocket' when the pub/sub protocol rides in a WebSocket (HTTP Upgrade). */
  carrier?: 'websocket';
  /** Protocol version as the client announced it: MQTT 3.1 / 3.1.1 / 5, AMQP 0-9-1 / 1.0, STOMP 1.2 ... */
  version?: string;
  clientId?: string;
  /** The user name the client logged in with. The password is never read. */
  username?: string;
  /** MQTT PUBLISH topics, STOMP SEND destinations, AMQP routing keys (distinct, in order seen). */
  topics?: string[];
  /** MQTT SUBSCRIBE filters, STOMP SUBSCRIBE destinations, AMQP basic.consume queues. */
  subscriptions?: string[];
  /** AMQP exchanges named by basic.publish. */
  exchanges?: string[];
  /** MQTT PUBLISH, STOMP SEND, AMQP basic.publish, XMPP <message> count in the captured bytes. */
  publishCount: number;
  /** Publications per second between the first and the last one seen (null below two). */
  publishRate: number | null;
  payload?: PayloadStats;
  /** XMPP stream `to` domain, STOMP/HTTP Host header, TLS SNI: the name the client asked for. */
  serverName?: string;
  /** HTTP request path (WebSocket Upgrade included), for uriPathRegex. */
  path?: string;
  /** Sec-WebSocket-Protocol values offered (mqtt, v12.stomp, xmpp ...). */
  subprotocols?: string[];
  /** Bytes the parser saw, and whether some were not captured (only heads of writes were copied). */
  bytesSeen: number;
  /** What was cut: 'topics', 'subscriptions', 'name' (a string over its cap), 'bytes' (capture cap or holes), 'sync' (lost framing). */
  cut?: string[];
  /** Why the bytes did not parse as the protocol they started like (malformed, hostile). */
  malformed?: string;
}

/**
 * How a connection's bytes were seen: 'plaintext' (the socket writes), 'tls-plaintext' (what the
 * process handed to libssl before encryption), or 'none' with the reason: 'static TLS' (TLS on a
 * connection whose process has no libssl mapped: Go, statically linked Rust), 'off' (switched off
 * in config), 'TLS plaintext not seen' (a TLS library is mapped but no plaintext came through the
 * probes in time: no application data yet, a libssl copy not probed, GnuTLS/NSS), 'no bytes'.
 */
export type Inspection = 'plaintext' | 'tls-plaintext' | 'none, static TLS' | 'none, TLS plaintext not seen' | 'none, off' | 'none, no bytes';

export interface WireCaps {
  /** Distinct topics (and subscriptions, exchanges) kept. */
  maxNames: number;
  /** Characters per name. */
  maxNameLength: number;
  /** Messages parsed per connection. */
  maxMessages: number;
}

export const DEFAULT_WIRE_CAPS: WireCaps = { maxNames: 16, maxNameLength: 200, maxMessages: 64 };

/** One captured write: the bytes copied (a head of it when `length` is larger) and when. */
export interface WireChunk {
  timeMs: number;
  bytes: Uint8Array;
  /** The full size of the write; bytes beyond `bytes.length` were not captured (a hole). */
  length?: number;
}
