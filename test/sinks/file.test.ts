import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FileSink, FileSinkError } from '../../src/sinks/file';

let root = '';
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-file-sink-'));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function readLines(file: string): unknown[] {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), 'the file ends with a newline');
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as unknown);
}

test('creates the folder 0750 and the file 0640, then appends JSON lines', { skip: process.platform === 'win32' }, async () => {
  const old = process.umask(0o022);
  try {
    const file = path.join(root, 'new', 'deeper', 'events.jsonl');
    const sink = new FileSink({ path: file });
    await sink.write([{ n: 1, text: 'a\nb' }]);
    await sink.write([{ n: 2 }, { n: 3 }]);
    await sink.flush();
    assert.deepEqual(readLines(file), [{ n: 1, text: 'a\nb' }, { n: 2 }, { n: 3 }]);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o750);
    assert.equal(fs.statSync(path.join(root, 'new')).mode & 0o777, 0o750);
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    await sink.close();
  } finally {
    process.umask(old);
  }
});

test('a new sink on the same path appends; an existing file keeps its mode', async () => {
  const file = path.join(root, 'reopen.jsonl');
  fs.writeFileSync(file, '{"old":true}\n', { mode: 0o600 });
  const first = new FileSink({ path: file, fsync: true });
  await first.write([{ n: 1 }]);
  await first.close();
  const second = new FileSink({ path: file });
  await second.open();
  await second.write([{ n: 2 }]);
  await second.reopen();
  await second.write([{ n: 3 }]);
  await second.close();
  await second.close();
  assert.deepEqual(readLines(file), [{ old: true }, { n: 1 }, { n: 2 }, { n: 3 }]);
  if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('reopen() follows log rotation: the next write creates the file again', async () => {
  const file = path.join(root, 'rotate.jsonl');
  const sink = new FileSink({ path: file });
  await sink.write([{ n: 1 }]);
  fs.renameSync(file, `${file}.1`);
  await sink.reopen();
  await sink.write([{ n: 2 }]);
  await sink.close();
  assert.deepEqual(readLines(`${file}.1`), [{ n: 1 }]);
  assert.deepEqual(readLines(file), [{ n: 2 }]);
});

test('a file left ending mid-line gets a newline before the first record', async () => {
  const file = path.join(root, 'partial.jsonl');
  fs.writeFileSync(file, '{"cut":');
  const warnings: string[] = [];
  const sink = new FileSink({ path: file, onWarning: (m) => warnings.push(m) });
  await sink.write([{ n: 1 }]);
  await sink.close();
  assert.equal(fs.readFileSync(file, 'utf8'), '{"cut":\n{"n":1}\n');
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0]?.includes(file));
});

test('concurrent writes from two sinks on one file keep every line whole', async () => {
  const file = path.join(root, 'concurrent.jsonl');
  const a = new FileSink({ path: file });
  const b = new FileSink({ path: file });
  const big = 'y'.repeat(200_000);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    writes.push(a.write([{ sink: 'a', i, pad: i % 5 === 0 ? big : 'x' }, { sink: 'a', i, second: true }]));
    writes.push(b.write([{ sink: 'b', i, pad: i % 7 === 0 ? big : 'z', text: 'q"\n\u2028' }]));
  }
  await Promise.all(writes);
  await Promise.all([a.close(), b.close()]);
  const lines = readLines(file) as { sink: string; i: number }[];
  assert.equal(lines.length, 40 * 3);
  for (const name of ['a', 'b']) {
    const order = lines.filter((l) => l.sink === name).map((l) => l.i);
    assert.deepEqual(order, [...order].sort((x, y) => x - y), `sink ${name} kept its order`);
  }
});

test('a write after close rejects with a clear error naming the path', async () => {
  const file = path.join(root, 'closed.jsonl');
  const sink = new FileSink({ path: file });
  await sink.write([{ n: 1 }]);
  await sink.close();
  await assert.rejects(sink.write([{ n: 2 }]), (err: Error) => err instanceof FileSinkError && err.message === `file sink ${file}: write after close`);
});

test('errors name the path and keep the system code: a folder as the file (EISDIR)', async () => {
  const dir = path.join(root, 'is-a-dir');
  fs.mkdirSync(dir);
  const sink = new FileSink({ path: dir });
  await assert.rejects(sink.write([{ n: 1 }]), (err: FileSinkError) => err.message.includes(dir) && err.code === 'EISDIR' && err.path === dir);
  // The sink stays usable for later attempts: it tries to open again.
  await assert.rejects(sink.open(), /EISDIR/);
  await sink.close();
});

test('errors name the path and keep the system code: a file where the folder should be', async () => {
  const blocker = path.join(root, 'blocker');
  fs.writeFileSync(blocker, 'not a folder');
  const nested = path.join(blocker, 'sub', 'events.jsonl');
  await assert.rejects(new FileSink({ path: nested }).write([{ n: 1 }]), (err: FileSinkError) => err.message.includes(nested) && err.code === 'ENOTDIR');
  const direct = path.join(blocker, 'events.jsonl');
  await assert.rejects(new FileSink({ path: direct }).write([{ n: 1 }]), (err: FileSinkError) => err.message.includes(direct) && ['EEXIST', 'ENOTDIR'].includes(err.code ?? ''));
});

test('permission denied names the path (skipped as root, who may write anywhere)', { skip: process.getuid?.() === 0 || process.platform === 'win32' }, async () => {
  const locked = path.join(root, 'locked');
  fs.mkdirSync(locked, { mode: 0o500 });
  const file = path.join(locked, 'events.jsonl');
  await assert.rejects(new FileSink({ path: file }).write([{ n: 1 }]), (err: FileSinkError) => err.message.includes(file) && err.code === 'EACCES');
});

test('an empty write changes nothing and a record that is not JSON is refused', async () => {
  const file = path.join(root, 'empty.jsonl');
  const sink = new FileSink({ path: file });
  await sink.write([]);
  assert.equal(fs.existsSync(file), false);
  await assert.rejects(sink.write([{ n: 1n } as unknown as Record<string, unknown>]), /not JSON/);
  await sink.close();
});
