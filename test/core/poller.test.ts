import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryLogger } from '../../src/core/logger';
import { Poller } from '../../src/core/poller';

/** A poll function that follows a script: 'ok' or an error message per call, then 'ok' forever. */
function scripted(script: string[]) {
  let calls = 0;
  let waiter: { n: number; resolve: () => void } | null = null;
  const poll = async () => {
    const step = script[calls] ?? 'ok';
    calls++;
    if (waiter && calls >= waiter.n) waiter.resolve();
    if (step !== 'ok') throw new Error(step);
  };
  const reached = (n: number) => new Promise<void>((resolve) => {
    if (calls >= n) resolve();
    else waiter = { n, resolve };
  });
  return { poll, reached, calls: () => calls };
}

test('failed polls are counted, the last error kept, and logged once per episode - never once per poll', async () => {
  const entries: { level: string; message: string }[] = [];
  let clock = 1_000_000;
  const s = scripted(['ok', 'EACCES one', 'EACCES two', 'EACCES three', 'ok', 'ok', 'EIO again', 'ok']);
  const p = new Poller(s.poll, 1, { name: 'procfs', log: memoryLogger(entries), now: () => (clock += 1000) });
  await p.start();
  await s.reached(10);
  await p.close();
  const stats = p.stats();
  assert.equal(stats.errors, 4);
  assert.equal(stats.lastError, 'EIO again');
  assert.equal(stats.failing, false);
  assert.ok(stats.polls >= 6, `polls ${stats.polls}`);
  assert.deepEqual(entries.map((e) => e.level), ['warn', 'info', 'warn', 'info'], JSON.stringify(entries));
  assert.match(entries[0]?.message as string, /^procfs: poll failed: EACCES one; retrying every 1 ms/);
  assert.match(entries[1]?.message as string, /^procfs: polls work again after 3 failed over \d+ s \(last error: EACCES three\)$/);
  assert.match(entries[3]?.message as string, /after 1 failed .*EIO again/);
});

test('a poll that keeps failing is one log line however long it lasts; the count keeps growing', async () => {
  const entries: { level: string; message: string }[] = [];
  const s = scripted(['ok', ...Array.from({ length: 50 }, (_, i) => `down ${i}\nsecond line`)]);
  const p = new Poller(s.poll, 1, { name: 'lsof', log: memoryLogger(entries) });
  await p.start();
  await s.reached(40);
  await p.close();
  assert.equal(entries.length, 1, JSON.stringify(entries));
  assert.equal(p.stats().failing, true);
  assert.ok(p.stats().errors >= 38);
  assert.doesNotMatch(p.stats().lastError as string, /\n/, 'one line');
});

test('the first poll\'s error propagates from start(): a source that cannot read at all says so', async () => {
  const p = new Poller(async () => { throw new Error('no /proc here'); }, 1);
  await assert.rejects(p.start(), /no \/proc here/);
  await p.close();
});

test('close() waits for a poll in flight, and no poll runs after it', async () => {
  let release: () => void = () => undefined;
  let inFlight = false;
  let after = 0;
  let closed = false;
  let started: () => void = () => undefined;
  const second = new Promise<void>((r) => { started = r; });
  let n = 0;
  const p = new Poller(async () => {
    if (closed) after++;
    if (++n === 2) {
      inFlight = true;
      started();
      await new Promise<void>((r) => { release = r; });
      inFlight = false;
    }
  }, 1);
  await p.start();
  await second;
  const closing = p.close();
  closed = true;
  assert.equal(inFlight, true);
  setTimeout(() => release(), 20);
  await closing;
  assert.equal(inFlight, false);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(after, 0);
});
