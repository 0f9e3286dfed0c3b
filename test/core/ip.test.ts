import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp } from '../../src/core/ip';

test('canonicalIp writes IPv6 short, unwraps IPv4-mapped, rejects junk', () => {
  assert.equal(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0007'), '2001:db8::7');
  assert.equal(canonicalIp('::ffff:198.51.100.7'), '198.51.100.7');
  assert.equal(canonicalIp('[2001:db8::7]'), '2001:db8::7');
  assert.equal(canonicalIp('fe80::1%eth0'), 'fe80::1');
  assert.equal(canonicalIp('198.51.100.300'), null);
  assert.equal(canonicalIp('mqtt.example.com'), null);
});
