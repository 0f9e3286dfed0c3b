import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type winston from 'winston';
import { checkFolder, ensureFolder, FLAGS, openSafeSync, UnsafePathError, writeFileAtomicSync } from '../../src/core/safe-fs';
import { createLogger } from '../../src/service/log';
import { FileSink } from '../../src/sinks/file';
import { attackScene } from '../helpers/attacker';

test('folder checks: world-writable without sticky and other users\' folders are refused, sticky /tmp-like and own folders pass', (t) => {
  const s = attackScene(t);
  if (!s) return;
  assert.throws(() => checkFolder(s.open, 'a test'), (e: Error) => e instanceof UnsafePathError && /refusing to use .*open: it is writable by everyone without the sticky bit \(mode 0777\)/.test(e.message));
  assert.throws(() => checkFolder(s.nobodys, 'a test'), new RegExp(`refusing to use .*nobodys: it is owned by uid ${s.uid}, not by root`));
  // A folder below another user's folder: the user could swap it.
  const inner = path.join(s.nobodys, 'inner');
  fs.mkdirSync(inner);
  assert.throws(() => checkFolder(inner, 'a test'), /nobodys \(above .*inner\): it is owned by uid/);
  checkFolder(s.sticky, 'a test');
  checkFolder(s.base, 'a test');
  // A link to a good folder, planted by nobody in the sticky folder: refused even though its target is fine.
  s.plantLink(path.join(s.sticky, 'logs'), s.base);
  assert.throws(() => ensureFolder(path.join(s.sticky, 'logs'), 0o750, 'a test'), new RegExp(`logs: it is a symbolic link owned by uid ${s.uid}`));
});

test('the log file: a link planted by nobody is not followed, the agent refuses with a clear error', (t) => {
  const s = attackScene(t);
  if (!s) return;
  const inNobodys = path.join(s.nobodys, 'brokerwatch.log');
  s.plantLink(inNobodys, s.secret);
  assert.throws(() => createLogger({ level: 'info', file: inNobodys, console: false }), /refusing to use .*nobodys: it is owned by uid/);
  const inOpen = path.join(s.open, 'brokerwatch.log');
  s.plantLink(inOpen, s.secret);
  assert.throws(() => createLogger({ level: 'info', file: inOpen, console: false }), /writable by everyone without the sticky bit/);
  const inSticky = path.join(s.sticky, 'brokerwatch.log');
  s.plantLink(inSticky, s.secret);
  assert.throws(() => createLogger({ level: 'info', file: inSticky, console: false }), /refusing to use .*sticky\/brokerwatch\.log: it is a symbolic link/);
  // nobody's own regular file in the sticky folder: root would write into a file nobody reads.
  const planted = path.join(s.sticky, 'planted.log');
  s.plantFile(planted, '');
  assert.throws(() => createLogger({ level: 'info', file: planted, console: false }), new RegExp(`planted\\.log: it is owned by uid ${s.uid}`));
  assert.equal(fs.readFileSync(planted, 'utf8'), '');
  assert.ok(s.secretUntouched(), 'the root-only file is unchanged');
});

test('the log file is written and rotated (live file keeps its name, FILE.1... older)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-log-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sub', 'agent.log');
  const log = createLogger({ level: 'info', file, console: false, maxSize: 200, maxFiles: 3 }) as unknown as winston.Logger;
  for (let i = 0; i < 12; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
  await new Promise<void>((resolve) => {
    log.on('finish', resolve);
    log.end();
  });
  const live = fs.readFileSync(file, 'utf8');
  assert.match(live, /info line 11 x+\n$/);
  assert.ok(fs.statSync(file).size <= 200);
  assert.match(fs.readFileSync(`${file}.1`, 'utf8'), /line 8 /);
  assert.ok(fs.existsSync(`${file}.2`) && !fs.existsSync(`${file}.3`), 'maxFiles 3: the live file and two older');
  assert.equal(fs.statSync(path.join(dir, 'sub')).mode & 0o777, 0o750);
});

test('the file sink: planted links and foreign files are refused, the target untouched', async (t) => {
  const s = attackScene(t);
  if (!s) return;
  const cases: [string, RegExp][] = [
    [path.join(s.nobodys, 'events.jsonl'), /nobodys: it is owned by uid/],
    [path.join(s.open, 'events.jsonl'), /writable by everyone without the sticky bit/],
    [path.join(s.sticky, 'events.jsonl'), /events\.jsonl: it is a symbolic link/],
  ];
  for (const [file, why] of cases) {
    s.plantLink(file, s.secret);
    const sink = new FileSink({ path: file });
    await assert.rejects(sink.write([{ n: 1 } as never]), (e: Error) => /^file sink .*: /.test(e.message) && why.test(e.message));
    await sink.close();
  }
  const planted = path.join(s.sticky, 'mine.jsonl');
  s.plantFile(planted, '');
  const sink = new FileSink({ path: planted });
  await assert.rejects(sink.open(), new RegExp(`it is owned by uid ${s.uid}`));
  await sink.close();
  assert.equal(fs.readFileSync(planted, 'utf8'), '', 'nobody\'s file got no events');
  assert.ok(s.secretUntouched());
});

test('atomic writes use a random temp name beside the target and replace a link instead of following it', (t) => {
  const s = attackScene(t);
  if (!s) return;
  // nobody guesses the old predictable temp names for the next pids: no effect now.
  const target = path.join(s.sticky, 'report.json');
  const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  s.plantLinks(path.join(s.sticky, `.report.json.%d.tmp`), last, last + 500, s.secret);
  s.plantLinks(path.join(s.sticky, `.report.json.${process.pid}%d.tmp`), 0, 1, s.secret);
  writeFileAtomicSync(target, '{"ok":true}\n', 0o640, 'a test');
  assert.equal(fs.readFileSync(target, 'utf8'), '{"ok":true}\n');
  assert.equal(fs.lstatSync(target).uid, 0);
  // nobody's link AT the target: rename replaces the link itself (root may, even in a sticky folder).
  const linked = path.join(s.sticky, 'linked.json');
  s.plantLink(linked, s.secret);
  writeFileAtomicSync(linked, 'x', 0o640, 'a test');
  assert.ok(fs.lstatSync(linked).isFile() && fs.lstatSync(linked).uid === 0);
  assert.deepEqual(fs.readdirSync(s.sticky).filter((n) => /^\.(linked|report)\.json\.[0-9a-f]{16}\.tmp$/.test(n)), [], 'no temp file left behind');
  // Exclusive create never opens an existing name.
  assert.throws(() => openSafeSync(target, FLAGS.createExclusive, 0o600, 'a test'), /already exists/);
  assert.ok(s.secretUntouched());
});
