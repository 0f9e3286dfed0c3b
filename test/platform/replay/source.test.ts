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

describe('ReplaySource refuses what is not a regular file', () => {
  it('a FIFO is reported (without waiting for a writer) and the next file is read', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { execFileSync } = await import('node:child_process');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-fifo-'));
    try {
      const fifo = path.join(dir, 'pipe');
      execFileSync('mkfifo', [fifo]);
      const seen: ConnectionEvent[] = [];
      const source = new ReplaySource([fifo, dir, fixture('sysmon-windows-xml', 'event.xml')]);
      await source.start((e) => seen.push(e));
      assert.equal(seen.length, 1);
      assert.equal(source.stats.unreadableFiles, 2);
      assert.deepEqual(source.warnings().map((w) => w.message.replace(dir, 'DIR')), ['DIR/pipe: ENOTREG: not a regular file', 'DIR: ENOTREG: not a regular file']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ReplaySource warnings stay bounded', () => {
  it('lists the first malformed records of a file one by one and folds the rest into one counted warning', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-replay-many-'));
    try {
      const file = path.join(dir, 'bad.jsonl');
      fs.writeFileSync(file, `${'{"EventID": "3", "Protocol": "tcp"}\n'.repeat(500)}`);
      const source = new ReplaySource([file], { maxWarningsPerFile: 3 });
      await source.start(() => undefined);
      const warnings = source.warnings();
      assert.equal(source.stats.malformed, 500);
      assert.deepEqual(warnings.map((w) => [w.message.slice(file.length), w.count]), [
        [':1: no UtcTime or event time with a time zone', 1],
        [':2: no UtcTime or event time with a time zone', 1],
        [':3: no UtcTime or event time with a time zone', 1],
        [': more malformed records after the first 3 (each is counted in stats.malformed)', 497],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
