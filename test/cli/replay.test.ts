/**
 * `brokerwatch replay` end to end in a child process: recorded Sysmon events (fixtures with
 * provenance in test/fixtures/replay) and the agent's own UDM file-sink lines.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { analyzeSnapshot } from '../../src/analyzer/analyze';
import { compileRules } from '../../src/analyzer/rules';
import { loadConfig } from '../../src/config/load';
import type { ReplayReport } from '../../src/engine/replay';
import { createUdmFormatter } from '../../src/format/udm';
import { event } from '../analyzer/_events';
import { REPO_ROOT, runCli } from '../helpers/cli';

const FIX = path.join(REPO_ROOT, 'test', 'fixtures', 'replay');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function replayJson(args: string[]): Promise<{ code: number; report: ReplayReport; stderr: string }> {
  const r = await runCli(['replay', '--json', ...args]);
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as ReplayReport, stderr: r.stderr };
  } catch {
    throw new Error(`replay exited ${r.code} without JSON; stderr: ${r.stderr}`);
  }
}

describe('brokerwatch replay', () => {
  test('Windows Sysmon XML: AN0002 on PowerShell, a correlation keyed by the record\'s host, malformed records by file and line', async () => {
    const xml = path.join(FIX, 'sysmon-windows-xml', 'edited.xml');
    const { code, report } = await replayJson([xml]);
    assert.equal(code, 1);
    const ps = report.findings.find((f) => /powershell\.exe$/i.test(f.process?.exe ?? ''));
    assert.ok(ps, 'the PowerShell connection is a finding');
    assert.ok(ps.rules.includes('AN0002'), `rules ${ps.rules.join(',')}`);
    assert.equal(ps.host, 'rfsH.lab.local');
    assert.equal(report.correlations[0]?.host, 'rfsH.lab.local');
    assert.ok(typeof report.correlations[0]?.window === 'object', 'a time window, not a snapshot');
    assert.ok(report.warnings.some((w) => w.code === 'replay-malformed-record' && w.message.startsWith(`${xml}:`)), JSON.stringify(report.warnings));
    assert.ok(report.summary.inbound >= 1, 'Initiated=false is counted as inbound');
  });

  test('the agent\'s own UDM lines replay to the findings a scan of the same connections gives', async () => {
    const { config } = loadConfig([]);
    const events = [
      event({ ip: '198.51.100.7', port: 5222, exe: '/tmp/evil', pid: 501 }),
      event({ ip: '2001:db8::9', port: 61613, exe: '/usr/bin/nc.openbsd', pid: 502 }),
      event({ ip: '10.2.3.4', port: 1883, exe: '/usr/bin/python3.11', pid: 503 }),
    ];
    const scan = analyzeSnapshot(events, compileRules(config, { platform: 'linux' }), 'lab-host');
    const udm = createUdmFormatter({ hostname: 'lab-host', platform: 'linux' }, { version: 'test' });
    const lines = [...scan.findings.map((f) => udm.finding(f)), ...scan.connections.filter((c) => c.verdict.outcome !== 'finding').map((c) => udm.connection(c))];
    const file = path.join(dir, 'events.udm.jsonl');
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { code, report } = await replayJson([file]);
    assert.equal(code, 1);
    const key = (f: { destination: { ip: string; port: number }; severity: string; rules: string[]; process: { pid: number } | null }) => `${f.destination.ip}:${f.destination.port} ${f.process?.pid} ${f.severity} ${f.rules.join(',')}`;
    assert.deepEqual(report.findings.map(key).sort(), scan.findings.map(key).sort());
    assert.deepEqual(report.findings.map((f) => f.host), ['lab-host', 'lab-host']);
  });

  test('clear errors: no file, a missing file, a bad --format', async () => {
    const none = await runCli(['replay']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /at least one FILE/);
    const missing = await runCli(['replay', path.join(dir, 'nope.xml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.xml: ENOENT/);
    const bad = await runCli(['replay', '--format', 'evtx', path.join(FIX, 'sysmon-windows-xml', 'event.xml')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format must be one of auto, sysmon, udm, jsonl/);
  });

  test('the table groups and orders what it shows, and --help teaches the formats', async () => {
    const r = await runCli(['replay', path.join(FIX, 'sysmon-windows-xml', 'edited.xml')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^brokerwatch replay: 1 file/);
    assert.match(r.stdout, /CORRELATION t1071_005_pubsub_protocol_external_c2/);
    const help = await runCli(['replay', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Sysmon Event ID 3/);
    assert.match(help.stdout, /Examples:/);
  });
});
