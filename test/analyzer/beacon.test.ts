import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BEACON_RULE, BeaconDetector, regularity } from '../../src/analyzer/beacon';
import type { Finding } from '../../src/core/types';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function finding(timeMs: number, exe = '/usr/bin/nc.openbsd', ip = '198.51.100.7', port = 5222): Finding {
  return {
    id: 'x', rules: ['PUBSUB-EXTERNAL', 'AN0003'], technique: 'T1071.005', severity: 'HIGH', protocol: 'XMPP', tls: false,
    time: new Date(timeMs).toISOString(), transport: 'tcp', state: 'SYN_SENT',
    process: { pid: 4242, exe, name: 'nc.openbsd' }, destination: { ip, port }, source: { ip: '10.1.1.1', port: 40000 }, reasons: ['base reason'],
  };
}

const settings = { minConnections: 5, maxJitter: 0.2, minPeriodMs: 1000, maxTracked: 100, windowMs: 3_600_000 };

test('regularity: a 60 s series with 10% jitter is regular, with the median period', () => {
  const times = [0, 60_000, 126_000, 180_000, 243_000, 300_000].map((t) => T0 + t);
  const r = regularity(times, settings);
  assert.ok(r);
  assert.equal(r.periodMs, 60_000);
  assert.equal(r.connections, 6);
  assert.ok(r.jitter > 0 && r.jitter <= 0.2, `jitter ${r.jitter}`);
});

test('regularity: one missed beacon (a double interval) does not hide the period', () => {
  const times = [0, 30_000, 60_000, 120_000, 150_000, 180_000].map((t) => T0 + t);
  assert.equal(regularity(times, settings)?.periodMs, 30_000);
});

test('regularity: random intervals, bursts and short series are not beacons', () => {
  assert.equal(regularity([0, 5_000, 47_000, 52_000, 130_000, 131_000].map((t) => T0 + t), settings), null);
  assert.equal(regularity([0, 100, 200, 300, 400, 500].map((t) => T0 + t), settings), null, 'sub-second burst');
  assert.equal(regularity([0, 60_000, 120_000, 180_000].map((t) => T0 + t), settings), null, 'only 4 connections');
});

test('BeaconDetector raises exactly one BEACONING finding per series per window, with period and jitter', () => {
  const d = new BeaconDetector(settings);
  const out: Finding[] = [];
  for (let i = 0; i < 12; i++) {
    const r = d.add(finding(T0 + i * 10_000 + (i % 2) * 500));
    if (r) out.push(r);
  }
  assert.equal(out.length, 1);
  const b = out[0] as Finding;
  assert.deepEqual(b.rules, [BEACON_RULE, 'PUBSUB-EXTERNAL', 'AN0003']);
  assert.equal(b.severity, 'CRITICAL');
  assert.equal((b.details?.beacon as { connections: number }).connections, 5);
  assert.equal((b.details?.beacon as { periodMs: number }).periodMs, 10_000);
  assert.match(b.reasons[0] as string, /5 times at a regular period of 10\.0 s/);
  // Inside the window nothing more; a window later the still-regular series raises it again
  // (the one long pause is a single outlier interval, which the median ignores).
  assert.equal(d.add(finding(T0 + 120_000)), null);
  const later = d.add(finding(T0 + 3_600_000 + 130_000));
  assert.ok(later, 'raised again in the next window');
  const period = (later.details?.beacon as { periodMs: number }).periodMs;
  assert.ok(period >= 9_500 && period <= 10_500, `period ${period}`);
});

test('BeaconDetector keeps series apart per destination and bounds its memory', () => {
  const d = new BeaconDetector({ ...settings, maxTracked: 3 });
  for (let i = 0; i < 10; i++) d.add(finding(T0 + i, '/usr/bin/x', `198.51.100.${10 + i}`));
  assert.equal(d.tracked, 3);
  d.expire(T0 + 3_600_000 + 10);
  assert.equal(d.tracked, 0);
});
