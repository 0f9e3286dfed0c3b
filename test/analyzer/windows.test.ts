import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SNAPSHOT, WindowCorrelator, type Match } from '../../src/analyzer/windows';
import type { Finding } from '../../src/core/types';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T10:00:00Z');

function m(offsetMs: number, ip: string, protocol: string, exe: string): Match {
  const finding: Finding = {
    id: String(offsetMs), rules: ['PUBSUB-EXTERNAL'], technique: 'T1071.005', severity: protocol === 'AMQP' ? 'MEDIUM' : 'HIGH', protocol, tls: false,
    time: new Date(T0 + offsetMs).toISOString(), transport: 'tcp', state: 'ESTABLISHED', process: { pid: 1, exe },
    destination: { ip, port: 1883 }, source: { ip: '10.0.0.2', port: 5000 }, reasons: [],
  };
  const connection = {
    time: finding.time, adapter: 'test', transport: 'tcp' as const, family: 4 as const, state: 'ESTABLISHED', source: finding.source, destination: finding.destination,
    direction: 'outbound' as const, verdict: { protocol, tls: false, destinationClass: 'external' as const, outcome: 'finding' as const, reasons: [] },
  };
  return { connection, finding };
}

test('live (emitOpen): the second match of a window emits the correlation at once; the final one follows at close only if it grew', () => {
  const w = new WindowCorrelator({ windowMs: HOUR, mode: 'det0002', emitOpen: true });
  const first = w.add(m(0, '198.51.100.7', 'MQTT', '/usr/bin/mosquitto_pub'), 'h1');
  assert.equal(first.findings.length, 1, 'det0002: a match is a finding at once');
  assert.deepEqual(first.correlations, []);
  const second = w.add(m(60_000, '198.51.100.9', 'AMQP', '/usr/bin/python3.11'), 'h1');
  assert.deepEqual(second.correlations, [{
    rule: 't1071_005_pubsub_protocol_external_c2', technique: 'T1071.005', host: 'h1',
    window: { start: '2026-01-01T10:00:00.000Z', end: '2026-01-01T11:00:00.000Z' },
    severity: 'HIGH', event_count: 2, connection_count: 2,
    protocols_seen: ['AMQP', 'MQTT'], initiating_process: ['/usr/bin/mosquitto_pub', '/usr/bin/python3.11'], target_ips: ['198.51.100.7', '198.51.100.9'],
  }]);
  assert.deepEqual(w.add(m(120_000, '198.51.100.7', 'MQTT', '/usr/bin/mosquitto_pub'), 'h1').correlations, [], 'not again while open');
  assert.deepEqual(w.expire(T0 + HOUR - 1).correlations, [], 'still open');
  const closed = w.expire(T0 + HOUR);
  assert.equal(closed.correlations.length, 1);
  assert.equal(closed.correlations[0]?.event_count, 3, 'the final count');
  assert.equal(w.openWindows, 0);
});

test('replay (no emitOpen): one correlation per window, at its close, with the final count', () => {
  const w = new WindowCorrelator({ windowMs: HOUR, mode: 'det0002', emitOpen: false });
  for (let i = 0; i < 3; i++) assert.deepEqual(w.add(m(i * 1000, '198.51.100.7', 'MQTT', '/bin/nc'), 'h1').correlations, []);
  const out = w.closeAll();
  assert.equal(out.correlations.length, 1);
  assert.equal(out.correlations[0]?.event_count, 3);
});

test('yaral-parity: the first match waits for a second; alone at its window\'s end it is not a finding', () => {
  const w = new WindowCorrelator({ windowMs: HOUR, mode: 'yaral-parity', emitOpen: false });
  assert.deepEqual(w.add(m(0, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1').findings, [], 'held');
  const two = w.add(m(1000, '198.51.100.8', 'XMPP', '/usr/bin/nc'), 'h1');
  assert.equal(two.findings.length, 2, 'both released');
  assert.equal(w.add(m(2000, '198.51.100.8', 'XMPP', '/usr/bin/nc'), 'h1').findings.length, 1, 'later matches are findings at once');
  assert.deepEqual(w.add(m(HOUR + 5, '198.51.100.8', 'XMPP', '/usr/bin/nc'), 'h2').findings, [], 'other host, held');
  const end = w.closeAll();
  assert.equal(end.unmet.length, 1, 'h2 had one match: not a detection');
  assert.equal(end.correlations.length, 1);
  assert.equal(end.correlations[0]?.host, 'h1');
  assert.equal(end.correlations[0]?.severity, 'HIGH');
  assert.equal(end.correlations[0]?.event_count, 3);
});

test('windows tumble on the hour and are keyed by host and start: a late event lands in its own window', () => {
  const w = new WindowCorrelator({ windowMs: HOUR, mode: 'det0002', emitOpen: false });
  w.add(m(HOUR - 1000, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1');
  w.add(m(HOUR + 1000, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1');
  w.add(m(HOUR - 500, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1');
  assert.equal(w.openWindows, 2);
  const out = w.closeAll();
  assert.equal(out.correlations.length, 1, 'only the first hour holds two');
  assert.equal((out.correlations[0]?.window as { start: string }).start, '2026-01-01T10:00:00.000Z');
});

test('snapshot: one window for everything, closed by closeAll, marked "snapshot"', () => {
  const w = new WindowCorrelator({ windowMs: SNAPSHOT, mode: 'det0002', emitOpen: false });
  w.add(m(0, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'h1');
  w.add(m(5 * HOUR, '198.51.100.8', 'XMPP', '/usr/bin/nc'), 'h1');
  assert.deepEqual(w.expire(T0 + 10 * HOUR).correlations, [], 'a snapshot never expires by time');
  assert.equal(w.closeAll().correlations[0]?.window, 'snapshot');
});

test('memory is bounded: beyond maxWindows the oldest window closes early, with its correlation', () => {
  const w = new WindowCorrelator({ windowMs: HOUR, mode: 'det0002', emitOpen: false, maxWindows: 2 });
  w.add(m(0, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'a');
  w.add(m(1, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'a');
  w.add(m(2, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'b');
  const out = w.add(m(3, '198.51.100.7', 'XMPP', '/usr/bin/nc'), 'c');
  assert.equal(out.correlations.length, 1);
  assert.equal(out.correlations[0]?.host, 'a');
  assert.equal(w.openWindows, 2);
});
