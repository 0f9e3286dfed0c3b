import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { memoryLogger } from '../../src/core/logger';
import { createOutput, createOutputs, FileSink, sinkListSchema, sinkSpecSchema, StdoutSink } from '../../src/sinks';
import { SpooledSink } from '../../src/sinks/spool/spooled-sink';

test('sinkSpecSchema accepts stdout and file specs, UDM unless told otherwise', () => {
  assert.deepEqual(sinkSpecSchema.parse({ type: 'stdout' }), { type: 'stdout', format: 'udm' });
  assert.deepEqual(sinkSpecSchema.parse({ type: 'file', path: '/var/log/brokerwatch/events.jsonl', fsync: true, format: 'ocsf' }), { type: 'file', path: '/var/log/brokerwatch/events.jsonl', fsync: true, format: 'ocsf' });
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

test('createOutputs builds the sink a spec names, with its format', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-sinks-'));
  const entries: { level: string; message: string }[] = [];
  const options = { log: memoryLogger(entries), stateDir: dir };
  const stdout = await createOutput({ type: 'stdout', format: 'ocsf' }, 0, options);
  assert.ok(stdout.sink instanceof StdoutSink);
  assert.equal(stdout.format, 'ocsf');
  try {
    const file = path.join(dir, 'partial.jsonl');
    fs.writeFileSync(file, 'half');
    const [output] = await createOutputs([{ type: 'file', path: file, fsync: true, format: 'udm' }], options);
    const sink = output!.sink;
    assert.ok(sink instanceof FileSink);
    assert.equal(sink.name, `file:${file}`);
    await sink.write([{ ok: 1 }]);
    await sink.flush();
    await sink.close();
    assert.equal(fs.readFileSync(file, 'utf8'), 'half\n{"ok":1}\n');
    assert.equal(entries.filter((e) => e.level === 'warn').length, 1, 'the torn last line is repaired and reported');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('network sinks get a spool under stateDir unless it is turned off', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-sinks-'));
  const entries: { level: string; message: string }[] = [];
  const options = { log: memoryLogger(entries), stateDir: dir };
  try {
    const spec = sinkSpecSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: 9 });
    const out = await createOutput(spec, 3, options);
    assert.ok(out.sink instanceof SpooledSink);
    assert.equal(out.format, 'sysmon', 'the forwarder default: Sysmon EID 3 lines for the prebuilt WINDOWS_SYSMON parser');
    assert.ok(fs.existsSync(path.join(dir, 'spool', 'forwarder-3')));
    await out.sink.close();
    const bare = await createOutput(sinkSpecSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: 9, spool: false }), 4, options);
    assert.ok(!(bare.sink instanceof SpooledSink));
    assert.ok(entries.some((e) => e.level === 'warn' && /spool turned off/.test(e.message)));
    await bare.sink.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a spool block is used as configured: its durations are not read twice', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerwatch-sinks-'));
  try {
    const spec = sinkSpecSchema.parse({
      type: 'forwarder', host: '127.0.0.1', port: 9,
      spool: { path: path.join(dir, 'fw'), retry: { initialDelay: '100ms', maxDelay: '1s' }, drainTimeout: '2s' },
    });
    const out = await createOutput(spec, 0, { log: memoryLogger([]), stateDir: dir });
    assert.ok(out.sink instanceof SpooledSink);
    assert.deepEqual(out.sink.options.retry, { initialDelay: 100, maxDelay: 1000 });
    assert.equal(out.sink.options.drainTimeout, 2000);
    assert.ok(fs.existsSync(path.join(dir, 'fw')), 'the configured spool folder');
    await out.sink.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
