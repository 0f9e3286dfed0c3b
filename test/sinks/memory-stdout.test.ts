import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { MemorySink } from '../../src/sinks/memory';
import { StdoutSink } from '../../src/sinks/stdout';

test('MemorySink keeps records in write order and refuses writes after close', async () => {
  const sink = new MemorySink();
  await Promise.all([sink.write([{ n: 1 }, { n: 2 }]), sink.write([{ n: 3 }])]);
  await sink.flush();
  assert.deepEqual(sink.records, [{ n: 1 }, { n: 2 }, { n: 3 }]);
  sink.clear();
  assert.equal(sink.records.length, 0);
  await sink.close();
  await assert.rejects(sink.write([{ n: 4 }]), /write after close/);
});

/** A reader that takes one chunk per tick and remembers what it got. */
function slowReader(highWaterMark: number): { stream: Writable; text: () => string; maxBuffered: () => number } {
  const chunks: Buffer[] = [];
  let maxBuffered = 0;
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, callback) {
      maxBuffered = Math.max(maxBuffered, stream.writableLength);
      chunks.push(chunk);
      setTimeout(callback, 2);
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8'), maxBuffered: () => maxBuffered };
}

test('StdoutSink writes JSON lines in call order and waits for a slow reader', async () => {
  const reader = slowReader(16);
  const sink = new StdoutSink(reader.stream, { name: 'test' });
  const big = 'x'.repeat(10_000);
  const writes = Array.from({ length: 20 }, (_, i) => sink.write([{ i, big }, { i, line: 'a\nb\u2028' }]));
  await Promise.all(writes);
  await sink.flush();
  const lines = reader.text().split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.equal(lines.length, 40);
  lines.forEach((l, k) => assert.equal((JSON.parse(l) as { i: number }).i, Math.floor(k / 2)));
  // One chunk in flight at a time: the stream never holds more than one write's worth.
  assert.ok(reader.maxBuffered() <= 10_100, `buffered ${reader.maxBuffered()}`);
  await sink.close();
  await assert.rejects(sink.write([{}]), /write after close/);
  assert.equal(reader.stream.writableEnded, false, 'the stream is not ended unless asked');
});

test('StdoutSink turns a stream error into a rejected write instead of a crash', async () => {
  const broken = new Writable({
    write(_chunk, _enc, callback) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    },
  });
  const sink = new StdoutSink(broken, { name: 'pipe' });
  await assert.rejects(sink.write([{ a: 1 }]), (err: NodeJS.ErrnoException) => /sink pipe: write EPIPE/.test(err.message) && err.code === 'EPIPE');
  await assert.rejects(sink.write([{ a: 2 }]), /EPIPE/, 'later writes fail too');
  await assert.rejects(sink.flush(), /EPIPE/);
  await sink.close();
});

test('StdoutSink rejects a record that is not JSON and ends the stream only when asked', async () => {
  const reader = slowReader(1024);
  const sink = new StdoutSink(reader.stream, { end: true });
  await assert.rejects(sink.write([{ n: 1n } as unknown as Record<string, unknown>]), /not JSON/);
  await sink.write([{ ok: true }]);
  await sink.close();
  assert.equal(reader.stream.writableEnded, true);
  assert.equal(reader.text(), '{"ok":true}\n');
});
