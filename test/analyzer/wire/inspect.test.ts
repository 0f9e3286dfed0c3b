import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { inspectWire } from '../../../src/analyzer/wire/inspect';
import type { WireChunk } from '../../../src/analyzer/wire/types';

const FIXTURES = path.join(__dirname, '..', '..', 'fixtures', 'wire');
export const fixtureBytes = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, name));
const whole = (name: string) => inspectWire([{ timeMs: 0, bytes: fixtureBytes(name) }]);
const PASSWORDS = ['s3cret-never-stored', 'hunter2', 'never-stored', 'not-stored'];

describe('inspectWire on bytes captured from real clients', () => {
  it('MQTT 3.1.1 from mosquitto_pub: client id, user name, topic, payload size and entropy - never the password', () => {
    const w = whole('mqtt311.bin');
    assert.equal(w.protocol, 'MQTT');
    assert.equal(w.pubsub, true);
    assert.equal(w.version, '3.1.1');
    assert.equal(w.clientId, 'sensor-17');
    assert.equal(w.username, 'alice');
    assert.deepEqual(w.topics, ['c2/beacon/Zm9vYmFy']);
    assert.equal(w.publishCount, 1);
    assert.equal(w.payload?.maxBytes, Buffer.byteLength('aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ='));
    assert.ok((w.payload?.meanEntropy ?? 0) > 4, 'base64 text has over 4 bits per byte');
  });

  it('MQTT 5 (properties, QoS 1) and MQTT 3.1 (MQIsdp)', () => {
    const v5 = whole('mqtt5.bin');
    assert.deepEqual([v5.version, v5.clientId, v5.username, v5.topics, v5.payload?.maxBytes], ['5', 'v5client', 'bob', ['telemetry/room1/temp'], 4]);
    const v31 = whole('mqtt31.bin');
    assert.deepEqual([v31.version, v31.clientId, v31.topics, v31.publishCount], ['3.1', 'old31', ['legacy/topic'], 1]);
  });

  it('MQTT SUBSCRIBE filters from mosquitto_sub', () => {
    const w = whole('mqtt-sub.bin');
    assert.deepEqual(w.subscriptions, ['cmd/#', 'c2/+/task']);
    assert.equal(w.publishCount, 0);
  });

  it('mosquitto_pub -l: four publishes, the long base64 line is the maximum size', () => {
    const w = whole('mqtt-lines.bin');
    assert.equal(w.publishCount, 4);
    assert.equal(w.payload?.minBytes, 3);
    assert.equal(w.payload?.maxBytes, 4000);
  });

  it('the raw-MQTT implant: five publishes, and a rate once the writes carry their times', () => {
    const bytes = fixtureBytes('implant.bin');
    assert.equal(whole('implant.bin').publishCount, 5);
    // The same bytes split as the implant wrote them (one packet per write), 200 ms apart.
    const chunks: WireChunk[] = [];
    let pos = 0;
    let t = 0;
    while (pos < bytes.length) {
      const len = 2 + bytes[pos + 1]!; // remaining length < 128 in this capture
      chunks.push({ timeMs: t, bytes: bytes.subarray(pos, pos + len) });
      pos += len;
      t += 200;
    }
    const w = inspectWire(chunks);
    assert.equal(w.publishCount, 5);
    assert.ok(w.publishRate !== null && Math.abs(w.publishRate - 5) < 0.01, `rate ${w.publishRate}`);
    assert.match(w.clientId ?? '', /^implant-[0-9a-f]{6}$/);
  });

  it('only the heads of writes captured: sizes still come from the headers, holes are marked', () => {
    const bytes = fixtureBytes('mqtt-lines.bin');
    const w = inspectWire([{ timeMs: 0, bytes: bytes.subarray(0, 120), length: bytes.length }]);
    assert.equal(w.protocol, 'MQTT');
    assert.ok(w.cut?.includes('bytes'));
    assert.equal(w.topics?.[0], 'exfil/data');
  });

  it('MQTT over WebSocket: the Upgrade names it, the unmasked frames give client id, topic and three publishes', () => {
    const w = whole('ws-mqtt.bin');
    assert.deepEqual([w.protocol, w.carrier, w.path, w.subprotocols, w.clientId, w.topics, w.publishCount], ['MQTT', 'websocket', '/mqtt', ['mqtt'], 'ws-client-1', ['devices/ws/out'], 3]);
  });

  it('STOMP: host, login (never the passcode), SEND destination and body size, SUBSCRIBE destination', () => {
    const w = whole('stomp.bin');
    assert.deepEqual([w.protocol, w.version, w.serverName, w.username, w.topics, w.subscriptions, w.publishCount, w.payload?.maxBytes],
      ['STOMP', '1.2', 'stomp.example.test', 'guest', ['/queue/c2.tasks'], ['/topic/orders'], 1, 24]);
  });

  it('XMPP stream opening: the to domain', () => {
    const w = whole('xmpp.bin');
    assert.deepEqual([w.protocol, w.serverName, w.version], ['XMPP', 'chat.example.test', '1.0']);
  });

  it('AMQP 0-9-1: exchange, routing key, body sizes, consume queue, PLAIN user name; AMQP 1.0 header', () => {
    const w = whole('amqp091.bin');
    assert.deepEqual([w.protocol, w.version, w.username, w.exchanges, w.topics, w.subscriptions, w.publishCount, w.payload?.maxBytes],
      ['AMQP', '0-9-1', 'guest', ['c2.exchange'], ['beacon.q8Zt'], ['tasks'], 2, 128]);
    assert.deepEqual([whole('amqp10.bin').protocol, whole('amqp10.bin').version], ['AMQP', '1.0 (SASL)']);
  });

  it('HTTP and TLS are identified as not pub/sub; the TLS SNI and ALPN are read', () => {
    const h = whole('http.bin');
    assert.deepEqual([h.protocol, h.pubsub, h.path, h.serverName], ['HTTP', false, '/api/v1/status', 'web.example.test']);
    const t = whole('tls.bin');
    assert.deepEqual([t.protocol, t.pubsub, t.serverName, t.subprotocols], ['TLS', false, 'broker.example.test', ['h2', 'http/1.1']]);
    assert.deepEqual(whole('tls-mqtt-alpn.bin').subprotocols, ['x-amzn-mqtt-ca']);
  });

  it('a ClientHello cut to the 200 bytes the probe copies still gives its SNI', () => {
    const b = fixtureBytes('tls.bin');
    const t = inspectWire([{ timeMs: 0, bytes: b.subarray(0, 200), length: b.length }]);
    assert.deepEqual([t.protocol, t.serverName, t.cut], ['TLS', 'broker.example.test', ['bytes']]);
  });

  it('no output ever holds a password from the captures', () => {
    for (const f of fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.bin'))) {
      const out = JSON.stringify(whole(f));
      for (const p of PASSWORDS) assert.ok(!out.includes(p), `${f} leaks ${p}`);
    }
  });

  it('unknown bytes are UNKNOWN, empty input too', () => {
    assert.equal(inspectWire([{ timeMs: 0, bytes: Buffer.from('SSH-2.0-OpenSSH_9.2\r\n') }]).protocol, 'UNKNOWN');
    assert.equal(inspectWire([]).protocol, 'UNKNOWN');
  });
});
