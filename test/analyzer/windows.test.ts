import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowCorrelator } from '../../src/analyzer/windows';
import type { Finding } from '../../src/core/types';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T10:00:00Z');

function f(offsetMs: number, ip: string, protocol: string, exe: string): Finding {
  return {
    id: String(offsetMs), rules: ['PUBSUB-EXTERNAL'], technique: 'T1071.005', severity: protocol === 'AMQP' ? 'MEDIUM' : 'HIGH', protocol, tls: false,
    time: new Date(T0 + offsetMs).toISOString(), transport: 'tcp', state: 'ESTABLISHED', process: { pid: 1, exe },
    destination: { ip, port: 1883 }, source: { ip: '10.0.0.2', port: 5000 }, reasons: [],
  };
}

test('one connection in a window is not a correlation; the second one is, once per window', () => {
  const w = new WindowCorrelator(HOUR, 'det0002');
  assert.equal(w.add(f(0, '198.51.100.7', 'MQTT', '/usr/bin/mosquitto_pub'), 'h1'), null);
  const c = w.add(f(60_000, '198.51.100.9', 'AMQP', '/usr/bin/python3.11'), 'h1');
  assert.deepEqual(c, {
    rule: 't1071_005_pubsub_protocol_external_c2', technique: 'T1071.005', host: 'h1',
    window: { start: '2026-01-01T10:00:00.000Z', end: '2026-01-01T11:00:00.000Z' },
    severity: 'HIGH', event_count: 2, connection_count: 2,
    protocols_seen: ['AMQP', 'MQTT'], initiating_process: ['/usr/bin/mosquitto_pub', '/usr/bin/python3.11'], target_ips: ['198.51.100.7', '198.51.100.9'],
  });
  assert.equal(w.add(f(120_000, '198.51.100.7', 'MQTT', '/usr/bin/mosquitto_pub'), 'h1'), null, 'not again in the same window');
});

test('windows are per host and tumble on the hour; a late event does not reopen a closed window', () => {
  const w = new WindowCorrelator(HOUR, 'yaral-parity');
  assert.equal(w.add(f(HOUR - 1000, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1'), null);
  assert.equal(w.add(f(HOUR + 1000, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1'), null, 'the next window starts counting at 1');
  assert.equal(w.add(f(HOUR - 500, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1'), null, 'late event');
  assert.equal(w.add(f(HOUR + 2000, '198.51.100.8', 'STOMP', '/usr/bin/socat'), 'h2'), null, 'other host');
  const c = w.add(f(HOUR + 3000, '198.51.100.8', 'XMPP', '/usr/bin/nc'), 'h1');
  assert.equal(c?.severity, 'HIGH');
  assert.equal(c?.event_count, 2);
  assert.equal(c?.connection_count, 2);
  assert.equal(w.trackedHosts, 2);
  w.expire(T0 + 2 * HOUR);
  assert.equal(w.trackedHosts, 0);
});
