/**
 * BrokerReputationList feed parsers: plain lines, CSV and STIX 2.1, with bad lines reported by line
 * number while the rest loads. Inputs are written here after the forms threat-intel platforms export
 * (STIX 2.1 indicator patterns per the OASIS spec); documentation addresses only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvFields, detectFeedFormat, parseFeed } from '../../src/analyzer/reputation-feed-parse';

test('lines: comments, blanks, IPv4/IPv6/CIDR/host names; bad lines by number; duplicates once', () => {
  const text = [
    '# C2 brokers, 2025-11-03',
    '198.51.100.66',
    '',
    '2001:db8::66   # inline comment',
    '198.51.100.0/28',
    'c2.example.net.',
    '198.51.100.300',
    'not a host!',
    '198.51.100.66',
  ].join('\r\n');
  const p = parseFeed(text, 'auto');
  assert.equal(p.format, 'lines');
  assert.deepEqual(p.entries, ['198.51.100.66', '2001:db8::66', '198.51.100.0/28', 'c2.example.net']);
  assert.deepEqual(p.problems.map((x) => x.line), [7, 8]);
  assert.match(p.problems[0]?.message ?? '', /198\.51\.100\.300/);
});

test('csv: the indicator column by header, quotes, a malformed line reported, the rest loaded', () => {
  const text = [
    'type,indicator,first_seen,description',
    'ipv4,198.51.100.70,2025-11-01,"mqtt c2, seen twice"',
    'domain,"broker.example.org",2025-11-02,x',
    'ipv4,"198.51.100.71,2025-11-02,unbalanced',
    'ipv4,999.1.1.1,2025-11-02,bad',
  ].join('\n');
  const p = parseFeed(text, 'auto');
  assert.equal(p.format, 'csv');
  assert.deepEqual(p.entries, ['198.51.100.70', 'broker.example.org']);
  assert.deepEqual(p.problems.map((x) => x.line), [4, 5]);
  assert.match(p.problems[0]?.message ?? '', /unbalanced quotes/);
});

test('csv without a header: the first column, first row included', () => {
  const p = parseFeed('198.51.100.80,mqtt\n2001:db8::80,xmpp\n', 'csv');
  assert.deepEqual(p.entries, ['198.51.100.80', '2001:db8::80']);
  assert.deepEqual(csvFields('"a ""b""",c'), ['a "b"', 'c']);
  assert.equal(csvFields('"open,c'), null);
});

test('stix 2.1: indicators (also OR-ed), SCOs; revoked/expired skipped; other observables ignored; bad values by object', () => {
  const bundle = {
    type: 'bundle',
    id: 'bundle--5d0092c5-5f74-4287-9642-33f4c354e56d',
    objects: [
      { type: 'identity', spec_version: '2.1', id: 'identity--1', name: 'intel team' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--a', pattern_type: 'stix', pattern: "[ipv4-addr:value = '198.51.100.90']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--b', pattern_type: 'stix', pattern: "[ipv6-addr:value = '2001:db8::90' OR domain-name:value = 'mqtt.example.org']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--c', pattern_type: 'stix', pattern: "[ipv4-addr:value = '198.51.100.0/29']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--revoked', revoked: true, pattern_type: 'stix', pattern: "[ipv4-addr:value = '198.51.100.91']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--expired', pattern_type: 'stix', pattern: "[ipv4-addr:value = '198.51.100.92']", valid_from: '2024-01-01T00:00:00Z', valid_until: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--hash', pattern_type: 'stix', pattern: "[file:hashes.'SHA-256' = 'aa']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--snort', pattern_type: 'snort', pattern: 'alert tcp any any -> any 1883', valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--bad', pattern_type: 'stix', pattern: "[ipv4-addr:value = '198.51.100.256']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--range', pattern_type: 'stix', pattern: "[ipv4-addr:value ISSUBSET '198.51.100.0/24']", valid_from: '2025-01-01T00:00:00Z' },
      { type: 'ipv4-addr', spec_version: '2.1', id: 'ipv4-addr--x', value: '198.51.100.93' },
    ],
  };
  const p = parseFeed(JSON.stringify(bundle, null, 2), 'auto', Date.parse('2025-11-03T00:00:00Z'));
  assert.equal(p.format, 'stix');
  assert.deepEqual(p.entries, ['198.51.100.90', '2001:db8::90', 'mqtt.example.org', '198.51.100.0/29', '198.51.100.93']);
  assert.equal(p.skipped, 2);
  assert.deepEqual(p.problems.map((x) => x.line), [9, 10]);
  assert.match(p.problems[0]?.message ?? '', /^object 9 \(indicator--bad\): not an IP address/);
  assert.match(p.problems[1]?.message ?? '', /unsupported pattern/);
});

test('stix: not JSON or not a bundle is one problem, no entries', () => {
  assert.deepEqual(parseFeed('{"type": "bundle"', 'stix').entries, []);
  assert.equal(parseFeed('{"type": "bundle"', 'stix').problems.length, 1);
  assert.match(parseFeed('{"type":"bundle"}', 'stix').problems[0]?.message ?? '', /no "objects" array/);
  assert.equal(detectFeedFormat('\uFEFF[{"type":"ipv4-addr","value":"198.51.100.1"}]'), 'stix');
  assert.deepEqual(parseFeed('[{"type":"ipv4-addr","value":"198.51.100.1"}]', 'auto').entries, ['198.51.100.1']);
});
