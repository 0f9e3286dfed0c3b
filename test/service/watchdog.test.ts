import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memoryLogger } from '../../src/core/logger';
import { backoffDelayMs, readWatchdogExits, recordWatchdogExit, startupBackoff, WATCHDOG_STATE_FILE } from '../../src/service/restart-backoff';
import { startWatchdog, WATCHDOG_EXIT_CODE, WatchdogMonitor, watchdogSchema } from '../../src/service/watchdog';

const MB = 1024 * 1024;
let tmp = '';
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-wd-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('WatchdogMonitor', () => {
  const settings = { maxCpuPercent: 10, cpuWindow: 5000, maxRssMb: 200 };

  it('trips at once on RSS over the limit, with the numbers in the message', () => {
    const m = new WatchdogMonitor(settings);
    assert.equal(m.add({ at: 0, cpuMicros: 0, rssBytes: 150 * MB }), null);
    const trip = m.add({ at: 1000, cpuMicros: 0, rssBytes: 245.3 * MB });
    assert.deepEqual(trip, { kind: 'rss', message: 'resident memory 245.3 MB is over watchdog.maxRssMb 200 MB' });
  });

  it('judges CPU only over a whole window: a short burst passes, sustained load trips', () => {
    const burst = new WatchdogMonitor(settings);
    // 100% of a core for 2 s, then idle: the 5 s average is 40%, but only from t=5s on...
    let cpu = 0;
    const verdicts: (string | null)[] = [];
    for (let t = 0; t <= 12_000; t += 1000) {
      verdicts.push(burst.add({ at: t, cpuMicros: cpu, rssBytes: MB })?.kind ?? null);
      cpu += t < 2000 ? 1_000_000 : 10_000; // then 1% of a core
    }
    assert.equal(verdicts.slice(0, 5).every((v) => v === null), true, 'no verdict before a whole window');
    assert.equal(verdicts[5], 'cpu', 'the window 0..5 s averages 40%');

    const steady = new WatchdogMonitor(settings);
    cpu = 0;
    for (let t = 0; t <= 60_000; t += 1000, cpu += 80_000) assert.equal(steady.add({ at: t, cpuMicros: cpu, rssBytes: MB }), null, `8% at ${t}`);

    const hot = new WatchdogMonitor(settings);
    cpu = 0;
    let trip = null;
    for (let t = 0; t <= 10_000 && !trip; t += 1000, cpu += 230_000) trip = hot.add({ at: t, cpuMicros: cpu, rssBytes: MB });
    assert.deepEqual(trip, { kind: 'cpu', message: 'CPU 23.0% of one core averaged over the last 5 s is over watchdog.maxCpuPercent 10%' });
  });
});

describe('startWatchdog', () => {
  it('logs one clear line, records the exit and calls exit(3)', async () => {
    const entries: { level: string; message: string }[] = [];
    const stateDir = path.join(tmp, 'state-a');
    const exited = new Promise<number>((resolve) => {
      startWatchdog({ enabled: true, interval: 20, maxCpuPercent: 10, cpuWindow: 1000, maxRssMb: 1 }, {
        log: memoryLogger(entries), stateDir, exit: (code) => resolve(code),
      });
    });
    assert.equal(await exited, WATCHDOG_EXIT_CODE);
    const line = entries.find((e) => e.level === 'error')?.message ?? '';
    assert.match(line, /^watchdog: resident memory \d+\.\d MB is over watchdog.maxRssMb 1 MB; exiting with code 3 so the service manager restarts brokerwatch$/);
    assert.equal(readWatchdogExits(stateDir).length, 1);
    assert.equal(fs.statSync(stateDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(stateDir, WATCHDOG_STATE_FILE)).mode & 0o777, 0o600);
  });

  it('does nothing when disabled, and stops when told', async () => {
    let calls = 0;
    const stopDisabled = startWatchdog({ enabled: false, interval: 10, maxCpuPercent: 10, cpuWindow: 10, maxRssMb: 1 }, { log: memoryLogger([]), exit: () => calls++ });
    const stop = startWatchdog({ enabled: true, interval: 10, maxCpuPercent: 10, cpuWindow: 10, maxRssMb: 1e6 }, {
      log: memoryLogger([]), exit: () => calls++, sample: () => ({ cpuMicros: 0, rssBytes: 0 }),
    });
    stop();
    stopDisabled();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(calls, 0);
  });

  it('schema: durations and a window no shorter than the interval', () => {
    assert.deepEqual(watchdogSchema.parse({ enabled: true, interval: '10s', maxCpuPercent: 10, cpuWindow: '1m', maxRssMb: 200 }), { enabled: true, interval: 10_000, maxCpuPercent: 10, cpuWindow: 60_000, maxRssMb: 200 });
    assert.equal(watchdogSchema.safeParse({ enabled: true, interval: '1m', maxCpuPercent: 10, cpuWindow: '10s', maxRssMb: 200 }).success, false);
    assert.equal(watchdogSchema.safeParse({ enabled: true, interval: '1m', maxCpuPercent: 0, cpuWindow: '10m', maxRssMb: 200 }).success, false);
  });
});

describe('restart backoff', () => {
  const hour = 3_600_000;
  it('waits 5 s after one watchdog exit in the last hour, doubling to 5 min', () => {
    const now = 10 * hour;
    assert.equal(backoffDelayMs([], now), 0);
    assert.equal(backoffDelayMs([now - 2 * hour], now), 0, 'older than an hour: forgotten');
    assert.equal(backoffDelayMs([now - 1000], now), 5000);
    assert.equal(backoffDelayMs([now - 3000, now - 2000, now - 1000], now), 20_000);
    assert.equal(backoffDelayMs(Array.from({ length: 10 }, (_, i) => now - i * 1000), now), 300_000);
  });

  it('records exits in the state file and waits at start, logging why', async () => {
    const stateDir = path.join(tmp, 'state-b');
    const now = Date.now();
    assert.equal(recordWatchdogExit(stateDir, now - 2 * hour, 'rss'), null);
    assert.equal(recordWatchdogExit(stateDir, now - 1000, 'cpu'), null);
    assert.equal(recordWatchdogExit(stateDir, now - 500, 'rss'), null);
    assert.equal(readWatchdogExits(stateDir).length, 2, 'the exit older than an hour was pruned');
    const entries: { level: string; message: string }[] = [];
    const started = Date.now();
    const waited = await startupBackoff(stateDir, memoryLogger(entries), { policy: { baseMs: 40, maxMs: 1000, windowMs: hour } });
    assert.equal(waited, 80);
    assert.ok(Date.now() - started >= 75);
    assert.match(entries[0]?.message ?? '', /^watchdog: 2 watchdog exits in the last 60 min \(.*watchdog-exits\.json\); waiting 0 s before starting \(restart backoff\)$/);
  });

  it('an abort ends the wait; a corrupt or missing state file means no wait', async () => {
    const stateDir = path.join(tmp, 'state-c');
    recordWatchdogExit(stateDir, Date.now(), 'rss');
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 20);
    await startupBackoff(stateDir, memoryLogger([]), { signal: ac.signal });
    assert.ok(Date.now() - started < 2000);
    fs.writeFileSync(path.join(stateDir, WATCHDOG_STATE_FILE), '{"exits": "lots"');
    assert.equal(await startupBackoff(stateDir, memoryLogger([])), 0);
    assert.equal(await startupBackoff(path.join(tmp, 'never-made'), memoryLogger([])), 0);
    const blocker = path.join(tmp, 'a-file');
    fs.writeFileSync(blocker, '');
    assert.match(recordWatchdogExit(path.join(blocker, 'state'), Date.now(), 'rss') ?? '', /^cannot record the exit in .*a-file\/state\/watchdog-exits.json: ENOTDIR$/);
  });
});
