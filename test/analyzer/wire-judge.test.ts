import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { judge, judgeDet0002, RULE } from '../../src/analyzer/judge';
import { inspectWire } from '../../src/analyzer/wire/inspect';
import { RULE_HIGH_FREQUENCY, RULE_UNUSUAL_PORT } from '../../src/analyzer/wire-judge';
import { RULE_URI_PATH } from '../../src/analyzer/uripath';
import type { ConnectionEvent, Inspection, WireInfo } from '../../src/core/types';
import { connectionToUdm, findingToUdm } from '../../src/format/udm';
import { event, rulesWith } from './_events';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'wire');
const wireOf = (name: string): WireInfo => inspectWire([{ timeMs: 0, bytes: fs.readFileSync(path.join(FIXTURES, name)) }]);
const rules = rulesWith();
const EXT = '198.51.100.7';
const py = '/opt/vendor/bin/sync-agent'; // not on unusualProcessList: the wire alone moves the severity

function withWire(port: number, wire: WireInfo, extra: { hostname?: string; inspection?: Inspection } = {}): ConnectionEvent {
  const e = event({ ip: EXT, port, exe: py });
  e.wire = wire;
  e.inspection = extra.inspection ?? 'plaintext';
  if (extra.hostname) e.destination.hostname = extra.hostname;
  return e;
}

/** The implant's five publishes, 200 ms apart, as it wrote them. */
function implantWire(): WireInfo {
  const bytes = fs.readFileSync(path.join(FIXTURES, 'implant.bin'));
  const chunks = [];
  for (let pos = 0, t = 0; pos < bytes.length; t += 200) {
    const len = 2 + bytes[pos + 1]!;
    chunks.push({ timeMs: t, bytes: bytes.subarray(pos, pos + len) });
    pos += len;
  }
  return inspectWire(chunks);
}

describe('wire inspection in the DET0002 judgement', () => {
  test('AN0005: MQTT identified on port 8080 is a finding of its own, with topics, rate and entropy', () => {
    const j = judgeDet0002(withWire(8080, implantWire()), rules);
    assert.ok(j?.finding, 'a finding');
    const f = j.finding;
    assert.equal(f.protocol, 'MQTT');
    assert.deepEqual(f.rules, ['PUBSUB-EXTERNAL', RULE_UNUSUAL_PORT, RULE_HIGH_FREQUENCY, RULE.topic]);
    assert.equal(f.severity, 'CRITICAL', 'HIGH for MQTT, raised for the unusual port, the rate and the topic');
    const reasons = f.reasons.join('\n');
    assert.match(reasons, /pub\/sub over an unusual port \(AN0005\): the first bytes on port 8080 are MQTT 3\.1\.1/);
    assert.match(reasons, /5 publications at 5\/s/);
    assert.match(reasons, /topic "c2\/beacon\/q8ZtR2xk" matches/);
    const w = f.details?.wire as WireInfo;
    assert.deepEqual(w.topics, ['c2/beacon/q8ZtR2xk']);
    assert.ok((w.payload?.meanEntropy ?? 0) > 5);
  });

  test('a port that is neither pub/sub nor carries pub/sub bytes is not judged', () => {
    assert.equal(judgeDet0002(withWire(8080, wireOf('http.bin')), rules), null);
    assert.equal(judge(withWire(9000, wireOf('tls.bin')), rules), null);
  });

  test('HTTP on a pub/sub port lowers the severity and says so; TLS on a TLS port does not', () => {
    const http = judgeDet0002(withWire(1883, wireOf('http.bin')), rules)!.finding!;
    assert.equal(http.severity, 'MEDIUM');
    assert.match(http.reasons.join('\n'), /lower confidence: the first bytes are HTTP, not MQTT/);
    const tlsOnPlain = judgeDet0002(withWire(1883, wireOf('tls.bin')), rules)!.finding!;
    assert.equal(tlsOnPlain.severity, 'MEDIUM');
    const tlsOnTls = judgeDet0002(withWire(8883, wireOf('tls.bin'), { inspection: 'none, static TLS' }), rules)!.finding!;
    assert.equal(tlsOnTls.severity, 'HIGH');
    assert.equal(tlsOnTls.details?.inspection, 'none, static TLS');
    const plain = judgeDet0002(event({ ip: EXT, port: 1883, exe: py }), rules)!.finding!;
    assert.equal(plain.severity, 'HIGH', 'without wire bytes nothing changes');
  });

  test('another pub/sub protocol on a pub/sub port is judged as what the bytes say, at lower confidence', () => {
    const f = judgeDet0002(withWire(1883, wireOf('amqp091.bin')), rules)!.finding!;
    assert.equal(f.protocol, 'AMQP');
    assert.match(f.reasons.join('\n'), /first bytes are AMQP 0-9-1, not MQTT/);
  });

  test('STOMP, XMPP and AMQP on unusual ports; MQTT over WebSocket on 8083 is MQTT too', () => {
    for (const [file, protocol] of [['stomp.bin', 'STOMP'], ['xmpp.bin', 'XMPP'], ['amqp091.bin', 'AMQP'], ['ws-mqtt.bin', 'MQTT']] as const) {
      const f = judgeDet0002(withWire(8083, wireOf(file)), rules)?.finding;
      assert.equal(f?.protocol, protocol, file);
      assert.ok(f?.rules.includes(RULE_UNUSUAL_PORT), file);
    }
  });

  test('PayloadLengthThreshold on real sizes: the 4000-byte publication is an indicator', () => {
    const f = judgeDet0002(withWire(1883, wireOf('mqtt-lines.bin')), rules)!.finding!;
    assert.match(f.reasons.join('\n'), /a publication of 4000 bytes exceeds payloadLengthThreshold 512/);
    const quiet = judgeDet0002(withWire(1883, wireOf('mqtt5.bin')), rules)!.finding!;
    assert.ok(!quiet.rules.includes(RULE.topic), quiet.reasons.join('\n'));
  });

  test('high-frequency thresholds come from config', () => {
    const slow = rulesWith({ wireInspection: { highFrequency: { publishesPerSecond: 10, minPublishes: 5 } } });
    assert.ok(!judgeDet0002(withWire(8080, implantWire()), slow)!.finding!.rules.includes(RULE_HIGH_FREQUENCY));
  });

  test('destination.hostname matches host-name entries of brokerAllowList and brokerReputationList without resolving', () => {
    const allow = rulesWith({ brokerAllowList: ['Broker.Example.Test.'] });
    const j = judgeDet0002(withWire(8080, implantWire(), { hostname: 'broker.example.test' }), allow);
    assert.equal(j?.verdict.outcome, 'allowed');
    const bad = rulesWith({ brokerReputationList: [{ broker: 'evil.example.test', comment: 'known C2' }] });
    const f = judgeDet0002(withWire(1883, wireOf('mqtt311.bin'), { hostname: 'evil.example.test' }), bad)!.finding!;
    assert.equal(f.severity, 'CRITICAL');
    assert.ok(f.rules.includes('BROKER-REPUTATION'));
    assert.equal(f.details?.hostname, 'evil.example.test');
    assert.equal((findingToUdm(f, { hostname: 'h', platform: 'linux' }, { version: '0.1.0' }) as { target: { hostname?: string } }).target.hostname, 'evil.example.test');
    const conn = withWire(1883, wireOf('mqtt311.bin'), { hostname: 'evil.example.test' });
    assert.equal((connectionToUdm(conn, { hostname: 'h', platform: 'linux' }, { version: '0.1.0' }) as { target: { hostname?: string } }).target.hostname, 'evil.example.test');
  });

  test('uriPathRegex over the request path on the wire, with the resolved host name in the URL', () => {
    const ws = inspectWire([{ timeMs: 0, bytes: Buffer.from('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: chat\r\n\r\n') }]);
    const j = judge(withWire(443, ws, { hostname: 'push.example.test', inspection: 'tls-plaintext' }), rules);
    assert.deepEqual(j?.finding?.rules, [RULE_URI_PATH]);
    assert.equal(j?.finding?.details?.url, 'wss://push.example.test:443/ws');
    assert.match(j!.finding!.reasons[0]!, /its first bytes request the broker URI/);
  });
});
