import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Episodes } from '../../../../platform/linux/ebpf/episodes';
import { candidatePaths, fsPath, kernelDev, parseMountinfo, sameFile, userDev } from '../../../../platform/linux/ebpf/identity';

const MOUNTS = parseMountinfo(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'fixtures', 'linux', 'mountinfo', 'mountinfo.txt'), 'utf8'));
const dev = (major: number, minor: number) => major * 2 ** 20 + minor; // the kernel's s_dev

describe('executable identity from kernel names', () => {
  it('parses every mountinfo line, unescaping mount points', () => {
    assert.equal(MOUNTS.length, 25);
    assert.deepEqual(MOUNTS.find((m) => m.root === '/sub'), { major: 0, minor: 41, root: '/sub', mountPoint: '/tmp/bw-mi/with space' });
    assert.deepEqual(parseMountinfo('garbage\n1 2 x:y / /\n3 4 8:1 relative /x\n'), []);
  });

  it('puts the names under every mount of their device that shows them, the later mounts first', () => {
    const inside = fsPath(['tool', 'bin', 'sub']); // leaf first, as the P lines come
    assert.equal(inside, '/sub/bin/tool');
    assert.deepEqual(candidatePaths(inside, dev(0, 41), MOUNTS), ['/tmp/bw-mi/with space/bin/tool', '/tmp/bw-mi/t/sub/bin/tool']);
    assert.deepEqual(candidatePaths('/other/x', dev(0, 41), MOUNTS), ['/tmp/bw-mi/t/other/x'], 'the bind mount of /sub does not show /other');
    assert.deepEqual(candidatePaths('/usr/bin/nc.openbsd', dev(254, 0), MOUNTS), ['/usr/bin/nc.openbsd']);
    assert.deepEqual(candidatePaths('/run/netns/x', dev(254, 0), MOUNTS), ['/run/netns/x']);
    assert.deepEqual(candidatePaths('/evil', dev(0, 44), MOUNTS), ['/tmp/bw-mi/stack/evil']);
    assert.deepEqual(candidatePaths('/evil', dev(9, 9), MOUNTS), [], 'a device no mount shows (a lazily unmounted one)');
  });

  it('compares stat() device numbers with the kernel encoding', () => {
    const st = fs.statSync('/');
    const { major, minor } = userDev(st.dev);
    assert.ok(sameFile({ dev: st.dev, ino: st.ino }, dev(major, minor), st.ino));
    assert.equal(sameFile({ dev: st.dev, ino: st.ino }, dev(major, minor), st.ino + 1), false);
    assert.deepEqual(kernelDev(266338304), { major: 254, minor: 0 });
    assert.deepEqual(userDev(65024), { major: 254, minor: 0 });
    assert.deepEqual(userDev(0x12345678), { major: 0x456, minor: 0x12378 }, 'glibc encoding: minor bits above 8 live at bit 20');
  });
});

describe('Episodes', () => {
  it('starts an episode after a quiet gap, not during a busy one', () => {
    const e = new Episodes(1000);
    assert.equal(e.starts('lost', 0), true);
    assert.equal(e.starts('lost', 500), false);
    assert.equal(e.starts('lost', 1400), false, 'still within 1 s of the previous one');
    assert.equal(e.starts('shed', 1400), true, 'kinds are separate');
    assert.equal(e.starts('lost', 2500), true);
    assert.equal(e.last('lost'), 2500);
  });
});
