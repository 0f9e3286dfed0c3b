import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { type ExecResult, LSOF_ARGS, locateTool, type LsofDeps, LsofReader, type ProcessFacts } from '../../../../platform/unix/lsof/read';
import { LsofSource } from '../../../../platform/unix/lsof/source';
import type { ConnectionEvent } from '../../../../src/core/types';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'unix', 'lsof');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

interface Call { file: string; args: readonly string[]; env: NodeJS.ProcessEnv }

/** Injected tool runner: answers lsof and ps from fixture bytes and records every call. */
function fakeDeps(opts: { lsof: ExecResult | (() => Promise<ExecResult>); ps?: (pids: number[]) => ExecResult; root?: boolean; facts?: Record<number, ProcessFacts> }) {
  const calls: Call[] = [];
  const deps: LsofDeps = {
    async run(file, args, env) {
      calls.push({ file, args, env });
      if (file === '/usr/sbin/lsof') return typeof opts.lsof === 'function' ? opts.lsof() : opts.lsof;
      const pids = (args[args.length - 1] as string).split(',').map(Number);
      return opts.ps ? opts.ps(pids) : { code: 1, stdout: Buffer.alloc(0), stderr: '' };
    },
    now: () => new Date('2026-01-02T03:04:05.000Z'),
    isRoot: () => opts.root ?? true,
  };
  if (opts.facts) {
    const facts = opts.facts;
    deps.processFacts = async (pid) => facts[pid] ?? null;
  }
  return { deps, calls };
}

const ok = (stdout: Buffer | string): ExecResult => ({ code: 0, stdout: Buffer.isBuffer(stdout) ? stdout : Buffer.from(stdout), stderr: '' });
const PUBSUB = new Set([1883, 8883, 5222, 5223, 61613, 61614, 5671, 5672]);
const external = (ip: string) => !/^(10\.|127\.|::1$|fe80:)/.test(ip);
const options = { lsofPath: '/usr/sbin/lsof', psPath: '/bin/ps', isCandidate: (ip: string, port: number) => PUBSUB.has(port) && external(ip) };

function byRemote(events: ConnectionEvent[], remote: string): ConnectionEvent {
  const hits = events.filter((e) => `${e.destination.ip}:${e.destination.port}` === remote);
  assert.equal(hits.length, 1, `one event to ${remote}: ${JSON.stringify(hits)}`);
  return hits[0] as ConnectionEvent;
}

describe('LsofReader on the constructed macOS output', () => {
  const psOut = fixture('macos-documented/ps.out');

  test('runs lsof with the documented arguments, then ps for candidate owners only', async () => {
    const { deps, calls } = fakeDeps({ lsof: ok(fixture('macos-documented/lsof.out')), ps: () => ok(psOut) });
    const snap = await new LsofReader({ ...options, psLocale: 'en_US.UTF-8' }, deps).snapshot();
    assert.deepEqual(calls.map((c) => [c.file, c.args]), [
      ['/usr/sbin/lsof', LSOF_ARGS],
      ['/bin/ps', ['-ww', '-o', 'pid=,ppid=,args=', '-p', '90,412,5077']],
    ]);
    assert.deepEqual(LSOF_ARGS, ['-n', '-P', '-w', '-iTCP', '-iUDP', '-FpcRuLftdPnT0']);
    assert.equal(calls[0]?.env.LC_ALL, 'C', 'lsof escapes every non-ASCII byte in the C locale: lossless');
    assert.equal(calls[1]?.env.LC_ALL, 'en_US.UTF-8');
    assert.deepEqual(snap.connections.map((e) => `${e.process?.pid} ${e.transport} ${e.state} ${e.destination.ip}:${e.destination.port}`).sort(), [
      '412 tcp ESTABLISHED 198.51.100.7:8883',
      '412 tcp FIN_WAIT1 198.51.100.7:5222',
      '412 tcp SYN_SENT 2001:db8::7:1883',
      '5077 tcp ESTABLISHED 198.51.100.7:5223',
      '90 tcp ESTABLISHED 198.51.100.30:1883',
    ], 'not the listener, not the accepted inbound socket, not the CLOSED one, not port 443');
    assert.equal(snap.stats.candidates, 5);
  });

  test('process details: lsof name, uid and login; ps command line; no exe without a kernel source', async () => {
    const { deps } = fakeDeps({ lsof: ok(fixture('macos-documented/lsof.out')), ps: () => ok(psOut) });
    const snap = await new LsofReader(options, deps).snapshot();
    const e = byRemote(snap.connections, '198.51.100.7:8883');
    assert.deepEqual(e.process, {
      pid: 412, ppid: 1, name: 'Café Chat', uid: 501, user: 'alice', cmdline: '/Applications/Café Chat.app/Contents/MacOS/Café Chat --connect wss://198.51.100.7:8084/mqtt',
    });
    assert.equal(e.adapter, 'lsof');
    assert.equal(e.inode, undefined, 'a control block address is not an inode');
    assert.equal(byRemote(snap.connections, '198.51.100.30:1883').process?.name, 'evil\tname\\x41');
    assert.ok(snap.warnings.some((w) => w.code === 'exe-unknown'), JSON.stringify(snap.warnings));
  });

  test('the kernel supplement gives exe, exact argv and the parent executable', async () => {
    const facts: Record<number, ProcessFacts> = {
      412: { exe: '/Applications/Café Chat.app/Contents/MacOS/Café Chat' },
      5077: { exe: '/usr/bin/osascript', argv: ['osascript', '-e', 'do shell script "echo hi\nid"'] },
      1: { exe: '/sbin/launchd' },
    };
    const { deps } = fakeDeps({ lsof: ok(fixture('macos-documented/lsof.out')), ps: () => ok(psOut), facts });
    const snap = await new LsofReader(options, deps).snapshot();
    const cafe = byRemote(snap.connections, '198.51.100.7:8883').process;
    assert.equal(cafe?.exe, '/Applications/Café Chat.app/Contents/MacOS/Café Chat');
    assert.equal(cafe?.parentExe, '/sbin/launchd');
    const osa = byRemote(snap.connections, '198.51.100.7:5223').process;
    assert.deepEqual(osa?.argv, ['osascript', '-e', 'do shell script "echo hi\nid"']);
    assert.equal(osa?.cmdline, 'osascript -e do shell script "echo hi\nid"', 'argv from the kernel wins over ps');
    assert.equal(osa?.parentExe, '/Applications/Café Chat.app/Contents/MacOS/Café Chat');
    assert.ok(snap.warnings.some((w) => w.code === 'proc-exe-unreadable'), 'pid 90 has no exe: said, not swallowed');
  });

  test('non-candidate sockets to pub/sub ports are reported without a process (for the analyzer counts)', async () => {
    const { deps, calls } = fakeDeps({ lsof: ok(fixture('macos-documented/lsof.out')), ps: () => ok(psOut) });
    const snap = await new LsofReader({ ...options, isCandidate: () => false, isPubSubPort: (p) => PUBSUB.has(p) }, deps).snapshot();
    assert.equal(calls.length, 1, 'no candidates: no ps run');
    assert.equal(snap.connections.length, 5);
    assert.ok(snap.connections.every((e) => e.process === undefined));
  });
});

describe('LsofReader on real Linux output', () => {
  test('a socket shared after fork goes to the child, every holder listed; inode from the device field', async () => {
    // ps -p prints only the pids asked for: keep those lines of the captured output.
    const psLines = fixture('linux-live/ps.out').toString('utf8').split('\n');
    const ps = (pids: number[]) => ok(psLines.filter((l) => pids.includes(Number(l.trim().split(' ')[0]))).join('\n'));
    const { deps, calls } = fakeDeps({ lsof: ok(fixture('linux-live/lsof.out')), ps });
    const snap = await new LsofReader({ ...options, isCandidate: (_ip, port) => port === 54571 || port === 1883 || port === 8883 }, deps).snapshot();
    assert.deepEqual(calls[1]?.args, ['-ww', '-o', 'pid=,ppid=,args=', '-p', '3001,3002,3003'], 'every holder is described');
    const shared = byRemote(snap.connections, '127.0.0.1:54571');
    assert.equal(shared.process?.pid, 3003, 'the forked child');
    assert.deepEqual(shared.holders?.map((h) => h.pid), [3002, 3003], 'the parent still holds it too: the analyzer approves it only if it approves both');
    assert.equal(shared.inode, 451059);
    const udp6 = byRemote(snap.connections, '2001:db8::7:8883');
    assert.deepEqual([udp6.transport, udp6.family, udp6.state, udp6.process?.name], ['udp', 6, 'ESTABLISHED', 'my app é']);
    assert.match(udp6.process?.cmdline ?? '', /--url=ws:\/\/198\.51\.100\.7:8083\/mqtt$/);
    assert.equal(snap.connections.length, 3, 'the accepted socket on a listening port is inbound');
  });
});

describe('LsofReader when things go wrong', () => {
  const one = 'p700\0R1\0cgood\0u0\0Lroot\0\nf7\0tIPv4\0d9\0PTCP\0n10.0.0.5:5->198.51.100.7:1883\0TST=ESTABLISHED\0\n';

  test('exit 1 with nothing printed is an empty table, not an error', async () => {
    const { deps } = fakeDeps({ lsof: { code: 1, stdout: Buffer.alloc(0), stderr: '' } });
    const snap = await new LsofReader(options, deps).snapshot();
    assert.deepEqual(snap.connections, []);
    assert.deepEqual(snap.warnings, []);
  });

  test('a failing lsof with no output throws; with output it is a partial result, said in warnings', async () => {
    const failed = fakeDeps({ lsof: { code: 1, stdout: Buffer.alloc(0), stderr: 'lsof: status error on /proc: Permission denied\n' } });
    await assert.rejects(new LsofReader(options, failed.deps).snapshot(), /lsof failed \(exit 1\): lsof: status error on \/proc: Permission denied/);
    const partial = fakeDeps({ lsof: { code: 1, stdout: Buffer.from(one), stderr: 'lsof: some error\n' }, ps: () => ok('  700     1 client\n') });
    const snap = await new LsofReader(options, partial.deps).snapshot();
    assert.equal(snap.connections.length, 1);
    assert.ok(snap.warnings.some((w) => w.code === 'lsof-partial'));
  });

  test('a timed-out lsof rejects', async () => {
    const { deps } = fakeDeps({ lsof: () => Promise.reject(new Error('lsof did not run to completion: killed after 60000 ms')) });
    await assert.rejects(new LsofReader(options, deps).snapshot(), /killed after/);
  });

  test('pid reuse between lsof and ps (the parent differs): the command line is left out', async () => {
    const { deps } = fakeDeps({ lsof: ok(one), ps: () => ok('  700   999 /usr/bin/somebody-else\n') });
    const snap = await new LsofReader(options, deps).snapshot();
    assert.equal(snap.connections[0]?.process?.cmdline, undefined);
    assert.equal(snap.connections[0]?.process?.name, 'good');
    assert.ok(snap.warnings.some((w) => w.code === 'pid-reused'));
  });

  test('an owner that exited before ps, an ambiguous ps row, not root: all said', async () => {
    const gone = fakeDeps({ lsof: ok(one), root: false });
    const snap = await new LsofReader(options, gone.deps).snapshot();
    assert.deepEqual(snap.warnings.map((w) => w.code).sort(), ['exe-unknown', 'not-root', 'proc-vanished']);
    const forged = fakeDeps({ lsof: ok(one), ps: () => ok('  700     1 a\n  700     1 b\n') });
    const snap2 = await new LsofReader(options, forged.deps).snapshot();
    assert.ok(snap2.warnings.some((w) => w.code === 'ps-ambiguous'));
    assert.equal(snap2.connections[0]?.process?.cmdline, undefined);
  });

  test('ps is asked in batches of 256 pids', async () => {
    let lsof = '';
    for (let pid = 1000; pid < 1300; pid++) lsof += `p${pid}\0R1\0cx\0u0\0\nf3\0tIPv4\0d${pid}\0PTCP\0n10.0.0.5:${pid}->198.51.100.7:1883\0TST=ESTABLISHED\0\n`;
    const { deps, calls } = fakeDeps({ lsof: ok(lsof), ps: (pids) => ok(pids.map((p) => `${p} 1 x`).join('\n')) });
    const snap = await new LsofReader(options, deps).snapshot();
    assert.deepEqual(calls.slice(1).map((c) => (c.args[4] as string).split(',').length), [256, 44]);
    assert.equal(snap.connections.length, 300);
  });

  test('locateTool takes the first executable candidate', () => {
    assert.equal(locateTool(['/nonexistent/lsof', '/also/not'], () => false), null);
    assert.equal(locateTool(['/a/lsof', '/b/lsof'], (p) => p === '/b/lsof'), '/b/lsof');
  });
});

describe('LsofSource', () => {
  test('start() emits each socket once per lifetime; close() stops polling', async () => {
    let round = 0;
    const rounds = [
      'p700\0R1\0cgood\0u0\0\nf7\0tIPv4\0d9\0PTCP\0n10.0.0.5:5->198.51.100.7:1883\0TST=ESTABLISHED\0\n',
      'p700\0R1\0cgood\0u0\0\nf7\0tIPv4\0d9\0PTCP\0n10.0.0.5:5->198.51.100.7:1883\0TST=ESTABLISHED\0\nf8\0tIPv4\0d10\0PTCP\0n10.0.0.5:6->198.51.100.7:8883\0TST=ESTABLISHED\0\n',
    ];
    const { deps } = fakeDeps({ lsof: async () => ok(rounds[Math.min(round++, 1)] as string), ps: () => ok('  700     1 client\n') });
    const source = new LsofSource(options, deps, 10);
    const seen: string[] = [];
    await source.start((e) => seen.push(`${e.destination.port}`));
    while (round < 4) await new Promise((r) => setTimeout(r, 5));
    await source.close();
    const after = round;
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(seen, ['1883', '8883']);
    assert.equal(round, after, 'no poll after close()');
  });
});
