import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isCandidate } from '../../../../src/analyzer/judge';
import { compileRules } from '../../../../src/analyzer/rules';
import { loadConfig } from '../../../../src/config/load';
import type { ConnectionEvent, Snapshot } from '../../../../src/core/types';
import { parseProcNet } from '../../../../platform/linux/procfs/parse';
import { type ProcfsDeps, ProcfsReader, realProcfsDeps } from '../../../../platform/linux/procfs/read';
import { socketKey } from '../../../../platform/linux/procfs/source';
import { materializeProctree, type Proctree, readCapture } from '../../../fixtures/linux/materialize-proctree';

const NOW = new Date('2026-11-22T05:43:12.000Z');
const rules = compileRules(loadConfig().config, { platform: 'linux' });
const shippedCandidate = (ip: string, port: number) => isCandidate(ip, port, rules);
const fixedClock: ProcfsDeps = { ...realProcfsDeps, now: () => NOW };

function reader(tree: Proctree, candidate = shippedCandidate, deps: ProcfsDeps = fixedClock): ProcfsReader {
  return new ProcfsReader({ procRoot: tree.root, etcRoot: tree.etc, isCandidate: candidate }, deps);
}

function rowCount(dir: string): number {
  let n = 0;
  for (const f of ['tcp', 'tcp6', 'udp', 'udp6']) {
    n += parseProcNet(fs.readFileSync(path.join(dir, f), 'utf8'), f.startsWith('tcp') ? 'tcp' : 'udp', f.endsWith('6') ? 6 : 4).rows.length;
  }
  return n;
}

const dest = (e: ConnectionEvent) => `${e.destination.ip.includes(':') ? `[${e.destination.ip}]` : e.destination.ip}:${e.destination.port}`;

describe('ProcfsReader on the captured two-namespace tree', () => {
  let tree: Proctree;
  let snap: Snapshot;
  before(async () => {
    tree = materializeProctree();
    snap = await reader(tree).snapshot();
  });
  after(() => tree.cleanup());

  test('reads each network namespace once, through one representative process', () => {
    assert.equal(snap.stats.namespaces, 2);
    const expected = rowCount(path.join(tree.root, String(tree.pidOf('client:a b) c')), 'net'))
      + rowCount(path.join(tree.root, String(tree.pidOf('broker:python')), 'net'));
    assert.equal(snap.stats.sockets, expected, 'not once per process: 8 processes share 2 namespaces');
    const netns = new Set(snap.connections.map((c) => c.netns));
    assert.deepEqual([...netns], [tree.capture.links[`${tree.pidOf('client:a b) c')}/ns/net`]], 'only the client namespace has outbound candidates');
  });

  test('candidates are the outbound pub/sub sockets to external brokers, in every state that has a peer', () => {
    const got = snap.connections.map((c) => `${c.transport} ${dest(c)} ${c.state}`).sort();
    assert.deepEqual(got, [
      'tcp 198.51.100.200:5222 SYN_SENT',
      'tcp 198.51.100.7:1883 ESTABLISHED',
      'tcp 198.51.100.7:1883 ESTABLISHED',
      'tcp 198.51.100.7:1883 TIME_WAIT',
      'tcp 198.51.100.7:5222 ESTABLISHED',
      'tcp 198.51.100.7:5671 FIN_WAIT2',
      'tcp 198.51.100.7:5672 ESTABLISHED',
      'tcp 198.51.100.7:5672 SYN_SENT',
      'tcp 198.51.100.7:61613 CLOSE_WAIT',
      'tcp 198.51.100.7:61614 ESTABLISHED',
      'tcp 198.51.100.7:8883 ESTABLISHED',
      'tcp 198.51.100.8:5671 FIN_WAIT1',
      'tcp 198.51.100.8:61613 LAST_ACK',
      'tcp [2001:db8::7]:1883 ESTABLISHED',
      'tcp [2001:db8::7]:5222 ESTABLISHED',
      'tcp [2001:db8::7]:5222 TIME_WAIT',
      'tcp [2001:db8:dead::1]:1883 SYN_SENT',
      'udp 198.51.100.7:1883 ESTABLISHED',
    ]);
    assert.equal(snap.stats.candidates, got.length);
    // Not candidates: loopback, internal 10.1.2.3, accepted (inbound) sockets, LISTEN, unconnected UDP, CoAP 5683.
    assert.ok(!snap.connections.some((c) => ['127.0.0.1', '10.1.2.3', '0.0.0.0', '::'].includes(c.destination.ip)));
    assert.ok(snap.connections.every((c) => c.time === NOW.toISOString() && c.adapter === 'procfs'));
  });

  test('attribution through /proc/<pid>/fd socket:[inode] links, with argv, user and start time', () => {
    const sub = snap.connections.find((c) => c.process?.exe === '/usr/bin/mosquitto_sub');
    assert.ok(sub);
    assert.equal(sub.process?.pid, tree.pidOf('client:mosquitto_sub'));
    assert.deepEqual(sub.process?.argv, ['/usr/bin/mosquitto_sub', '-h', '198.51.100.7', '-p', '1883', '-t', 'c2/commands/#']);
    assert.equal(sub.process?.cmdline, '/usr/bin/mosquitto_sub -h 198.51.100.7 -p 1883 -t c2/commands/#');
    assert.equal(sub.process?.user, 'root');
    assert.equal(sub.process?.uid, 0);
    assert.equal(sub.process?.name, 'mosquitto_sub');

    const odd = snap.connections.filter((c) => c.process?.pid === tree.pidOf('client:a b) c'));
    assert.equal(odd.length, 10, 'the python client holds ten candidate sockets');
    const p = odd[0]?.process;
    assert.equal(p?.name, 'a b) c');
    assert.equal(p?.exe, '/tmp/bwu-capture/a b) c');
    assert.equal(p?.ppid, 12390);
    // btime 1795325365 + 82286 ticks / 100
    assert.equal(p?.startTime, new Date((1795325365 + 822.86) * 1000).toISOString());
    assert.equal(p?.parentExe, undefined, 'the parent was not captured');

    const pub = snap.connections.find((c) => c.destination.ip === '2001:db8::7' && c.destination.port === 1883);
    assert.equal(pub?.process?.pid, tree.pidOf('client:mosquitto_pub'));
    const mapped = snap.connections.find((c) => c.destination.port === 8883);
    assert.equal(mapped?.family, 6, 'the IPv4-mapped connection came from tcp6');
    assert.equal(mapped?.process?.pid, tree.pidOf('client:a b) c'));
  });

  test('an exe link ending in " (deleted)" and a name the process chose itself', () => {
    const implant = snap.connections.find((c) => c.destination.port === 61614);
    assert.equal(implant?.process?.exe, '/tmp/bwu-capture/implant');
    assert.equal(implant?.process?.exeDeleted, true);
    assert.equal(implant?.process?.name, 'kworker/0:1');
    assert.equal(snap.connections.filter((c) => c.process?.exeDeleted).length, 1);
  });

  test('TIME_WAIT and LAST_ACK sockets (inode 0) stay unattributed without a warning', () => {
    const orphans = snap.connections.filter((c) => c.inode === 0);
    assert.deepEqual(orphans.map((c) => c.state).sort(), ['LAST_ACK', 'TIME_WAIT', 'TIME_WAIT']);
    assert.ok(orphans.every((c) => c.process === undefined));
  });

  test('a process that vanished between the fd walk and reading its details: warning, no process, no crash', () => {
    const nc = snap.connections.find((c) => c.destination.ip === '198.51.100.7' && c.destination.port === 5222);
    assert.ok(nc, 'the socket is still reported');
    assert.equal(nc.process, undefined);
    const inode = Number(/\d+/.exec(tree.capture.links[`${tree.pidOf('client:nc')}/fd/3`] as string)?.[0]);
    assert.equal(nc.inode, inode);
    assert.deepEqual(snap.warnings, [{ code: 'socket-unowned', message: 'a socket owner exited while it was being read; the connection is reported without its process', count: 1 }]);
    assert.equal(snap.stats.unattributed, 4, 'two TIME_WAIT, one LAST_ACK, the vanished nc');
  });

  test('fd walks happen once per process; details are read only for socket holders', () => {
    assert.equal(snap.stats.fdWalks, 8);
    assert.equal(snap.stats.processesRead, 6, 'a b) c, mosquitto_sub, two mosquitto_pub, implant, and the vanished nc');
  });

  test('socketKey tells the sockets apart', () => {
    assert.equal(new Set(snap.connections.map(socketKey)).size, snap.connections.length);
  });
});

describe('ProcfsReader does no fd walk without candidates', () => {
  test('nothing is a candidate: only /proc/net is read', async () => {
    const tree = materializeProctree();
    try {
      const snap = await reader(tree, () => false).snapshot();
      assert.equal(snap.stats.candidates, 0);
      assert.equal(snap.stats.fdWalks, 0);
      assert.equal(snap.stats.processesRead, 0);
      assert.ok((snap.stats.sockets as number) > 40);
      assert.deepEqual(snap.connections, []);
      assert.deepEqual(snap.warnings, []);
    } finally {
      tree.cleanup();
    }
  });

  test('a broker-only namespace: every socket is inbound, so no candidate and no fd walk', async () => {
    const tree = materializeProctree();
    const brokerOnly = materializeProctree({ pids: [tree.pidOf('broker:mosquitto'), tree.pidOf('broker:python')] });
    tree.cleanup();
    try {
      const snap = await reader(brokerOnly).snapshot();
      assert.equal(snap.stats.namespaces, 1);
      assert.ok((snap.stats.sockets as number) >= 20);
      assert.equal(snap.stats.candidates, 0);
      assert.equal(snap.stats.fdWalks, 0);
    } finally {
      brokerOnly.cleanup();
    }
  });

  test('with includeLoopback the outbound loopback connections become candidates and are attributed', async () => {
    const loopRules = compileRules(loadConfig().config, { platform: 'linux', includeLoopback: true });
    const tree = materializeProctree();
    try {
      const snap = await reader(tree, (ip, port) => isCandidate(ip, port, loopRules)).snapshot();
      const loop = snap.connections.filter((c) => c.destination.ip === '127.0.0.1');
      assert.equal(loop.length, 2, 'IPv4 and IPv4-mapped connections to 127.0.0.1:1883; the accepted sides are inbound');
      assert.ok(loop.every((c) => c.process?.pid === tree.pidOf('client:a b) c')));
      assert.ok((snap.stats.fdWalks as number) > 0);
    } finally {
      tree.cleanup();
    }
  });
});

describe('ProcfsReader when processes disappear or are unreadable', () => {
  test('a representative whose tables vanished: its namespace is read through another member', async () => {
    const tree = materializeProctree();
    try {
      for (const role of ['broker:mosquitto', 'client:a b) c', 'client:mosquitto_sub']) fs.rmSync(path.join(tree.root, String(tree.pidOf(role)), 'net'), { recursive: true });
      const full = materializeProctree();
      const reference = await reader(full).snapshot();
      full.cleanup();
      const snap = await reader(tree).snapshot();
      assert.equal(snap.stats.namespaces, 2);
      assert.equal(snap.stats.sockets, reference.stats.sockets);
      assert.equal(snap.connections.length, reference.connections.length);
    } finally {
      tree.cleanup();
    }
  });

  test('a pid folder that is empty (the process is gone entirely) is skipped quietly', async () => {
    const tree = materializeProctree();
    try {
      fs.mkdirSync(path.join(tree.root, '99999'));
      const snap = await reader(tree).snapshot();
      assert.equal(snap.stats.namespaces, 2);
      assert.equal(snap.stats.fdWalks, 8, 'the empty pid has no fd folder to walk');
      assert.deepEqual(snap.warnings.map((w) => w.code), ['socket-unowned']);
    } finally {
      tree.cleanup();
    }
  });

  test('EACCES on /proc/<pid>/fd is a warning and the socket stays unowned', async () => {
    const tree = materializeProctree();
    try {
      const blocked = path.join(tree.root, String(tree.pidOf('client:implant')), 'fd');
      const deps: ProcfsDeps = {
        ...fixedClock,
        readdir: async (p) => {
          if (p === blocked) throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
          return realProcfsDeps.readdir(p);
        },
        // The fd walk uses the synchronous call where the deps give one: deny it there too.
        readdirSync: (p) => {
          if (p === blocked) throw Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
          return (realProcfsDeps.readdirSync as (p: string) => string[])(p);
        },
      };
      const snap = await reader(tree, shippedCandidate, deps).snapshot();
      const implant = snap.connections.find((c) => c.destination.port === 61614);
      assert.equal(implant?.process, undefined);
      const codes = snap.warnings.map((w) => w.code).sort();
      assert.deepEqual(codes, ['proc-eacces', 'socket-unowned', 'socket-unowned']);
      assert.ok(snap.warnings.some((w) => w.code === 'socket-unowned' && /no readable process holds/.test(w.message)));
      assert.equal(snap.stats.fdWalks, 7);
    } finally {
      tree.cleanup();
    }
  });

  test('a malformed table line is a warning, the rest of the table is used', async () => {
    const tree = materializeProctree();
    try {
      for (const entry of fs.readdirSync(tree.root).filter((n) => /^\d+$/.test(n))) {
        const file = path.join(tree.root, entry, 'net', 'udp');
        if (fs.existsSync(file)) fs.appendFileSync(file, '   99: 0164ZZC6:DD8D 076433C6:075B 01 00000000:00000000 00:00000000 00000000 0 0 1 2 0 0\n');
      }
      const snap = await reader(tree).snapshot();
      const malformed = snap.warnings.filter((w) => w.code === 'parse-malformed-line');
      assert.equal(malformed.length, 2, 'one per namespace');
      assert.ok(malformed.every((w) => /^udp \(net:\[\d+\]\): line \d+: malformed address field$/.test(w.message)));
      assert.ok(snap.connections.some((c) => c.transport === 'udp'), 'the good UDP row is still there');
    } finally {
      tree.cleanup();
    }
  });

  test('no namespace links readable at all: falls back to <procRoot>/net', async () => {
    const tree = materializeProctree({ self: readCapture().roles['client:a b) c'] as number });
    try {
      for (const entry of fs.readdirSync(tree.root).filter((n) => /^\d+$/.test(n))) fs.rmSync(path.join(tree.root, entry, 'ns'), { recursive: true, force: true });
      const snap = await reader(tree).snapshot();
      assert.equal(snap.stats.namespaces, 1);
      assert.ok(snap.connections.every((c) => c.netns === 'net:[self]'));
      assert.equal(snap.connections.length, 18);
    } finally {
      tree.cleanup();
    }
  });
});
