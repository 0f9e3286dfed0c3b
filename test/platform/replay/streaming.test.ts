import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

/**
 * Replay streams: files far larger than the heap it may use go through in a child process started
 * with --max-old-space-size=64. A reader that loaded a file whole would die of heap exhaustion.
 */
const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-big-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const NXLOG = (i: number): string => JSON.stringify({
  EventTime: '2026-03-01 12:00:00', Hostname: 'WS-BIG.example.net', EventType: 'INFO', EventID: i % 10 === 9 ? '1' : '3', SourceName: 'Microsoft-Windows-Sysmon',
  Channel: 'Microsoft-Windows-Sysmon/Operational', Category: 'Network connection detected (rule: NetworkConnect)', RuleName: '-',
  UtcTime: `2026-03-01 12:${String(Math.floor(i / 60000) % 60).padStart(2, '0')}:${String(Math.floor(i / 1000) % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}`,
  ProcessGuid: '{03bfca49-8dd2-632c-550d-000000000b00}', ProcessId: '4242', Image: 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe',
  User: 'CONTOSO\\svc-build', Protocol: 'tcp', Initiated: 'True', SourceIsIpv6: 'false', SourceIp: '10.30.0.42', SourceHostname: '-', SourcePort: String(i % 65536),
  SourcePortName: '-', DestinationIsIpv6: 'false', DestinationIp: '198.51.100.7', DestinationHostname: '-', DestinationPort: '8883', DestinationPortName: '-',
  EventReceivedTime: '2026-03-01 12:00:01', SourceModuleName: 'in', SourceModuleType: 'im_msvistalog', Padding: 'x'.repeat(600),
});

const XML = (i: number): string => `<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon"/><EventID>3</EventID><Computer>WS-BIG</Computer></System><EventData><Data Name="UtcTime">2026-03-01 12:${String(Math.floor(i / 60000) % 60).padStart(2, '0')}:${String(Math.floor(i / 1000) % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}</Data><Data Name="ProcessId">4242</Data><Data Name="Image">C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe</Data><Data Name="Protocol">tcp</Data><Data Name="Initiated">true</Data><Data Name="SourceIp">10.30.0.42</Data><Data Name="SourcePort">${i % 65536}</Data><Data Name="DestinationIp">198.51.100.7</Data><Data Name="DestinationPort">1883</Data><Data Name="Padding">${'y'.repeat(500)}</Data></EventData></Event>`;

/** Writes `count` records made by `make` to `file`, each followed by `sep` and `extra(i)`, and returns the size in bytes. */
async function generate(file: string, count: number, make: (i: number) => string, sep: string, extra: (i: number) => string = () => ''): Promise<number> {
  const out = fs.createWriteStream(file);
  let batch: string[] = [];
  for (let i = 0; i < count; i++) {
    batch.push(make(i) + sep + extra(i));
    if (batch.length === 2000) {
      if (!out.write(batch.join(''))) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      batch = [];
    }
  }
  out.write(batch.join(''));
  await new Promise((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve(undefined))));
  return fs.statSync(file).size;
}

async function replayInChild(format: string, file: string): Promise<{ events: number; ordered: boolean; peakHeapMiB: number; stats: Record<string, unknown>; warnings: Array<{ message: string; count: number }> }> {
  const script = path.join(__dirname, 'replay-count.ts');
  const { stdout } = await run(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', script, format, file], { maxBuffer: 1 << 20, timeout: 300_000 });
  return JSON.parse(stdout) as never;
}

describe('replay streams in bounded memory', { timeout: 600_000 }, () => {
  const jsonl = path.join(dir, 'sysmon-nxlog.jsonl');
  const xml = path.join(dir, 'sysmon-one-line.xml');
  const JSON_RECORDS = 200_000;
  const XML_RECORDS = 60_000;

  before(async () => {
    // Every 50 000th line is followed by a broken one; every tenth record is an Event ID 1.
    const size = await generate(jsonl, JSON_RECORDS, NXLOG, '\n', (i) => (i % 50_000 === 49_999 ? '{"EventID": "3", "Broken\n' : ''));
    assert.ok(size > 200 * 1024 * 1024, `generated ${size} bytes`);
    // No newline at all: the XML scanner must not wait for one.
    const xmlSize = await generate(xml, XML_RECORDS, XML, '');
    assert.ok(xmlSize > 50 * 1024 * 1024, `generated ${xmlSize} bytes`);
  });

  it('replays 200+ MB of NXLog Sysmon JSON lines with a 64 MB heap: every record counted, in order', async () => {
    const r = await replayInChild('sysmon', jsonl);
    const eid1 = JSON_RECORDS / 10;
    assert.equal(r.events, JSON_RECORDS - eid1);
    assert.equal(r.ordered, true);
    assert.equal(r.stats.skippedNotEid3, eid1);
    assert.equal(r.stats.outOfOrder, 0);
    assert.equal(r.stats.malformed, 4);
    assert.equal(r.stats.records, JSON_RECORDS + 4);
    assert.equal(r.warnings.length, 4);
    // Line of the first broken record: 50 000 records, then the broken line.
    assert.match(r.warnings[0]?.message ?? '', /sysmon-nxlog\.jsonl:50001: not valid JSON/);
    assert.ok(r.peakHeapMiB < 64, `peak heap ${r.peakHeapMiB} MiB`);
  });

  it('replays a 50+ MB XML file that is one single line with a 64 MB heap', async () => {
    const r = await replayInChild('auto', xml);
    assert.equal(r.events, XML_RECORDS);
    assert.equal(r.ordered, true);
    assert.equal(r.stats.malformed, 0);
  });
});
