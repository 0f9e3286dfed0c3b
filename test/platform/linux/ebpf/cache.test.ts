import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { WarningCollector } from '../../../../src/core/warnings';
import { ProcessCache } from '../../../../platform/linux/ebpf/cache';
import type { ConnectRecord, ExecRecord } from '../../../../platform/linux/ebpf/parse';
import { ProcessAttributor } from '../../../../platform/linux/ebpf/processes';
import { ProcfsReader, realProcfsDeps } from '../../../../platform/linux/procfs/read';

describe('ProcessCache', () => {
  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new ProcessCache({ maxEntries: 2 });
    cache.set(1, { info: { pid: 1 }, attribution: 'procfs' });
    cache.set(2, { info: { pid: 2 }, attribution: 'procfs' });
    assert.ok(cache.get(1, 0)); // 1 is now the most recent
    cache.set(3, { info: { pid: 3 }, attribution: 'procfs' });
    assert.equal(cache.get(2, 0), undefined);
    assert.ok(cache.get(1, 0) && cache.get(3, 0));
    assert.equal(cache.size, 2);
  });

  it('keeps an exited process for exitTtlMs, then drops it', () => {
    const cache = new ProcessCache({ exitTtlMs: 1000 });
    cache.set(7, { info: { pid: 7 }, attribution: 'procfs' });
    cache.set(8, { info: { pid: 8 }, attribution: 'procfs' });
    cache.markExited(7, 5000);
    cache.markExited(8, 5000);
    assert.equal(cache.get(7, 6000)?.exitedAt, 5000);
    assert.equal(cache.get(7, 6001), undefined);
    assert.equal(cache.sweep(7000), 1, 'sweep drops the other expired entry');
    assert.equal(cache.size, 0);
  });
});

/**
 * A scripted life of several processes against a procfs tree built in a temp folder: the real
 * ProcfsReader reads it, the test adds and removes /proc/<pid> folders as processes start and exit.
 */
describe('ProcessAttributor on a scripted sequence', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ebpf-cache-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const proc = path.join(root, 'proc');
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  fs.writeFileSync(path.join(bin, 'nc.real'), '');
  fs.symlinkSync('nc.real', path.join(bin, 'nc')); // the execve name is a symlink, as /usr/bin/nc is
  fs.mkdirSync(proc);
  fs.writeFileSync(path.join(proc, 'stat'), 'cpu 0 0 0 0\nbtime 1700000000\n');

  function startProcess(pid: number, o: { comm: string; ppid: number; uid: number; start: number; exe?: string; argv: string[] }): void {
    const dir = path.join(proc, String(pid));
    fs.mkdirSync(dir);
    const after = ['S', o.ppid, ...Array(17).fill(0), o.start, ...Array(30).fill(0)].join(' ');
    fs.writeFileSync(path.join(dir, 'stat'), `${pid} (${o.comm}) ${after}\n`);
    fs.writeFileSync(path.join(dir, 'cmdline'), o.argv.map((a) => `${a}\0`).join(''));
    fs.writeFileSync(path.join(dir, 'status'), `Name:\t${o.comm}\nUid:\t${o.uid}\t${o.uid}\t${o.uid}\t${o.uid}\n`);
    if (o.exe) fs.symlinkSync(o.exe, path.join(dir, 'exe'));
  }
  const endProcess = (pid: number) => fs.rmSync(path.join(proc, String(pid)), { recursive: true, force: true });

  let clock = 1_000_000;
  const warn = new WarningCollector();
  const cache = new ProcessCache({ exitTtlMs: 30_000 });
  const reader = new ProcfsReader({ procRoot: proc, etcRoot: path.join(root, 'etc'), isCandidate: () => true }, realProcfsDeps);
  const attributor = new ProcessAttributor(reader, cache, { readFile: realProcfsDeps.readFile, realpath: (p) => fs.promises.realpath(p), now: () => clock }, warn, { etcRoot: path.join(root, 'etc') });
  const exec = (pid: number, ppid: number, uid: number, filename: string): ExecRecord => ({ kind: 'exec', pid, ppid, uid, filename, truncated: false });
  const connect = (pid: number, ppid: number, uid: number, comm: string): ConnectRecord => ({
    kind: 'connect', pid, ppid, uid, family: 4, saddr: '10.0.0.5', sport: 0, daddr: '198.51.100.7', dport: 1883, netns: 4026531840, sk: '0x1', comm,
  });

  startProcess(1, { comm: 'init', ppid: 0, uid: 0, start: 1, exe: '/sbin/init', argv: ['/sbin/init'] });
  const ncReal = path.join(bin, 'nc.real');

  it('1. exec read from /proc, then a connect is attributed from the cache with exe, cmdline, ppid, user', async () => {
    startProcess(100, { comm: 'nc', ppid: 1, uid: 1000, start: 500, exe: ncReal, argv: ['nc', '-z', '198.51.100.7', '1883'] });
    attributor.onExec(exec(100, 1, 1000, path.join(bin, 'nc')));
    const got = await attributor.forConnect(connect(100, 1, 1000, 'nc'));
    assert.equal(got.attribution, 'procfs');
    assert.deepEqual(
      { pid: got.info.pid, ppid: got.info.ppid, exe: got.info.exe, cmdline: got.info.cmdline, user: got.info.user, parentExe: got.info.parentExe },
      { pid: 100, ppid: 1, exe: ncReal, cmdline: 'nc -z 198.51.100.7 1883', user: 'alice', parentExe: '/sbin/init' },
    );
  });

  it('2. the process exits; a connect read after the exit line is still attributed within the TTL', async () => {
    endProcess(100);
    attributor.onExit(100);
    clock += 29_000;
    const got = await attributor.forConnect(connect(100, 1, 1000, 'nc'));
    assert.equal(got.attribution, 'procfs');
    assert.equal(got.info.cmdline, 'nc -z 198.51.100.7 1883');
  });

  it('3. past the TTL the entry is gone: only the kernel facts remain, marked as such', async () => {
    clock += 2_000;
    const got = await attributor.forConnect(connect(100, 1, 1000, 'nc'));
    assert.equal(got.attribution, 'kernel');
    assert.deepEqual(got.info, { pid: 100, ppid: 1, name: 'nc', uid: 1000, user: 'alice', parentExe: '/sbin/init', parentName: 'init' });
  });

  it('4. a process gone before /proc could be read: exec file name (symlink resolved), argv and comm from the kernel, marked kernel', async () => {
    attributor.onExec(exec(200, 1, 0, path.join(bin, 'nc'))); // no /proc/200: it already exited
    attributor.onArgv({ kind: 'argv', pid: 200, argv: ['nc', '-z', '198.51.100.7', '1883'], truncated: false });
    attributor.onExit(200);
    const got = await attributor.forConnect(connect(200, 1, 0, 'evil\nname'));
    assert.equal(got.attribution, 'kernel');
    assert.deepEqual(got.info, {
      pid: 200, ppid: 1, name: 'evil\nname', exe: ncReal, argv: ['nc', '-z', '198.51.100.7', '1883'], cmdline: 'nc -z 198.51.100.7 1883',
      uid: 0, user: 'root', parentExe: '/sbin/init', parentName: 'init',
    });
  });

  it('5. a zombie (stat readable, exe and cmdline gone) is completed from the exec file name and argv, marked partial', async () => {
    startProcess(300, { comm: 'nc', ppid: 1, uid: 0, start: 700, argv: [] });
    attributor.onExec(exec(300, 1, 0, path.join(bin, 'nc')));
    attributor.onArgv({ kind: 'argv', pid: 300, argv: ['nc', '-z', 'a-very-long-host'], truncated: true });
    const got = await attributor.forConnect(connect(300, 1, 0, 'nc'));
    assert.equal(got.attribution, 'partial');
    assert.equal(got.info.exe, ncReal);
    assert.equal(got.info.cmdline, 'nc -z a-very-long-host');
    assert.equal(got.argvTruncated, true);
  });

  it('6. a pid reused by a newer process after the exit is read fresh, not taken from the cache', async () => {
    startProcess(400, { comm: 'old', ppid: 1, uid: 0, start: 800, exe: '/usr/bin/old', argv: ['old'] });
    attributor.onExec(exec(400, 1, 0, '/usr/bin/old'));
    assert.equal((await attributor.forConnect(connect(400, 1, 0, 'old'))).info.exe, '/usr/bin/old');
    endProcess(400);
    attributor.onExit(400);
    startProcess(400, { comm: 'new', ppid: 1, uid: 0, start: 900, exe: '/usr/bin/new', argv: ['new'] }); // forked, no exec line
    const got = await attributor.forConnect(connect(400, 1, 0, 'new'));
    assert.equal(got.info.exe, '/usr/bin/new');
    assert.equal(attributor.counts.pidReuse, 1);
  });

  it('7. a fork child (no exec line) missing from the cache is read from /proc on connect', async () => {
    startProcess(500, { comm: 'bash', ppid: 1, uid: 1000, start: 950, exe: '/usr/bin/bash', argv: ['bash', '-c', 'x'] });
    const got = await attributor.forConnect(connect(500, 1, 1000, 'bash'));
    assert.equal(got.attribution, 'procfs');
    assert.equal(got.info.user, 'alice');
    assert.ok(cache.get(500, clock), 'cached for the next connect');
  });
});
