import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { memoryLogger } from '../../src/core/logger';
import { listSegments, Spool } from '../../src/sinks/spool/spool';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  // Each child leads its own process group (flock forks its command): the whole group goes.
  for (const c of children.splice(0)) {
    try {
      process.kill(-(c.pid as number), 'SIGKILL');
    } catch { /* already gone */ }
  }
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-spool-rec-'));
  dirs.push(d);
  return d;
}

type Entries = { level: string; message: string }[];

function openSpool(dir: string, entries: Entries = []) {
  return Spool.open({ path: dir, maxBytes: 4 * 1024 * 1024, segmentBytes: 8 * 1024, fsync: 'never', fsyncIntervalMs: 1000, log: memoryLogger(entries) });
}

const item = (i: number, finding: boolean) => ({ json: JSON.stringify({ metadata: { product_log_id: `r${i}` }, pad: 'x'.repeat(150), ...(finding ? { security_result: [{}] } : {}) }), finding });

async function readIds(spool: Spool, lane: 'finding' | 'telemetry'): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const b = await spool.read(lane, 100, 64 * 1024);
    if (!b) return ids;
    ids.push(...b.items.map((x) => (JSON.parse(x.line.toString()) as { metadata: { product_log_id: string } }).metadata.product_log_id));
  }
}

/** A spool left with 101 undelivered records (51 findings) over several segments. */
async function leftBehind(dir: string): Promise<void> {
  const spool = await openSpool(dir);
  await spool.append(Array.from({ length: 101 }, (_, i) => item(i, i % 2 === 0)));
  await spool.close();
}

test('a stale lock file naming a live unrelated process does not keep the agent down; a real lock holder does', async () => {
  const dir = tempDir();
  const lock = path.join(dir, 'lock');
  // The old pid file, now naming a live process that is not brokerwatch (after a crash and a reboot).
  const unrelated = spawn('sleep', ['600'], { stdio: 'ignore', detached: true });
  children.push(unrelated);
  fs.writeFileSync(lock, `${unrelated.pid}\n`);
  const spool = await openSpool(dir);
  await spool.close();
  // Another process that really holds the lock (flock(1), the same kind of lock; -o: only flock itself holds it).
  const holder = spawn('flock', ['-o', lock, 'sleep', '600'], { stdio: 'ignore', detached: true });
  children.push(holder);
  while (spawnSync('flock', ['-n', lock, 'true']).status === 0) await new Promise((r) => setTimeout(r, 20)); // until it holds it
  await assert.rejects(openSpool(dir), new RegExp(`spool ${dir} is in use by another process: it holds the lock on ${lock} \\(one agent per folder; the lock goes away by itself when that process ends\\)`));
  process.kill(-(holder.pid as number), 'SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  const again = await openSpool(dir); // the kernel dropped the lock with the process
  await again.close();
});

test('a state.json pointing past the segments deletes nothing: the records are delivered again, and the log says so', async () => {
  const dir = tempDir();
  await leftBehind(dir);
  const before = listSegments(dir).map((s) => s.file);
  assert.ok(before.length >= 4);
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 1, lanes: { finding: { seq: 999, offset: 0 }, telemetry: { seq: 999, offset: 0 } } }));
  const entries: Entries = [];
  const spool = await openSpool(dir, entries);
  assert.deepEqual(listSegments(dir).map((s) => s.file).filter((f) => before.includes(f)), before, 'no segment deleted');
  assert.equal(spool.pending('finding'), 51);
  assert.equal(spool.pending(), 101);
  assert.equal((await readIds(spool, 'finding')).length, 51);
  assert.equal((await readIds(spool, 'telemetry')).length, 50);
  const warns = entries.filter((e) => e.level === 'warn' && /state\.json says delivery reached segment 999 offset 0, which is not on disk/.test(e.message));
  assert.equal(warns.length, 2, 'one line per lane');
  assert.match(warns[0]?.message as string, /nothing is deleted on its word: 51 records from segment \d+ on will be delivered again/);
  assert.equal(spool.counters.redelivered, 101);
  await spool.close();
});

test('a state.json pointing at a later segment while older ones are on disk keeps the older ones', async () => {
  const dir = tempDir();
  await leftBehind(dir);
  const findings = listSegments(dir).filter((s) => s.lane === 'finding');
  assert.ok(findings.length >= 2);
  const later = findings.at(-1)?.seq as number;
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ version: 1, lanes: { finding: { seq: later, offset: 0 } } }));
  const entries: Entries = [];
  const spool = await openSpool(dir, entries);
  assert.equal(spool.pending('finding'), 51);
  assert.ok(entries.some((e) => e.level === 'warn' && new RegExp(`finding lane: state\\.json says delivery reached segment ${later} offset 0, but older segments`).test(e.message)));
  await spool.close();
});

test('a FIFO, a symbolic link and a folder under segment names, and a FIFO as state.json, are skipped with a warning; start-up does not hang', { timeout: 20_000 }, async () => {
  const dir = tempDir();
  await leftBehind(dir);
  const outside = path.join(tempDir(), 'not-a-segment');
  fs.writeFileSync(outside, 'secret\n');
  const fifo = path.join(dir, 'finding-000000000900.seg');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  fs.symlinkSync(outside, path.join(dir, 'telemetry-000000000901.seg'));
  fs.mkdirSync(path.join(dir, 'finding-000000000902.seg'));
  fs.rmSync(path.join(dir, 'state.json'), { force: true });
  assert.equal(spawnSync('mkfifo', [path.join(dir, 'state.json')]).status, 0);
  const entries: Entries = [];
  const spool = await openSpool(dir, entries);
  const warned = (re: RegExp) => entries.some((e) => e.level === 'warn' && re.test(e.message));
  assert.ok(warned(/skipped finding-000000000900\.seg: it is a FIFO, not a segment file/), JSON.stringify(entries));
  assert.ok(warned(/skipped telemetry-000000000901\.seg: it is a symbolic link, not a segment file/));
  assert.ok(warned(/skipped finding-000000000902\.seg: it is a folder, not a segment file/));
  assert.ok(warned(/state\.json unreadable \(refusing to use .*state\.json: it is not a regular file/));
  assert.equal(spool.pending(), 101, 'the real segments are all there');
  // New segments are numbered past the odd names, so none is ever opened as one of them.
  await spool.append(Array.from({ length: 60 }, (_, i) => item(1000 + i, true)));
  assert.ok(listSegments(dir).some((s) => s.seq > 902));
  await spool.close();
  assert.equal(fs.readFileSync(outside, 'utf8'), 'secret\n');
  assert.ok(fs.lstatSync(fifo).isFIFO(), 'left as it is');
});
