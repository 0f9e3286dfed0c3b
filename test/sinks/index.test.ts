import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createSink, createSinks, FileSink, sinkListSchema, sinkSpecSchema, StdoutSink } from '../../src/sinks';

test('sinkSpecSchema accepts stdout and file specs', () => {
  assert.deepEqual(sinkSpecSchema.parse({ type: 'stdout' }), { type: 'stdout' });
  assert.deepEqual(sinkSpecSchema.parse({ type: 'file', path: '/var/log/brokerwatch/events.jsonl', fsync: true }), { type: 'file', path: '/var/log/brokerwatch/events.jsonl', fsync: true });
  assert.equal(sinkListSchema.parse([{ type: 'stdout' }, { type: 'file', path: 'x.jsonl' }]).length, 2);
});

test('sinkSpecSchema refuses unknown types, unknown keys, and bad paths, naming the key', () => {
  const problems = (value: unknown) => {
    const r = sinkListSchema.safeParse(value);
    assert.equal(r.success, false);
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  assert.match(problems([{ type: 'kafka' }]), /^0\.type: /);
  assert.match(problems([{ type: 'stdout', path: '/x' }]), /path/);
  assert.match(problems([{ type: 'file' }]), /^0\.path: /);
  assert.match(problems([{ type: 'file', path: '' }]), /^0\.path: /);
  assert.match(problems([{ type: 'file', path: 'a\u0000b' }]), /NUL/);
  assert.match(problems([{ type: 'file', path: '/x', fsync: 'yes' }]), /^0\.fsync: /);
});

test('createSink builds the sink a spec names', async () => {
  assert.ok(createSink({ type: 'stdout' }) instanceof StdoutSink);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-sinks-'));
  try {
    const file = path.join(dir, 'partial.jsonl');
    fs.writeFileSync(file, 'half');
    const warned: string[] = [];
    const [sink] = createSinks([{ type: 'file', path: file, fsync: true }], { log: { warn: (m) => warned.push(m) } });
    assert.ok(sink instanceof FileSink);
    assert.equal(sink.name, `file:${file}`);
    await sink.write([{ ok: 1 }]);
    await sink.flush();
    await sink.close();
    assert.equal(fs.readFileSync(file, 'utf8'), 'half\n{"ok":1}\n');
    assert.equal(warned.length, 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
