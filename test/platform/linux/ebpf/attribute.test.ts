/**
 * ConnectAttributor on this machine's real /proc and files: the test process itself stands in for
 * the connecting process (its pid, start time and executable are real), and the kernel record is
 * built as connect.bt would print it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { WarningCollector } from '../../../../src/core/warnings';
import { type AttributeDeps, type ConnectParts, ConnectAttributor } from '../../../../platform/linux/ebpf/attribute';
import { parseMountinfo, userDev } from '../../../../platform/linux/ebpf/identity';
import type { ConnectRecord } from '../../../../platform/linux/ebpf/parse';
import { parseProcStat } from '../../../../platform/linux/procfs/parse';

const deps: AttributeDeps = { readFile: (p) => fsp.readFile(p), readlink: (p) => fsp.readlink(p), stat: (p) => fsp.stat(p), now: () => Date.now() };
const linux = process.platform === 'linux';

/** The kernel's facts for `file` run by this process. */
function record(file: string, over: Partial<ConnectRecord> = {}): ConnectRecord {
  const st = fs.statSync(file);
  const { major, minor } = userDev(st.dev);
  const stat = parseProcStat(fs.readFileSync('/proc/self/stat', 'utf8'));
  return {
    kind: 'connect', pid: process.pid, ppid: process.ppid, uid: process.getuid?.() ?? 0, family: 4, saddr: '192.0.2.1', sport: 0,
    daddr: '198.51.100.7', dport: 5222, netns: 1, sk: '0x1', startTicks: stat?.startTicks ?? 0, exeDev: major * 2 ** 20 + minor,
    exeIno: st.ino, exeNlink: st.nlink, pathNames: names(file).length, pathComplete: true, comm: 'evil', ...over,
  };
}
/** P lines for `file`: its components inside its filesystem, leaf first (as the kernel walks its dentries). */
function names(file: string): string[] {
  const { major, minor } = userDev(fs.statSync(file).dev);
  const mount = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.major === major && m.minor === minor && (m.mountPoint === '/' || file.startsWith(`${m.mountPoint}/`)))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  const inside = mount ? path.posix.join(mount.root, file.slice(mount.mountPoint === '/' ? 0 : mount.mountPoint.length)) : file;
  return inside.split('/').filter(Boolean).reverse();
}
const attributor = (max?: number) => new ConnectAttributor(deps, new WarningCollector(), { procRoot: '/proc', ...(max !== undefined ? { maxConcurrent: max } : {}) });

describe('ConnectAttributor', { skip: !linux && 'needs Linux /proc' }, () => {
  const self = fs.realpathSync(process.execPath);
  const argv = fs.readFileSync('/proc/self/cmdline').toString('utf8').split('\0').slice(0, -1);

  it('the live process with the same executable: /proc confirms it, the identity is the connect\'s', async () => {
    const parts: ConnectParts = { names: names(self), namesCut: false, argv: { argv, truncated: false } };
    const p = await attributor().resolve(record(self), parts);
    assert.equal(p.exe, self);
    assert.deepEqual(p.argv, argv);
    assert.equal(p.attribution, 'connect');
    assert.deepEqual(p.readLater, ['parentExe', 'parentName']);
    assert.equal(p.name, 'evil', 'comm as the kernel saw it at the connect');
    assert.ok(p.startTime && Math.abs(Date.parse(p.startTime) - (Date.now() - process.uptime() * 1000)) < 5000, p.startTime);
  });

  it('a process that exec\'d since: the executable of the connect, found by its path names and confirmed by inode', async () => {
    const other = fs.realpathSync('/bin/sh'); // the file the kernel named is not this process's /proc/self/exe
    const p = await attributor().resolve(record(other), { names: names(other), namesCut: false, argv: { argv: ['sh', '-c', 'x'], truncated: false } });
    assert.equal(p.exe, other);
    assert.equal(p.exeUnverified, undefined);
    assert.deepEqual(p.argv, ['sh', '-c', 'x'], 'argv of the connect, not of the image that runs now');
    assert.equal(p.attribution, 'connect');
  });

  it('a process already gone (start time differs): kernel facts only, the path still confirmed', async () => {
    const other = fs.realpathSync('/bin/sh');
    const a = attributor();
    const p = await a.resolve(record(other, { startTicks: 1 }), { names: names(other), namesCut: false, argv: { argv: ['sh'], truncated: false } });
    assert.equal(p.exe, other);
    assert.equal(a.counts.processGone, 1);
  });

  it('a path that cannot be confirmed (the file is gone) is marked exeUnverified; a cut one is not rebuilt', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-attr-'));
    try {
      const file = path.join(dir, 'evil-c2');
      fs.copyFileSync('/bin/sh', file);
      const rec = record(file, { startTicks: 1 });
      const kernelNames = names(file);
      fs.rmSync(file);
      const a = attributor();
      const p = await a.resolve(rec, { names: kernelNames, namesCut: false });
      assert.equal(p.exe, file);
      assert.equal(p.exeUnverified, true);
      const cut = await a.resolve(rec, { names: kernelNames, namesCut: true });
      assert.equal(cut.exe, undefined, 'a name cut at BPFTRACE_STRLEN is not used');
      const lost = await a.resolve({ ...rec, pathNames: kernelNames.length + 1 }, { names: kernelNames, namesCut: false });
      assert.equal(lost.exe, undefined, 'P lines lost: no path from the rest');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a command line cut by the kernel is completed from /proc while the image is the same, else flagged', async () => {
    const head = { argv: argv.slice(0, 1), truncated: true };
    const a = attributor();
    const p = await a.resolve(record(self), { names: names(self), namesCut: false, argv: head });
    assert.deepEqual(p.argv, argv);
    assert.ok(p.readLater?.includes('argv'));
    assert.equal(p.argvTruncated, undefined);
    const gone = await a.resolve(record(self, { startTicks: 1 }), { names: names(self), namesCut: false, argv: head });
    assert.deepEqual(gone.argv, argv.slice(0, 1));
    assert.equal(gone.argvTruncated, true);
    const forged = await a.resolve(record(self), { names: names(self), namesCut: false, argv: { argv: ['not-the-start'], truncated: true } });
    assert.equal(forged.argvTruncated, true, '/proc that does not begin with the captured bytes (setproctitle) is not taken');
  });

  it('sheds load: beyond maxConcurrent a connect is resolved from kernel facts alone, and counted', async () => {
    const a = attributor(0);
    const p = await a.resolve(record(self), { names: names(self), namesCut: false, argv: { argv, truncated: false } });
    assert.equal(a.counts.shed, 1);
    assert.equal(p.exe, self, 'the path names and a stat still name the file');
    assert.equal(p.parentExe, undefined, 'no /proc reads');
  });
});
