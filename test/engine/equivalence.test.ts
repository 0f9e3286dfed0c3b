/**
 * scan, run and replay are one pipeline: the same events give the same verdicts, findings and
 * correlations through all three, in both modes. scan = analyzeSnapshot over the events; run = the
 * Daemon with a source that emits them and a memory sink; replay = replayRecords over a reader.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyzeSnapshot } from '../../src/analyzer/analyze';
import type { Correlation } from '../../src/analyzer/correlation';
import { compileRules } from '../../src/analyzer/rules';
import { loadConfig } from '../../src/config/load';
import { memoryLogger } from '../../src/core/logger';
import type { OutRecord } from '../../src/core/sink';
import type { Source } from '../../src/core/source';
import type { ConnectionEvent, Finding, JudgedConnection } from '../../src/core/types';
import { Daemon, type RecordFormatter } from '../../src/engine/daemon';
import { type RecordReader, replayRecords } from '../../src/engine/replay';
import { MemorySink } from '../../src/sinks/memory';
import { event } from '../analyzer/_events';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-equiv-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function configFile(mode: string): string {
  const file = path.join(dir, `${mode}.yaml`);
  fs.writeFileSync(file, `mode: ${mode}\nsinks: []\n`);
  return file;
}

/** Connections of one host inside one hour, and one of another host. */
function events(): ConnectionEvent[] {
  const at = (s: number) => new Date(Date.parse('2026-11-22T05:10:00Z') + s * 1000).toISOString();
  const list = [
    { ...event({ ip: '198.51.100.7', port: 5222, exe: '/tmp/evil', pid: 101 }), time: at(0) },
    { ...event({ ip: '198.51.100.8', port: 1883, exe: '/usr/bin/mosquitto_pub', pid: 102, argv: ['mosquitto_pub', '-t', 'c2/beacon', '-m', 'x'] }), time: at(5) },
    { ...event({ ip: '2001:db8::7', port: 61613, exe: '/usr/bin/socat', pid: 103 }), time: at(9) },
    { ...event({ ip: '10.1.2.3', port: 5672, exe: '/usr/bin/python3.11', pid: 104 }), time: at(11) },
    { ...event({ ip: '198.51.100.9', port: 5671, process: false, state: 'TIME_WAIT' }), time: at(12) },
  ];
  return list.map((e) => ({ ...e, host: 'ws1' }));
}

interface Outcome {
  verdicts: string[];
  findings: string[];
  correlations: string[];
}

const key = (c: { destination: { ip: string; port: number }; process?: { pid: number } | null | undefined }) => `${c.destination.ip}:${c.destination.port}/${c.process?.pid ?? '-'}`;
const corrKey = (c: Correlation) => `${c.host} ${c.event_count} ${c.target_ips.join(',')} ${c.protocols_seen.join(',')} ${c.severity}`;

function outcome(connections: readonly JudgedConnection[], findings: readonly Finding[], correlations: readonly Correlation[]): Outcome {
  return {
    verdicts: connections.map((c) => `${key(c)} ${c.verdict.outcome}`).sort(),
    findings: findings.map((f) => `${key(f)} ${f.severity} ${f.rules.join(',')}`).sort(),
    correlations: correlations.map(corrKey).sort(),
  };
}

function viaScan(mode: string): Outcome {
  const { config } = loadConfig([configFile(mode)]);
  const a = analyzeSnapshot(events(), compileRules(config, { platform: 'linux' }), 'ws1');
  return outcome(a.connections, a.findings, a.correlations);
}

async function viaReplay(mode: string): Promise<Outcome> {
  const list = events();
  const reader: RecordReader = {
    async *events() { yield* list; },
    warnings: () => [],
    stats: () => ({ records: list.length }),
  };
  const r = await replayRecords({ configFiles: [configFile(mode)], inputs: ['(memory)'], reader, defaultOs: 'linux' });
  return outcome(r.connections, r.findings, r.correlations);
}

async function viaRun(mode: string): Promise<Outcome> {
  const { config } = loadConfig([configFile(mode)]);
  const sink = new MemorySink();
  type Tagged = OutRecord & { kind: string; value: unknown };
  const identity: RecordFormatter = {
    connection: (c) => ({ kind: 'connection', value: c }),
    finding: (f) => ({ kind: 'finding', value: f }),
    correlation: (c) => ({ kind: 'correlation', value: c }),
  };
  const source: Source = {
    name: 'events',
    async start(emit) { for (const e of events()) emit(e); },
    async close() { /* nothing held */ },
  };
  const daemon = new Daemon({
    host: { hostname: 'ws1', platform: 'linux' },
    log: memoryLogger([]),
    formatters: { udm: identity, ocsf: identity, sysmon: identity },
    createSource: async () => source,
    outputs: [{ sink, format: 'udm' }],
  });
  await daemon.start(config);
  await daemon.stop();
  const records = sink.records as Tagged[];
  const findings = records.filter((r) => r.kind === 'finding').map((r) => r.value as Finding);
  // A finding is the connection's record: its verdict is "finding".
  const connections = [
    ...records.filter((r) => r.kind === 'connection').map((r) => r.value as JudgedConnection),
    ...findings.filter((f) => !f.rules.includes('BEACONING')).map((f) => ({ ...f, verdict: { outcome: 'finding' } }) as unknown as JudgedConnection),
  ];
  // The live agent may report a window twice (at two matches, then at its close if it grew): the last one is the window's.
  const byWindow = new Map<string, Correlation>();
  for (const r of records) if (r.kind === 'correlation') { const c = r.value as Correlation; byWindow.set(`${c.host}${JSON.stringify(c.window)}`, c); }
  return outcome(connections, findings, [...byWindow.values()]);
}

for (const mode of ['det0002', 'yaral-parity']) {
  describe(`scan, run and replay agree (${mode})`, () => {
    test('same verdicts, findings and correlations', async () => {
      const scan = viaScan(mode);
      const replay = await viaReplay(mode);
      const run = await viaRun(mode);
      assert.ok(scan.findings.length >= 2, `the case has findings: ${JSON.stringify(scan)}`);
      assert.equal(scan.correlations.length, 1, 'one host, one window: one correlation');
      assert.deepEqual(replay, scan);
      assert.deepEqual(run, scan);
    });
  });
}

test('yaral-parity: a lone match is "allowed" with the #net > 1 reason in all three', async () => {
  const file = configFile('yaral-parity');
  const one = [{ ...event({ ip: '198.51.100.7', port: 5222, exe: '/tmp/evil', pid: 7 }), host: 'ws2' }];
  const { config } = loadConfig([file]);
  const scan = analyzeSnapshot(one, compileRules(config, { platform: 'linux' }), 'ws2');
  const reader: RecordReader = { async *events() { yield* one; }, warnings: () => [], stats: () => ({}) };
  const replay = await replayRecords({ configFiles: [file], inputs: [], reader });
  for (const a of [scan, replay]) {
    assert.deepEqual(a.findings, []);
    assert.equal(a.connections[0]?.verdict.outcome, 'allowed');
    assert.ok(a.connections[0]?.verdict.reasons.some((r) => r.includes('#net > 1')));
  }
});

test('replay judges each record by its own OS: a Windows record by AN0002, case-insensitively', async () => {
  const win = { ...event({ ip: '198.51.100.7', port: 5672, exe: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\POWERSHELL.EXE', pid: 9 }), host: 'win-1', os: 'windows' as const };
  const lin = { ...event({ ip: '198.51.100.7', port: 5672, exe: '/usr/bin/nc.openbsd', pid: 10 }), host: 'lin-1', os: 'linux' as const };
  const inbound = { ...event({ ip: '198.51.100.7', port: 5672, exe: '/usr/bin/nc.openbsd', pid: 11 }), direction: 'inbound' as const };
  const reader: RecordReader = { async *events() { yield* [win, lin, inbound]; }, warnings: () => [], stats: () => ({}) };
  const r = await replayRecords({ configFiles: [], inputs: [], reader });
  const byHost = Object.fromEntries(r.findings.map((f) => [f.host, f.rules]));
  assert.deepEqual(byHost['win-1'], ['PUBSUB-EXTERNAL', 'AN0002']);
  assert.deepEqual(byHost['lin-1'], ['PUBSUB-EXTERNAL', 'AN0003']);
  assert.equal(r.summary.inbound, 1, 'inbound is counted, not judged');
  assert.deepEqual(r.hosts.map((h) => [h.host, h.os, h.findings]).sort(), [['(unknown host)', 'linux', 0], ['lin-1', 'linux', 1], ['win-1', 'windows', 1]]);
});
