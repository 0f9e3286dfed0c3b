import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnectionEvent } from '../../../src/core/types';
import { ReplaySource } from '../../../platform/replay/source';
import { fixture } from './helpers';

const FILES = [fixture('sysmon-linux-syslog', 'edited.syslog'), fixture('sysmon-windows-xml', 'edited.xml')];

describe('ReplaySource', () => {
  it('start() emits every event in file order and resolves when the files are done', async () => {
    const source = new ReplaySource(FILES);
    const seen: ConnectionEvent[] = [];
    await source.start((e) => seen.push(e));
    assert.deepEqual(seen.map((e) => e.host), [...Array(5).fill('ip-10-31-60-25'), ...Array(5).fill('rfsH.lab.local')]);
    assert.deepEqual(source.statsRecord(), {
      files: 2, records: 14, events: 10, inbound: 2, malformed: 3, skippedNotEid3: 1, skippedOther: 0, unreadableFiles: 0, outOfOrder: 0,
      'events.sysmon': 10, 'events.udm': 0, 'events.jsonl': 0,
    });
    await source.close();
  });

  it('close() stops the stream: no event is emitted after it resolves', async () => {
    const source = new ReplaySource(FILES);
    let emitted = 0;
    let afterClose = 0;
    let closed = false;
    let closing: Promise<void> | undefined;
    const running = source.start(() => {
      emitted += 1;
      if (closed) afterClose += 1;
      if (emitted === 2) closing = source.close().then(() => { closed = true; });
    });
    await running;
    await closing;
    assert.equal(emitted, 2);
    assert.equal(afterClose, 0);
  });

  it('is one pass: a second read says so', async () => {
    const source = new ReplaySource(FILES);
    await source.start(() => undefined);
    assert.throws(() => source.records(), /already read/);
  });
});

describe('ReplaySource encodings', () => {
  it('reads a UTF-16LE export with a BOM (Windows PowerShell 5 `> file`) like its UTF-8 original', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-utf16-'));
    try {
      const file = path.join(dir, 'events.xml');
      const text = fs.readFileSync(fixture('sysmon-windows-xml', 'edited.xml'), 'utf8');
      fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
      const utf16: ConnectionEvent[] = [];
      await new ReplaySource([file]).start((e) => utf16.push(e));
      const utf8: ConnectionEvent[] = [];
      await new ReplaySource([fixture('sysmon-windows-xml', 'edited.xml')]).start((e) => utf8.push(e));
      assert.equal(utf16.length, 5);
      assert.deepEqual(utf16, utf8);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
