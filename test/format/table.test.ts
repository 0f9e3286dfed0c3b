import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeSnapshot } from '../../src/analyzer/analyze';
import { groupFindings } from '../../src/format/groups';
import { reportTable } from '../../src/format/table';
import type { ScanReport } from '../../src/format/report';
import { event, rulesWith } from '../analyzer/_events';

/** A host that just made 600 short connections (TIME_WAIT, no owner) and has two live implants. */
function busyHost() {
  const events = [];
  for (let i = 0; i < 600; i++) {
    const e = event({ ip: i % 3 === 0 ? '198.51.100.7' : '198.51.100.8', port: i % 3 === 0 ? 5222 : 1883, process: false, state: 'TIME_WAIT' });
    events.push({ ...e, source: { ...e.source, port: 30000 + i } });
  }
  events.push(event({ ip: '198.51.100.9', port: 5222, exe: '/tmp/.x/implant', pid: 4242 }));
  events.push(event({ ip: '198.51.100.9', port: 5672, exe: '/opt/app/bin/agent', pid: 4343 }));
  // The same process holding three sockets to one broker: one group of three.
  for (let i = 0; i < 3; i++) {
    const e = event({ ip: '198.51.100.10', port: 61613, exe: '/opt/bridge/bin/relay', pid: 4444 });
    events.push({ ...e, source: { ...e.source, port: 40000 + i } });
  }
  return analyzeSnapshot(events, rulesWith(), 'busy');
}

function report(): ScanReport {
  const a = busyHost();
  return {
    tool: { name: 'brokerwatch', version: 'test' }, time: '2026-11-22T05:43:12.000Z', host: { hostname: 'busy', platform: 'linux' },
    adapter: 'procfs', mode: 'det0002', configFiles: [], warnings: [], stats: {}, summary: a.counts,
    connections: a.connections, findings: a.findings, groups: groupFindings(a.findings), correlations: a.correlations,
  };
}

test('hundreds of closed sockets fit on one screen, attributed findings first', () => {
  const r = report();
  assert.equal(r.findings.length, 605);
  const lines = reportTable(r).split('\n');
  assert.ok(lines.length < 40, `the table has ${lines.length} lines:\n${lines.join('\n')}`);
  const header = lines.findIndex((l) => l.startsWith('SEVERITY'));
  assert.ok(header > 0);
  assert.match(lines[header + 1] as string, /^CRITICAL .*\/tmp\/\.x\/implant/, 'the most severe attributed finding is the first row');
  const closed = lines.filter((l) => l.includes('owner unknown -'));
  assert.deepEqual(closed.map((l) => l.trim().split(' ').slice(0, 5).join(' ')).sort(), [
    '200 closed connections to 198.51.100.7:5222',
    '400 closed connections to 198.51.100.8:1883',
  ]);
  assert.ok(lines.indexOf(closed[0] as string) > header, 'closed sockets come after the attributed findings');
  assert.ok(lines.some((l) => /198\.51\.100\.10:61613\s+3\s+4444/.test(l)), 'one process, three sockets to one broker: one row with count 3');
});

test('groups keep every finding: ids add up, attributed first, then by severity', () => {
  const r = report();
  const ids = r.groups.flatMap((g) => g.findingIds);
  assert.equal(ids.length, r.findings.length);
  assert.equal(new Set(ids).size, new Set(r.findings.map((f) => f.id)).size);
  assert.deepEqual(r.groups.map((g) => [g.attributed, g.count]), [[true, 1], [true, 3], [true, 1], [false, 400], [false, 200]]);
  assert.equal(r.connections.length, 605, 'the JSON keeps every connection');
});
