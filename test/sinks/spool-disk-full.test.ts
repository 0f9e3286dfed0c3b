// The spool on a full disk: a real 512 KiB tmpfs mounted by the test, the forwarder sink in front
// of a real rsyslog that is down while 1,200 connects' worth of records arrive, then comes back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { memoryLogger } from '../../src/core/logger';
import type { OutRecord } from '../../src/core/sink';
import { ForwarderSink, forwarderSinkSchema } from '../../src/sinks/forwarder/forwarder';
import { SpooledSink, spoolSchema } from '../../src/sinks/spool/spool';
import { freePort } from '../helpers/lab-net';
import { requireTools, Rsyslog } from '../helpers/rsyslog';

const DISK = 512 * 1024;

/** A 512 KiB tmpfs, unmounted (and its folder removed) after the test. */
function smallDisk(cleanups: (() => unknown)[], t: TestContext, base: string): string | null {
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') throw new Error('the full-disk test needs root to mount a tmpfs (CI must not skip)');
    t.skip('needs root to mount a tmpfs');
    return null;
  }
  const mnt = path.join(base, 'disk');
  fs.mkdirSync(mnt, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK},mode=0700`, 'tmpfs', mnt]);
  cleanups.push(() => {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]); // still busy: detach now, the kernel frees it when unused
    }
  });
  return mnt;
}

/** About what the daemon sends per connect: a telemetry record, and for every other connect a finding (~1.2 KB each). */
function connectRecords(i: number, prefix: string): OutRecord[] {
  const base = { principal: { process: { pid: String(1000 + i), command_line: `/tmp/evil-c2 --beacon ${'x'.repeat(900)}` } }, target: { ip: ['198.51.100.7'], port: 5222 } };
  const out: OutRecord[] = [{ metadata: { product_log_id: `${prefix}-t${i}`, event_type: 'NETWORK_CONNECTION' }, ...base }];
  if (i % 2 === 0) out.push({ metadata: { product_log_id: `${prefix}-f${i}`, event_type: 'NETWORK_CONNECTION' }, ...base, security_result: [{ severity: 'HIGH', rule_id: 'PUBSUB-EXTERNAL' }] });
  return out;
}

const idsOf = (lines: string[]) => new Set(lines.map((l) => (JSON.parse(l) as { metadata: { product_log_id: string } }).metadata.product_log_id));

test('a full disk: findings are kept over telemetry, one ENOSPC line per episode, delivery resumes by itself, also after a restart', { timeout: 120_000 }, async (t) => {
  const tools = requireTools(t, ['rsyslogd']);
  if (!tools) return;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-diskfull-'));
  const cleanups: (() => unknown)[] = [() => fs.rmSync(base, { recursive: true, force: true })];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c(); // newest first: the collector, the mount, then the folder
  });
  const mnt = smallDisk(cleanups, t, base);
  if (!mnt) return;
  const collector = new Rsyslog(tools.rsyslogd as string, path.join(base, 'rsyslog'), await freePort());
  cleanups.push(() => collector.stop());
  const entries: { level: string; message: string }[] = [];
  const log = memoryLogger(entries);
  const spoolPath = path.join(mnt, 'spool');
  const open = () => SpooledSink.open(spoolSchema.parse({ path: spoolPath, retry: { initialDelay: '50ms', maxDelay: '200ms' }, drainTimeout: '1s' }),
    new ForwarderSink(forwarderSinkSchema.parse({ type: 'forwarder', host: '127.0.0.1', port: collector.port, reconnect: { initialDelay: '50ms', maxDelay: '200ms' } }), { log }), { log });

  const waitDrained = async (sink: SpooledSink) => {
    for (const deadline = Date.now() + 30_000; sink.stats().pending > 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 25));
    assert.equal(sink.stats().pending, 0, 'every kept record was confirmed, so it is off the disk');
  };
  const send20 = async (sink: SpooledSink, prefix: string, what: string) => {
    for (let i = 0; i < 10; i++) await sink.write(connectRecords(2 * i, prefix));
    const want = ['t', 'f'].flatMap((k) => Array.from({ length: 10 }, (_, i) => `${prefix}-${k}${2 * i}`));
    await collector.waitFor((l) => want.every((id) => idsOf(l).has(id)), what, 30_000)
      .catch((err: Error) => assert.fail(`${err.message}\nstats ${JSON.stringify(sink.stats())}\nlog ${JSON.stringify(entries.slice(-12))}`));
  };
  const fill = async (sink: SpooledSink, prefix: string) => {
    const before = entries.length;
    for (let i = 0; i < 1200; i++) await sink.write(connectRecords(i, prefix)); // never rejects: a full disk is handled, not thrown
    const lines = entries.slice(before).filter((e) => /ENOSPC|disk is full/.test(e.message));
    assert.equal(lines.length, 1, `one line for the episode: ${JSON.stringify(lines)}`);
    assert.match(lines[0]?.message as string, /spool .*: the disk is full \(ENOSPC writing .*\): dropping the oldest telemetry first/);
    return sink.stats();
  };

  // The collector is down: 1,200 connects, 600 findings among 1,800 records, on 512 KiB.
  let sink = await open();
  const full = await fill(sink, 'a');
  assert.equal(full.pendingFindings + full.droppedFindings, 600, `every finding is kept or counted as dropped: ${JSON.stringify(full)}`);
  assert.equal(full.pending - full.pendingFindings + full.dropped, 1200, 'and every telemetry record');
  assert.equal(full.diskFullEpisodes, 1);
  assert.ok(full.pendingFindings * 1300 > DISK * 0.7, `findings fill the disk: ${JSON.stringify(full)}`);
  assert.equal(full.pending - full.pendingFindings, 0, 'no telemetry is kept while findings are dropped');
  assert.ok(full.droppedFindings > 0 && full.droppedFindings < 600 - 350, JSON.stringify(full));
  assert.ok(!entries.some((e) => e.level === 'error'), JSON.stringify(entries.filter((e) => e.level === 'error')));

  // The collector comes back: the kept findings are delivered, the episode ends (one line, with counts), new events flow.
  await collector.start();
  await waitDrained(sink);
  assert.ok(idsOf(collector.lines()).size >= full.pendingFindings);
  const roomAgain = () => entries.filter((e) => /disk has room again/.test(e.message));
  for (const deadline = Date.now() + 10_000; roomAgain().length === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 25)); // logged right after the last commit
  const ends = roomAgain();
  assert.equal(ends.length, 1, JSON.stringify(entries.slice(-10)));
  assert.match(ends[0]?.message as string, new RegExp(`dropped ${full.droppedFindings} findings and ${full.dropped} telemetry records while it was full`));
  await send20(sink, 'b', '20 new events after the collector came back');

  // After a restart.
  await sink.close();
  sink = await open();
  await send20(sink, 'c', '20 new events after a restart');

  // Full again, and a restart while it is full: the kept findings survive it, and delivery resumes.
  await collector.stop();
  const again = await fill(sink, 'd');
  await sink.close();
  sink = await open();
  assert.equal(sink.stats().pendingFindings, again.pendingFindings, 'every kept finding survives a restart on a full disk');
  await collector.start();
  await waitDrained(sink);
  await send20(sink, 'e', '20 new events after a restart on a full disk');
  await sink.close();
});
