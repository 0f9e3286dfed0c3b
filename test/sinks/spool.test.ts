import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import type { OutRecord, Sink } from '../../src/core/sink';
import { memoryLogger } from '../../src/core/logger';
import { MemorySink } from '../../src/sinks/memory';
import { listSegments, Spool, type SpoolConfig, SpooledSink, spoolSchema } from '../../src/sinks/spool/spool';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-spool-'));
  dirs.push(d);
  return d;
}

/** A UDM-shaped record: telemetry, or a finding (security_result) when `finding`. */
function record(id: string, finding = false, pad = 100): OutRecord {
  return {
    metadata: { product_log_id: id, event_type: 'NETWORK_CONNECTION' },
    principal: { process: { command_line: `python3 client.py ${'x'.repeat(pad)}` } },
    ...(finding ? { security_result: [{ severity: 'HIGH', rule_id: 'PUBSUB-EXTERNAL' }] } : {}),
  };
}

const idOf = (line: Buffer) => (JSON.parse(line.toString('utf8')) as { metadata: { product_log_id: string } }).metadata.product_log_id;

function spoolConfig(dir: string, over: Record<string, unknown> = {}): SpoolConfig {
  return spoolSchema.parse({ path: dir, retry: { initialDelay: '10ms', maxDelay: '50ms' }, drainTimeout: '5s', ...over });
}

async function openSpool(dir: string, log = memoryLogger([]), over: Partial<Parameters<typeof Spool.open>[0]> = {}) {
  return Spool.open({ path: dir, maxBytes: 1024 * 1024, segmentBytes: 64 * 1024, fsync: 'never', fsyncIntervalMs: 1000, log, ...over });
}

async function readAll(spool: Spool, lane: 'finding' | 'telemetry', commit = true): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const b = await spool.read(lane, 100, 64 * 1024);
    if (!b) return ids;
    ids.push(...b.items.map((i) => idOf(i.line)));
    if (commit) await spool.commit({ ...b, count: b.items.length });
  }
}

test('the config block has documented defaults and rejects unknown keys', () => {
  const c = spoolSchema.parse({ path: '/var/lib/brokerwatch/spool' });
  assert.equal(c.maxBytes, 256 * 1024 * 1024);
  assert.equal(c.fsync, 'interval');
  assert.equal(c.fsyncInterval, 1000);
  assert.equal(c.retry.maxDelay, 30_000);
  assert.equal(spoolSchema.parse({ path: 'x', maxBytes: '1GiB' }).maxBytes, 1024 ** 3);
  assert.throws(() => spoolSchema.parse({ path: 'x', maxbytes: 1 }), /maxbytes/);
  assert.throws(() => spoolSchema.parse({ path: 'x', fsync: 'sometimes' }));
});

test('SpooledSink delivers every record through the inner sink, findings first, each lane in order', async () => {
  const dir = tempDir();
  const inner = new MemorySink('memory');
  const entries: { level: string; message: string }[] = [];
  const sink = await SpooledSink.open(spoolConfig(dir), inner, { log: memoryLogger(entries) });
  // Written before the loop can run: the first batch read is then the findings.
  const records = Array.from({ length: 600 }, (_, i) => record(`r${i}`, i % 100 === 0));
  await sink.write(records);
  await sink.flush();
  const ids = inner.records.map((r) => (r.metadata as { product_log_id: string }).product_log_id);
  assert.equal(ids.length, 600);
  assert.deepEqual(ids.slice(0, 6), ['r0', 'r100', 'r200', 'r300', 'r400', 'r500'], 'findings go first');
  const telemetry = ids.slice(6);
  assert.deepEqual(telemetry, records.filter((_, i) => i % 100 !== 0).map((r) => (r.metadata as { product_log_id: string }).product_log_id));
  const s = sink.stats();
  assert.equal(s.spooled, 600);
  assert.equal(s.delivered, 600);
  assert.equal(s.pending, 0);
  assert.equal(s.dropped, 0);
  assert.equal(s.withoutId, 0);
  await sink.close();
  assert.equal(spawnSync('flock', ['-n', path.join(dir, 'lock'), 'true']).status, 0, 'the lock is released: another process can take it');
});

test('a full spool drops the oldest telemetry, never a finding, and says so', async () => {
  const dir = tempDir();
  const entries: { level: string; message: string }[] = [];
  const maxBytes = 64 * 1024;
  const spool = await openSpool(dir, memoryLogger(entries), { maxBytes, segmentBytes: 8 * 1024 });
  for (let i = 0; i < 2000; i++) {
    await spool.append([{ json: JSON.stringify(record(`t${i}`)), finding: false }]);
    if (i % 40 === 0) await spool.append([{ json: JSON.stringify(record(`f${i}`, true)), finding: true }]);
  }
  assert.ok(spool.bytes <= maxBytes, `spool holds ${spool.bytes} bytes, limit ${maxBytes}`);
  assert.ok(spool.counters.droppedTelemetry > 1000, `dropped ${spool.counters.droppedTelemetry}`);
  assert.equal(spool.pending('finding'), 50);
  assert.equal(spool.pending('telemetry') + spool.counters.droppedTelemetry, 2000, 'every telemetry record is either kept or counted as dropped');
  const warn = entries.find((e) => e.level === 'warn' && /dropped \d+ of the oldest telemetry records/.test(e.message));
  assert.ok(warn, `a warning about the drop: ${JSON.stringify(entries)}`);
  assert.match(warn.message, /findings go only over their own budget \(maxFindingBytes\)/);

  const findings = await readAll(spool, 'finding');
  assert.deepEqual(findings, Array.from({ length: 50 }, (_, k) => `f${k * 40}`));
  const kept = await readAll(spool, 'telemetry');
  const first = 2000 - kept.length;
  assert.deepEqual(kept, Array.from({ length: kept.length }, (_, k) => `t${first + k}`), 'the newest telemetry is kept, in order');
  await spool.close();
});

test('findings have a budget of their own: a flood of findings cannot grow the spool past maxBytes; the oldest go, counted and logged', async () => {
  const dir = tempDir();
  const entries: { level: string; message: string }[] = [];
  const maxBytes = 64 * 1024;
  const spool = await openSpool(dir, memoryLogger(entries), { maxBytes, segmentBytes: 8 * 1024 });
  for (let i = 0; i < 400; i++) await spool.append([{ json: JSON.stringify(record(`f${i}`, true)), finding: true }]);
  assert.ok(spool.bytes <= maxBytes, `spool holds ${spool.bytes} bytes, limit ${maxBytes}`);
  const kept = spool.pending('finding');
  assert.ok(kept > 100 && kept < 400, `kept ${kept}`);
  assert.equal(kept + spool.counters.droppedFindings, 400, 'every finding is kept or counted as dropped');
  assert.ok(entries.some((e) => e.level === 'error' && /findings over their budget \(maxFindingBytes 65536\): dropped \d+ of the oldest findings/.test(e.message)));
  const ids = await readAll(spool, 'finding');
  assert.deepEqual(ids, Array.from({ length: kept }, (_, k) => `f${400 - kept + k}`), 'the newest findings are kept, in order');
  await spool.close();
});

test('maxFindingBytes below maxBytes leaves the rest to telemetry', async () => {
  const dir = tempDir();
  const spool = await openSpool(dir, memoryLogger([]), { maxBytes: 128 * 1024, maxFindingBytes: 32 * 1024, segmentBytes: 8 * 1024 });
  for (let i = 0; i < 300; i++) await spool.append([{ json: JSON.stringify(record(`f${i}`, true)), finding: true }, { json: JSON.stringify(record(`t${i}`)), finding: false }]);
  const findingBytes = listSegments(dir).filter((x) => x.lane === 'finding').reduce((n, x) => n + fs.statSync(x.file).size, 0);
  assert.ok(findingBytes <= 32 * 1024, `findings use ${findingBytes} bytes`);
  assert.ok(spool.bytes - findingBytes > 64 * 1024, 'telemetry has the rest');
  assert.ok(spool.bytes <= 128 * 1024);
  await spool.close();
});

test('a torn tail left by a crash is cut at start-up; the records before it and after it are delivered', async () => {
  const dir = tempDir();
  const entries: { level: string; message: string }[] = [];
  let spool = await openSpool(dir, memoryLogger(entries));
  await spool.append(Array.from({ length: 10 }, (_, i) => ({ json: JSON.stringify(record(`a${i}`)), finding: false })));
  await spool.close();
  const seg = listSegments(dir).filter((s) => s.lane === 'telemetry').at(-1);
  assert.ok(seg);
  // What kill -9 in the middle of a write leaves: the first part of one more entry, no newline.
  const whole = fs.readFileSync(seg.file);
  const oneEntry = whole.subarray(0, whole.indexOf(0x0a) + 1);
  fs.appendFileSync(seg.file, oneEntry.subarray(0, 37));
  spool = await openSpool(dir, memoryLogger(entries));
  assert.equal(spool.pending(), 10);
  assert.equal(spool.counters.tornBytes, 37);
  assert.equal(fs.statSync(seg.file).size, whole.length, 'the segment is cut back to its last whole record');
  assert.ok(entries.some((e) => e.level === 'warn' && /cut 37 bytes of an incomplete record/.test(e.message)));
  await spool.append([{ json: JSON.stringify(record('b0')), finding: false }]);
  assert.deepEqual(await readAll(spool, 'telemetry'), [...Array.from({ length: 10 }, (_, i) => `a${i}`), 'b0']);
  await spool.close();
});

test('a damaged record in the middle is skipped and counted, the others arrive', async () => {
  const dir = tempDir();
  let spool = await openSpool(dir);
  await spool.append(Array.from({ length: 3 }, (_, i) => ({ json: JSON.stringify(record(`c${i}`)), finding: false })));
  await spool.close();
  const seg = listSegments(dir).find((s) => s.lane === 'telemetry');
  assert.ok(seg);
  const bytes = fs.readFileSync(seg.file);
  const second = bytes.indexOf(0x0a) + 1;
  bytes.writeUInt8(bytes.readUInt8(second + 20) ^ 0x01, second + 20); // one flipped bit in the second record
  fs.writeFileSync(seg.file, bytes);
  spool = await openSpool(dir);
  assert.deepEqual(await readAll(spool, 'telemetry'), ['c0', 'c2']);
  assert.equal(spool.counters.corruptLines, 1);
  await spool.close();
});

test('the committed position survives a restart: only undelivered records are read again', async () => {
  const dir = tempDir();
  let spool = await openSpool(dir, memoryLogger([]), { segmentBytes: 4096 });
  await spool.append(Array.from({ length: 60 }, (_, i) => ({ json: JSON.stringify(record(`d${i}`)), finding: false })));
  assert.ok(listSegments(dir).length > 3, 'several segments');
  const delivered: string[] = [];
  for (let k = 0; k < 4; k++) {
    const b = await spool.read('telemetry', 7, 64 * 1024);
    assert.ok(b);
    delivered.push(...b.items.map((i) => idOf(i.line)));
    await spool.commit({ ...b, count: b.items.length });
  }
  const unconfirmed = await spool.read('telemetry', 5, 64 * 1024); // sent, never confirmed
  assert.ok(unconfirmed);
  await spool.close();
  spool = await openSpool(dir, memoryLogger([]), { segmentBytes: 4096 });
  assert.equal(spool.pending(), 60 - delivered.length);
  const rest = await readAll(spool, 'telemetry');
  assert.deepEqual([...delivered, ...rest], Array.from({ length: 60 }, (_, i) => `d${i}`));
  await spool.close();
  spool = await openSpool(dir);
  assert.equal(spool.pending(), 0);
  assert.ok(listSegments(dir).length <= 2, `delivered segments are deleted: ${listSegments(dir).map((s) => path.basename(s.file)).join(', ')}`);
  await spool.close();
});

test('an unreadable state file sends everything again (duplicates, never loss)', async () => {
  const dir = tempDir();
  let spool = await openSpool(dir);
  await spool.append(Array.from({ length: 5 }, (_, i) => ({ json: JSON.stringify(record(`e${i}`)), finding: false })));
  const b = await spool.read('telemetry', 2, 64 * 1024);
  assert.ok(b);
  await spool.commit({ ...b, count: b.items.length });
  await spool.close();
  fs.writeFileSync(path.join(dir, 'state.json'), '{"version":1,"lan');
  const entries: { level: string; message: string }[] = [];
  spool = await openSpool(dir, memoryLogger(entries));
  assert.deepEqual(await readAll(spool, 'telemetry'), ['e0', 'e1', 'e2', 'e3', 'e4']);
  assert.ok(entries.some((e) => /state\.json unreadable/.test(e.message)));
  await spool.close();
});

test('one agent per spool folder: a second open in this process is refused (flock across processes: spool-recovery.test.ts)', async () => {
  const dir = tempDir();
  const spool = await openSpool(dir);
  await assert.rejects(openSpool(dir), /already open in this process/);
  await spool.close();
  const again = await openSpool(dir);
  await again.close();
});

/** A network sink stand-in that fails its first `failures` writes (a collector that is down). */
class FlakySink implements Sink {
  readonly name = 'flaky';
  readonly records: OutRecord[] = [];
  attempts = 0;
  constructor(private failures: number) {}
  async write(records: OutRecord[]): Promise<void> {
    this.attempts++;
    if (this.failures-- > 0) throw new Error('collector down');
    this.records.push(...records);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

test('failed deliveries are retried with backoff until they succeed; nothing is lost', async () => {
  for (const fsync of ['always', 'interval', 'never'] as const) {
    const dir = tempDir();
    const inner = new FlakySink(3);
    const entries: { level: string; message: string }[] = [];
    const sink = await SpooledSink.open(spoolConfig(dir, { fsync, batchSize: 50 }), inner, { log: memoryLogger(entries) });
    await sink.write(Array.from({ length: 200 }, (_, i) => record(`g${i}`, i === 7)));
    await sink.flush();
    const ids = new Set(inner.records.map((r) => (r.metadata as { product_log_id: string }).product_log_id));
    assert.equal(ids.size, 200, `fsync ${fsync}: every record arrived`);
    const s = sink.stats();
    assert.equal(s.pending, 0);
    assert.ok(s.deliveryFailures >= 1);
    assert.equal(s.lastError, 'collector down');
    assert.ok(entries.some((e) => e.level === 'warn' && /delivery failed: collector down; \d+ records are kept in the spool/.test(e.message)));
    assert.ok(entries.some((e) => e.level === 'info' && /delivery resumed/.test(e.message)));
    await sink.close();
  }
});

test('records without a stable id are counted and reported once', async () => {
  const dir = tempDir();
  const entries: { level: string; message: string }[] = [];
  const sink = await SpooledSink.open(spoolConfig(dir), new MemorySink(), { log: memoryLogger(entries) });
  await sink.write([{ a: 1 }, { b: 2 }]);
  await sink.flush();
  assert.equal(sink.stats().withoutId, 2);
  assert.equal(entries.filter((e) => /no stable id/.test(e.message)).length, 1);
  await sink.close();
});

/** Confirms each batch after a delay, like the forwarder's ackGrace: many batches are on the way at once. */
class SlowLineSink implements Sink {
  readonly name = 'slow';
  readonly ids = new Set<string>();
  async write(): Promise<void> {
    throw new Error('not used: the spool sends lines');
  }
  async writeJsonLines(items: { line: Buffer }[]): Promise<void> {
    for (const i of items) this.ids.add(idOf(i.line));
    await new Promise((r) => setTimeout(r, 30));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

test('pipelined delivery over many segments and both lanes: flush returns only when all is confirmed', async () => {
  const dir = tempDir();
  const inner = new SlowLineSink();
  const sink = await SpooledSink.open(spoolConfig(dir, { segmentBytes: 16 * 1024, batchSize: 20 }), inner, { log: memoryLogger([]) });
  for (let i = 0; i < 3000; i += 50) await sink.write(Array.from({ length: 50 }, (_, k) => record(`p${i + k}`, (i + k) % 7 === 0)));
  await sink.flush();
  const s = sink.stats();
  assert.equal(s.pending, 0, JSON.stringify(s));
  assert.equal(s.delivered, 3000);
  assert.equal(inner.ids.size, 3000);
  assert.ok(listSegments(dir).length <= 2, 'delivered segments are gone');
  await sink.close();
});

/** Like chronicle-api on HTTP 400: refuses any request that holds a record marked bad. */
class PickySink implements Sink {
  readonly name = 'picky';
  readonly records: OutRecord[] = [];
  requests = 0;
  async write(records: OutRecord[]): Promise<void> {
    this.requests++;
    if (records.some((r) => (r as { bad?: boolean }).bad)) throw Object.assign(new Error('HTTP 400: INVALID_ARGUMENT'), { status: 400, retriable: false });
    this.records.push(...records);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

test('a record the sink refuses for its content is isolated and dropped; the rest of its batch is delivered', async () => {
  const dir = tempDir();
  const inner = new PickySink();
  const entries: { level: string; message: string }[] = [];
  const sink = await SpooledSink.open(spoolConfig(dir, { batchSize: 100 }), inner, { log: memoryLogger(entries) });
  await sink.write(Array.from({ length: 100 }, (_, i) => ({ ...record(`q${i}`), ...(i === 37 ? { bad: true } : {}) })));
  await sink.flush();
  assert.equal(inner.records.length, 99);
  assert.ok(!inner.records.some((r) => (r as { bad?: boolean }).bad));
  const s = sink.stats();
  assert.equal(s.rejected, 1);
  assert.equal(s.delivered, 99);
  assert.equal(s.pending, 0);
  assert.ok(inner.requests <= 20, `found by halving: ${inner.requests} requests`);
  assert.equal(entries.filter((e) => e.level === 'error' && /refused and is dropped.*HTTP 400/.test(e.message)).length, 1);
  await sink.close();
});
