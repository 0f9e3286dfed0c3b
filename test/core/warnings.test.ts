import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryLogger } from '../../src/core/logger';
import { WarningLog, WarningTally, warningIncrements } from '../../src/core/warnings';

test('WarningTally: totals by code with the latest message; codes beyond the bound go under "other"', () => {
  const t = new WarningTally(2);
  t.addAll([{ code: 'proc-eacces', message: 'pid 1', count: 2 }, { code: 'proc-vanished', message: 'pid 7', count: 1 }]);
  t.add('proc-eacces', 'pid 9');
  t.add('parse-malformed-line', 'tcp6 line 3');
  t.add('not-root', 'x', 4);
  assert.deepEqual(t.list(), [
    { code: 'proc-eacces', message: 'pid 9', count: 3 },
    { code: 'proc-vanished', message: 'pid 7', count: 1 },
    { code: 'other', message: 'x', count: 5 },
  ]);
});

test('warningIncrements: only what grew, per code', () => {
  const before = [{ code: 'a', message: 'm1', count: 2 }, { code: 'b', message: 'm', count: 5 }];
  const after = [{ code: 'a', message: 'm2', count: 7 }, { code: 'b', message: 'm', count: 5 }, { code: 'c', message: 'new', count: 1 }];
  assert.deepEqual(warningIncrements(before, after), [{ code: 'a', message: 'm2', count: 5 }, { code: 'c', message: 'new', count: 1 }]);
  assert.deepEqual(warningIncrements(after, after), []);
});

test('WarningLog: the first of a code at once, repeats summed up once per interval, the rest at flush', () => {
  const entries: { level: string; message: string }[] = [];
  let now = 0;
  const log = new WarningLog(memoryLogger(entries), 60_000, () => now);
  log.report('procfs', [{ code: 'proc-eacces', message: 'cannot list fd', count: 1 }]);
  for (let i = 0; i < 1000; i++) {
    now += 10;
    log.report('procfs', [{ code: 'proc-eacces', message: `cannot list fd ${i}`, count: 1 }]);
  }
  assert.equal(entries.length, 1, 'a thousand repeats within the interval: no new line');
  assert.match(entries[0]?.message as string, /^procfs: proc-eacces: cannot list fd - repeats are summed up at most every 60 s/);
  now = 60_000;
  log.report('procfs', [{ code: 'proc-eacces', message: 'cannot list fd last', count: 2 }]);
  assert.equal(entries.length, 2);
  assert.equal(entries[1]?.message, 'procfs: proc-eacces: 1002 more in the last 60 s (latest: cannot list fd last)');
  log.report('ebpf', [{ code: 'proc-eacces', message: 'other source', count: 3 }]);
  assert.equal(entries.length, 3, 'the same code from another source is its own line');
  now += 5;
  log.report('procfs', [{ code: 'proc-eacces', message: 'tail', count: 1 }]);
  assert.equal(entries.length, 3);
  log.flush();
  assert.equal(entries.length, 4);
  assert.match(entries[3]?.message as string, /^procfs: proc-eacces: 1 more in the last 1 s \(latest: tail\)$/);
  log.flush();
  assert.equal(entries.length, 4, 'nothing pending: nothing more');
  assert.ok(entries.every((e) => e.level === 'warn'));
});
