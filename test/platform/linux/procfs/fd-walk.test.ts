import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { nativeFdWalkAvailable, socketInodesIn } from '../../../../platform/linux/procfs/fd-walk';
import { socketInode } from '../../../../platform/linux/procfs/parse';
import { type ProcfsDeps, ProcfsReader, realProcfsDeps } from '../../../../platform/linux/procfs/read';
import { materializeProctree } from '../../../fixtures/linux/materialize-proctree';
import { needs } from '../../../control/needs';

const onLinux = process.platform === 'linux' ? null : 'the fd walk reads Linux /proc';

/** The same walk with fs: readdir, then readlink each descriptor. */
function fsWalk(fdDir: string): number[] {
  const out: number[] = [];
  for (const fd of fs.readdirSync(fdDir)) {
    let link: string;
    try {
      link = fs.readlinkSync(`${fdDir}/${fd}`);
    } catch {
      continue;
    }
    const inode = socketInode(link);
    if (inode !== null) out.push(inode);
  }
  return out;
}

let server: net.Server;
const clients: net.Socket[] = [];
before(async () => {
  if (process.platform !== 'linux') return;
  server = net.createServer((s) => clients.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < 20; i++) {
    const c = net.connect(port, '127.0.0.1');
    clients.push(c);
    await new Promise((r) => c.once('connect', r));
  }
});
after(() => {
  for (const c of clients) c.destroy();
  server?.close();
});

test('the native walk finds exactly the sockets fs finds, in a live process holding 41 of them', (t) => {
  if (!needs(t, [onLinux])) return;
  assert.ok(nativeFdWalkAvailable(), 'koffi and libc getdents64/readlinkat load on Linux');
  const dir = `/proc/${process.pid}/fd`;
  const native = socketInodesIn(dir).sort((a, b) => a - b);
  const viaFs = fsWalk(dir).sort((a, b) => a - b);
  assert.deepEqual(native, viaFs);
  // The 20 client sockets, the 20 accepted ones and the listener, at least (the test runner has its own).
  const mine = [server, ...clients].map((s) => ((s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1));
  const mineInodes = mine.filter((fd) => fd >= 0).map((fd) => socketInode(fs.readlinkSync(`${dir}/${fd}`)));
  assert.equal(mineInodes.length, 41);
  for (const inode of mineInodes) assert.ok(native.includes(inode as number), `socket:[${inode}] found`);
});

test('a folder that cannot be opened throws with the fs code the reader maps (a vanished process)', (t) => {
  if (!needs(t, [onLinux])) return;
  assert.throws(() => socketInodesIn('/proc/0/fd'), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && /\/proc\/0\/fd/.test(err.message));
  // A symbolic link is not followed as the folder (O_NOFOLLOW): it fails like a missing folder would.
  const link = fs.mkdtempSync('/tmp/bw-fdwalk-');
  try {
    fs.symlinkSync(`/proc/${process.pid}/fd`, `${link}/fd`);
    assert.throws(() => socketInodesIn(`${link}/fd`), (err: NodeJS.ErrnoException) => typeof err.code === 'string' && err.code !== 'ENOENT');
  } finally {
    fs.rmSync(link, { recursive: true, force: true });
  }
});

test('the reader attributes the same sockets to the same processes with either walk (captured tree)', async (t) => {
  if (!needs(t, [onLinux])) return;
  const tree = materializeProctree();
  try {
    const now = () => new Date('2026-11-22T05:43:12.000Z');
    const fsDeps: ProcfsDeps = { ...realProcfsDeps, now };
    const nativeDeps: ProcfsDeps = { ...fsDeps, socketInodes: socketInodesIn };
    const opts = { procRoot: tree.root, etcRoot: tree.etc, isCandidate: () => true };
    const a = await new ProcfsReader(opts, fsDeps).snapshot();
    const b = await new ProcfsReader(opts, nativeDeps).snapshot();
    const owners = (s: typeof a) => s.connections.map((c) => `${c.inode} ${c.process?.pid} ${(c.holders ?? []).map((h) => h.pid).join(',')}`).sort();
    assert.ok(a.connections.some((c) => c.process !== undefined), 'the tree has attributed sockets');
    assert.deepEqual(owners(b), owners(a));
    assert.equal(b.stats.fdWalks, a.stats.fdWalks);
  } finally {
    tree.cleanup();
  }
});
