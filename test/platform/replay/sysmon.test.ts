import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixture, replay } from './helpers';

describe('replay: Sysmon for Linux in syslog', () => {
  it('reads the Event ID 3 records of a real syslog excerpt with their own time, host and process; skips the others', async () => {
    const { records, source } = await replay([fixture('sysmon-linux-syslog', 'syslog')]);
    assert.deepEqual(records.map((r) => [r.line, r.format]), [[1, 'sysmon'], [3, 'sysmon']]);
    assert.deepEqual(records[0]?.event, {
      time: '2022-11-24T09:59:47.930Z',
      adapter: 'sysmon',
      transport: 'tcp',
      family: 4,
      state: 'ESTABLISHED',
      source: { ip: '10.31.60.25', port: 42234 },
      destination: { ip: '198.51.100.94', port: 80 },
      direction: 'outbound',
      process: { pid: 4005, exe: '/usr/bin/curl', name: 'curl', user: 'root', guid: '{c9eb4a87-4093-637f-789d-2406ab550000}' },
      host: 'ip-10-31-60-25',
      os: 'linux',
    });
    assert.equal(records[1]?.event.time, '2022-11-24T09:59:48.016Z');
    assert.deepEqual(source.stats, {
      files: 1, records: 5, events: 2, byFormat: { sysmon: 2, udm: 0, jsonl: 0 }, inbound: 0, malformed: 0,
      skippedNotEid3: 3, skippedOther: 0, unreadableFiles: 0, outOfOrder: 0,
    });
    assert.deepEqual(source.warnings(), []);
  });

  it('marks inbound, normalizes IPv6 and IPv4-mapped addresses, and reports cut and broken records by line', async () => {
    const { records, source } = await replay([fixture('sysmon-linux-syslog', 'edited.syslog')]);
    const view = records.map((r) => [r.line, r.event.direction, r.event.family, r.event.source.ip, r.event.destination.ip, r.event.destination.port]);
    assert.deepEqual(view, [
      [1, 'outbound', 4, '10.31.60.25', '198.51.100.94', 1883],
      [2, 'inbound', 4, '198.51.100.94', '10.31.60.25', 1883],
      [3, 'outbound', 4, '10.31.60.25', '198.51.100.94', 8883],
      [4, 'outbound', 6, '2001:db8::42', '2001:db8::7', 5222],
      [6, 'outbound', 4, '10.31.60.25', '198.51.100.94', 61613],
    ]);
    const file = fixture('sysmon-linux-syslog', 'edited.syslog');
    assert.deepEqual(source.warnings(), [
      { code: 'replay-malformed-record', message: `${file}:5: truncated <Event> record (no </Event> before the next <Event>)`, count: 1 },
      { code: 'replay-malformed-record', message: `${file}:7: DestinationIp is not an IP address`, count: 1 },
    ]);
    assert.equal(source.stats.malformed, 2);
    assert.equal(source.stats.inbound, 1);
  });
});

describe('replay: Windows event XML', () => {
  it('reads a real pretty-printed record: Windows OS whatever replay runs on, UtcTime first', async () => {
    const { records } = await replay([fixture('sysmon-windows-xml', 'event.xml')]);
    assert.deepEqual(records.map((r) => r.event), [{
      time: '2017-04-28T22:12:22.557Z',
      adapter: 'sysmon',
      transport: 'tcp',
      family: 4,
      state: 'ESTABLISHED',
      source: { ip: '10.1.1.250', port: 3328 },
      destination: { ip: '198.51.100.150', port: 443 },
      direction: 'outbound',
      process: { pid: 13220, exe: 'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe', name: 'chrome.exe', user: 'LAB\\rsmith', guid: '{A23EAE89-BD28-5903-0000-00102F345D00}' },
      host: 'rfsH.lab.local',
      os: 'windows',
    }]);
  });

  it('reads an <Events> export: entities, True, UDP, mapped addresses, System; skips Event ID 1; a bad port is malformed', async () => {
    const file = fixture('sysmon-windows-xml', 'edited.xml');
    const { records, source } = await replay([file]);
    const view = records.map((r) => [r.line, r.event.transport, r.event.direction, r.event.source.ip, r.event.destination.ip, r.event.destination.port, r.event.process?.exe, r.event.process?.name]);
    assert.deepEqual(view, [
      [3, 'tcp', 'outbound', '10.1.1.250', '198.51.100.7', 8883, 'C:\\WINDOWS\\SYSTEM32\\WINDOWSPOWERSHELL\\V1.0\\PowerShell.EXE', 'PowerShell.EXE'],
      [4, 'tcp', 'inbound', '198.51.100.9', '10.1.1.250', 1883, 'C:\\Program Files\\Mosquitto\\mosquitto.exe', 'mosquitto.exe'],
      [5, 'tcp', 'outbound', '2001:db8::42', '2001:db8::7', 5222, 'C:\\Tools\\R&D <x>\\client.exe', 'client.exe'],
      [6, 'udp', 'outbound', '10.1.1.250', '198.51.100.8', 61613, 'C:\\Tools\\client.exe', 'client.exe'],
      [9, 'tcp', 'outbound', '10.1.1.250', '198.51.100.7', 5672, undefined, 'System'],
    ]);
    assert.ok(records.every((r) => r.event.os === 'windows' && r.event.host === 'rfsH.lab.local'));
    assert.equal(source.stats.skippedNotEid3, 1);
    assert.deepEqual(source.warnings(), [{ code: 'replay-malformed-record', message: `${file}:8: SourcePort or DestinationPort is not a port number`, count: 1 }]);
  });

  it('refuses XML when --format asks for UDM, record by record, without stopping', async () => {
    const { records, source } = await replay([fixture('sysmon-windows-xml', 'event.xml')], { format: 'udm' });
    assert.equal(records.length, 0);
    assert.equal(source.stats.malformed, 1);
  });
});

describe('replay: Sentinel, Log Analytics, NXLog and Winlogbeat JSON', () => {
  it('reads a JSON array export with EventData as an XML string; the real record (Event ID 11) is skipped', async () => {
    const { records, source } = await replay([fixture('sysmon-sentinel-json', 'WORKSTATION6-excerpt.json')]);
    assert.deepEqual(records.map((r) => [r.event.time, r.event.host, r.event.os, r.event.destination, r.event.process?.name, r.event.process?.user]), [
      ['2022-09-22T16:31:20.512Z', 'WORKSTATION6.mssentinel.local', 'windows', { ip: '198.51.100.7', port: 8883 }, 'notepad.exe', 'MSSENTINEL\\wardog'],
    ]);
    assert.equal(source.stats.skippedNotEid3, 1);
  });

  it('reads Log Analytics rows whose EventData is an XML string in <DataItem> or a JSON string', async () => {
    const { records } = await replay([fixture('sysmon-sentinel-json', 'log-analytics.jsonl')]);
    assert.deepEqual(records.map((r) => [r.line, r.event.time, r.event.source.port, r.event.direction, r.event.os, r.event.process?.pid]), [
      [1, '2022-09-22T16:31:21.000Z', 50124, 'outbound', 'windows', 12372],
      [2, '2022-09-22T16:31:22.000Z', 50125, 'outbound', 'windows', 12372],
    ]);
  });

  it('reads NXLog flat JSON (strings everywhere, "True") and Winlogbeat (winlog.event_data, JSON booleans)', async () => {
    const { records, source } = await replay([fixture('sysmon-flat-json', 'nxlog-winlogbeat.jsonl')]);
    assert.deepEqual(records.map((r) => [r.line, r.event.time, r.event.host, r.event.source.port, r.event.direction, r.event.process?.exe]), [
      [1, '2022-09-22T16:31:23.000Z', 'WORKSTATION6.mssentinel.local', 50126, 'outbound', 'C:\\Windows\\System32\\notepad.exe'],
      [2, '2022-09-22T16:31:24.000Z', 'WORKSTATION6.mssentinel.local', 50127, 'outbound', 'C:\\Windows\\System32\\notepad.exe'],
      [3, '2022-09-22T16:31:25.000Z', 'WORKSTATION6.mssentinel.local', 50128, 'inbound', 'C:\\Windows\\System32\\notepad.exe'],
    ]);
    assert.deepEqual(source.stats.byFormat, { sysmon: 3, udm: 0, jsonl: 0 });
  });

  it('replays several files in order and says which files could not be read', async () => {
    const missing = fixture('no-such-file.jsonl');
    const { records, source } = await replay([fixture('sysmon-windows-xml', 'event.xml'), missing, fixture('sysmon-linux-syslog', 'syslog')]);
    assert.deepEqual(records.map((r) => r.event.host), ['rfsH.lab.local', 'ip-10-31-60-25', 'ip-10-31-60-25']);
    assert.equal(source.stats.files, 3);
    assert.equal(source.stats.unreadableFiles, 1);
    assert.match(source.warnings()[0]?.message ?? '', /no-such-file\.jsonl: ENOENT/);
  });
});

describe('replay: what is not Sysmon Event ID 3', () => {
  it('skips another provider\'s event 3 in a mixed export, and says when a file holds no record at all', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-other-'));
    try {
      const mixed = path.join(dir, 'mixed.jsonl');
      fs.writeFileSync(mixed, `${JSON.stringify({ EventID: 3, SourceName: 'Microsoft-Windows-Kernel-General', Hostname: 'h', EventTime: '2026-01-01 00:00:00' })}\n`);
      const text = path.join(dir, 'messages');
      fs.writeFileSync(text, 'Nov 24 10:00:00 host kernel: nothing to see\n');
      const empty = path.join(dir, 'empty');
      fs.writeFileSync(empty, '\n\n');
      const { records, source } = await replay([mixed, text, empty]);
      assert.equal(records.length, 0);
      assert.equal(source.stats.skippedOther, 1);
      assert.equal(source.stats.malformed, 0);
      assert.deepEqual(source.warnings(), [
        { code: 'replay-no-records', message: `${text}: no <Event> record (is it Sysmon XML or syslog?)`, count: 1 },
        { code: 'replay-no-records', message: `${empty}: the file is empty`, count: 1 },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('replay: event XML as JSON (evtx_dump, xmltodict)', () => {
  it('reads evtx_dump -o json ("Record N" headers) and -o jsonl alike', async () => {
    for (const name of ['evtx_dump.json', 'evtx_dump.jsonl']) {
      const { records, source } = await replay([fixture('sysmon-evtx-dump', name)]);
      assert.deepEqual(records.map((r) => [r.event.time, r.event.host, r.event.os, r.event.direction, r.event.destination.ip, r.event.destination.port, r.event.process?.pid]), [
        ['2017-04-28T22:12:22.557Z', 'rfsH.lab.local', 'windows', 'outbound', '198.51.100.150', 443, 13220],
        ['2017-04-28T22:12:25.001Z', 'rfsH.lab.local', 'windows', 'outbound', '198.51.100.7', 1883, 13220],
        ['2017-04-28T22:12:26.001Z', 'rfsH.lab.local', 'windows', 'inbound', '198.51.100.9', 51000, 13220],
      ], name);
      assert.deepEqual(source.warnings(), [], name);
    }
  });

  it('reads the xmltodict shape (Data as a list of @Name / #text)', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-xmltodict-'));
    try {
      const file = path.join(dir, 'x.jsonl');
      const data = { UtcTime: '2026-01-01 00:00:01.000', ProcessId: '7', Image: '/usr/bin/mosquitto_pub', Protocol: 'tcp', Initiated: 'true', SourceIp: '10.0.0.1', SourcePort: '40000', DestinationIp: '::ffff:198.51.100.3', DestinationPort: '1883' };
      fs.writeFileSync(file, `${JSON.stringify({ Event: { System: { Provider: { '@Name': 'Linux-Sysmon' }, EventID: '3', Computer: 'lx' }, EventData: { Data: Object.entries(data).map(([k, v]) => ({ '@Name': k, '#text': v })) } } })}\n`);
      const { records } = await replay([file]);
      assert.deepEqual(records.map((r) => [r.event.host, r.event.os, r.event.destination.ip, r.event.process?.name]), [['lx', 'linux', '198.51.100.3', 'mosquitto_pub']]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('replay: journald JSON', () => {
  it('reads Sysmon for Linux records from journalctl -o json (the event XML in MESSAGE)', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-journal-'));
    try {
      const lines = fs.readFileSync(fixture('sysmon-linux-syslog', 'syslog'), 'utf8').split('\n').filter((l) => l.includes(' sysmon: '));
      const file = path.join(dir, 'journal.jsonl');
      fs.writeFileSync(file, lines.map((l) => JSON.stringify({ _HOSTNAME: 'ip-10-31-60-25', SYSLOG_IDENTIFIER: 'sysmon', MESSAGE: l.slice(l.indexOf('<Event')) })).join('\n'));
      const fromJournal = await replay([file]);
      const fromSyslog = await replay([fixture('sysmon-linux-syslog', 'syslog')]);
      assert.equal(fromJournal.records.length, 2);
      assert.deepEqual(fromJournal.records.map((r) => r.event), fromSyslog.records.map((r) => r.event));
      assert.equal(fromJournal.source.stats.skippedNotEid3, 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
