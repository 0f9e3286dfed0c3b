import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  type ArgvRecord, type BpftraceRecord, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, classifyStderr, type ConnectRecord, connectEvent, decodeArgv, decodeBpftraceText,
  hasCap, LineSplitter, parseBpftraceLine, parseBpftraceVersion, parseCapEff, parseKernelRelease, type PathRecord,
} from '../../../../platform/linux/ebpf/parse';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'linux', 'ebpf');
const fixture = (...p: string[]) => fs.readFileSync(path.join(FIXTURES, ...p), 'utf8');
const lines = (text: string) => text.split('\n').slice(0, -1);
const parseAll = (text: string) => lines(text).map((l) => parseBpftraceLine(l));
const ofKind = <K extends BpftraceRecord['kind']>(recs: BpftraceRecord[], kind: K) => recs.filter((r): r is Extract<BpftraceRecord, { kind: K }> => r.kind === kind);

type Argv = { argv: string[]; truncated: boolean };

/** The P names (leaf first) and the argv of the A and B lines that came before each C line, by position. */
function withParts(recs: BpftraceRecord[]): { c: ConnectRecord; names: string[]; argv?: Argv }[] {
  const out: { c: ConnectRecord; names: string[]; argv?: Argv }[] = [];
  let names: string[] = [];
  let a: ArgvRecord | undefined;
  for (const r of recs) {
    if (r.kind === 'path') names.push(r.name);
    else if (r.kind === 'argv') a = { ...r, words: [...r.words] };
    else if (r.kind === 'argv-more') a?.words.push(...r.words);
    else if (r.kind === 'connect') {
      out.push({ c: r, names, ...(a ? { argv: decodeArgv(a.length, a.tail, a.words) } : {}) });
      names = [];
      a = undefined;
    }
  }
  return out;
}

describe('parseBpftraceLine on captured output: basic', () => {
  const recs = parseAll(fixture('basic', 'stdout.jsonl'));

  it('reads every line, with nothing malformed', () => {
    assert.deepEqual(ofKind(recs, 'malformed'), []);
    assert.deepEqual(ofKind(recs, 'attached'), [{ kind: 'attached', probes: 5 }]);
    assert.deepEqual(ofKind(recs, 'ready'), [{ kind: 'ready', version: 2 }]);
    assert.equal(ofKind(recs, 'blank').length, 2, 'the two empty lines bpftrace prints at exit');
    assert.equal(ofKind(recs, 'connect').length, 6);
    assert.equal(ofKind(recs, 'syn-left').length, 6);
    assert.deepEqual(ofKind(recs, 'loopback'), [{ kind: 'loopback', total: 0 }, { kind: 'loopback', total: 0 }], 'rendered with loopback reported: nothing counted');
  });

  it('gives each connect the identity of its process at the connect: path names, argv, start, inode', () => {
    const got = withParts(recs);
    assert.deepEqual(got.map((g) => [g.c.comm, g.names, g.c.pathNames, g.c.pathComplete]), [
      ['nc', ['nc.openbsd', 'bin', 'usr'], 3, true],
      ['nc', ['nc.openbsd', 'bin', 'usr'], 3, true],
      ['nc', ['nc.openbsd', 'bin', 'usr'], 3, true],
      ['python3', ['python3.11', 'bin', 'usr'], 3, true],
      ['python3', ['python3.11', 'bin', 'usr'], 3, true],
      ['evil-c2', ['evil-c2', got[5]?.names[1] as string, 'tmp'], 3, true],
    ]);
    assert.match(got[5]?.names[1] as string, /^bw-cap-/);
    assert.deepEqual(got.slice(0, 3).map((g) => g.argv?.argv), [
      ['/usr/bin/nc', '-z', '127.0.0.1', '47001'], ['/usr/bin/nc', '-z', '::1', '47001'], ['/usr/bin/nc', '-z', '127.0.0.1', '47002'],
    ]);
    assert.deepEqual(got[5]?.argv?.argv.slice(1, 2), ['-c']);
    assert.equal(got[5]?.argv?.truncated, false);
    const [v4] = got.map((g) => g.c);
    assert.deepEqual(v4, {
      kind: 'connect', pid: 6287, ppid: 6286, uid: 0, family: 4, saddr: '127.0.0.1', sport: 0, daddr: '127.0.0.1', dport: 47001,
      netns: 4026531833, sk: (v4 as ConnectRecord).sk, startTicks: 94622, exeDev: 266338304, exeIno: 2170966, exeNlink: 1,
      pathNames: 3, pathComplete: true, comm: 'nc',
    });
    assert.equal(got[3]?.c.startTicks, got[4]?.c.startTicks, 'the same python3 process');
    assert.notEqual(got[5]?.c.exeIno, got[3]?.c.exeIno, 'the copy is another file');
  });

  it('decodes IPv4, IPv6 and IPv4-mapped connects with canonical addresses', () => {
    const [, v6, refused, mapped, bound] = ofKind(recs, 'connect');
    assert.equal(v6?.family, 6);
    assert.equal(v6?.daddr, '::1');
    assert.equal(refused?.dport, 47002);
    assert.equal(mapped?.family, 6, 'an AF_INET6 socket stays family 6');
    assert.equal(mapped?.daddr, '127.0.0.1', '::ffff:127.0.0.1 is unwrapped by canonicalIp');
    assert.equal(bound?.sport, 47555, 'a socket bound before connect has its port at SYN_SENT');
  });

  it('pairs each connect with the S line that carries its source port', () => {
    const connects = ofKind(recs, 'connect');
    const left = ofKind(recs, 'syn-left');
    assert.equal(connects[2]?.sk, connects[5]?.sk, 'the kernel reused the socket address for a later connect');
    assert.deepEqual(left.map((s) => s.newState), ['ESTABLISHED', 'ESTABLISHED', 'CLOSE', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED']);
    for (const [i, c] of connects.entries()) assert.equal(left[i]?.sk, c.sk);
    assert.equal(left[4]?.sport, 47555);
  });

  it('builds the ConnectionEvent', () => {
    const c = ofKind(recs, 'connect')[1] as ConnectRecord;
    const e = connectEvent(c, { time: '2026-01-01T00:00:00.000Z', sourcePort: 58124, process: { pid: c.pid, name: c.comm } });
    assert.deepEqual(e, {
      time: '2026-01-01T00:00:00.000Z', adapter: 'ebpf', transport: 'tcp', family: 6, state: 'SYN_SENT',
      source: { ip: '::1', port: 58124 }, destination: { ip: '::1', port: 47001 }, uid: 0, netns: 'net:[4026531833]',
      process: { pid: c.pid, name: 'nc' },
    });
  });
});

describe('parseBpftraceLine on captured output: hostile names', () => {
  const recs = parseAll(fixture('hostile-names', 'stdout.jsonl'));
  const got = withParts(recs);

  it('keeps one event per line whatever a name holds', () => {
    assert.deepEqual(ofKind(recs, 'malformed'), []);
    assert.equal(got.length, 18);
    assert.ok(got.every((g) => g.c.daddr === '127.0.0.1' && g.c.dport === 47001));
  });

  it('returns each comm as the bytes the kernel held, read as UTF-8', () => {
    assert.deepEqual(got.slice(0, 9).map((g) => g.c.comm), [
      'a b"c\\d\ne\tf', 'x\nC 1 1 0 4 1', '"}\n{"type":', '', ' ', 'été', Buffer.from([0xff, 0xfe, 0x80]).toString('utf8'), '%s%n%x', '0123456789abcde',
    ]);
  });

  it('returns path names whole, and flags the one cut at BPFTRACE_STRLEN', () => {
    const leaves = ofKind(recs, 'path').filter((p) => !['bin', 'usr', 'tmp', 'python3.11'].includes(p.name) && !p.name.startsWith('bw-cap-'));
    assert.deepEqual(leaves.slice(0, 4).map((p) => p.name), ['with space', 'new\nline', 'quote"back\\slash', 'été-☃']);
    assert.deepEqual(leaves.slice(0, 5).map((p) => p.cut), [false, false, false, false, true]);
    assert.equal(Buffer.byteLength((leaves[4] as PathRecord).name), 199);
  });

  it('returns argv exactly, whatever bytes the arguments hold (hex words, no escaping)', () => {
    const runs = got.filter((g) => g.c.comm === 't').map((g) => g.argv as Argv);
    const prefix = Buffer.byteLength(`${runs[0]?.argv.slice(0, 3).join('\0')}\0`);
    assert.deepEqual(runs.map((a) => [a.argv.slice(3), a.truncated]), [
      [['a b', '', 'new\nline', 'back\\slash\\x00', 'quote"', 'été'], false],
      [['\ufffd\ufffd', 'ok'], false],
      [['y'.repeat(250)], false], // 384 bytes are kept
      [['z'.repeat(384 - prefix)], true], // 500 z's, cut at 384 bytes
    ]);
  });

  it('reads argv of every length, on both byte orders, and nothing past its end', () => {
    for (let len = 8; len <= 400; len++) {
      const memory = Buffer.alloc(416, 0x42); // 0x42 stands for the environment after arg_end
      Buffer.from(`${'x'.repeat(len - 1)}\0`).copy(memory);
      for (const le of [true, false]) {
        const word = (off: number) => (le ? memory.readBigUInt64LE(off) : memory.readBigUInt64BE(off)).toString(16).padStart(16, '0');
        const words = Array.from({ length: 48 }, (_, i) => (len >= 8 * (i + 1) ? word(8 * i) : '0'.repeat(16)));
        const tail = len < 384 && len % 8 !== 0 ? word(len - 8) : '0'.repeat(16);
        const a = parseBpftraceLine(JSON.stringify({ type: 'printf', data: `A 0x1 ${len} ${tail} ${words.slice(0, 24).join(' ')}\n` }));
        const b = parseBpftraceLine(JSON.stringify({ type: 'printf', data: `B 0x1 ${words.slice(24).join(' ')}\n` }));
        assert.ok(a.kind === 'argv' && b.kind === 'argv-more');
        const expected = len <= 384 ? ['x'.repeat(len - 1)] : ['x'.repeat(384)];
        assert.deepEqual(decodeArgv(a.length, a.tail, [...a.words, ...b.words], le), { argv: expected, truncated: len > 384 }, `len ${len} ${le ? 'LE' : 'BE'}`);
        if (len > 192 && len <= 384) {
          assert.equal(decodeArgv(a.length, a.tail, a.words, le).truncated, true, 'the B line lost: cut at 192 bytes, and said');
        }
      }
    }
  });
});

describe('parseBpftraceLine: lost events, text mode, truncation, garbage', () => {
  it('counts lost events', () => {
    const recs = parseAll(fixture('lost-events', 'stdout.jsonl'));
    assert.deepEqual(ofKind(recs, 'malformed'), []);
    assert.equal(ofKind(recs, 'lost').reduce((n, r) => n + r.count, 0), 2780);
    assert.ok(ofKind(recs, 'connect').length > 0, 'events that survived are still read');
  });

  it('reads the in-kernel loopback count', () => {
    const recs = parseAll(fixture('loopback', 'stdout.jsonl'));
    assert.deepEqual(ofKind(recs, 'malformed'), []);
    assert.equal(ofKind(recs, 'connect').length + ofKind(recs, 'path').length + ofKind(recs, 'argv').length + ofKind(recs, 'argv-more').length + ofKind(recs, 'syn-left').length, 0);
    assert.deepEqual(ofKind(recs, 'loopback'), [{ kind: 'loopback', total: 300 }, { kind: 'loopback', total: 300 }]);
  });

  it('accepts the text banner and "Lost N events" but nothing else from text mode - no forged connect', () => {
    const recs = parseAll(fixture('text-mode', 'stdout.txt'));
    assert.deepEqual(ofKind(recs, 'attached'), [{ kind: 'attached', probes: 5 }]);
    assert.equal(ofKind(recs, 'lost').reduce((n, r) => n + r.count, 0), 1155);
    assert.equal(ofKind(recs, 'connect').length, 0);
    assert.ok(ofKind(recs, 'malformed').every((r) => r.reason === 'not a JSON line'));
  });

  it('reports a partial last line instead of inventing an event', () => {
    const text = fixture('truncated', 'stdout.jsonl');
    const splitter = new LineSplitter();
    const got: string[] = [];
    for (let i = 0; i < text.length; i += 7) got.push(...splitter.push(text.slice(i, i + 7)));
    const rest = splitter.end();
    assert.deepEqual(got, text.split('\n').slice(0, -1));
    assert.ok(rest !== null && !text.endsWith('\n'));
    assert.deepEqual(parseBpftraceLine(rest), { kind: 'malformed', reason: 'invalid JSON (a partial line?)' });
  });

  it('gives the same records whatever the chunking', () => {
    const text = fixture('hostile-names', 'stdout.jsonl');
    const whole = parseAll(text);
    const splitter = new LineSplitter();
    const chunked: BpftraceRecord[] = [];
    let at = 0;
    for (let size = 1; at < text.length; size = (size * 7) % 97 + 1) {
      chunked.push(...splitter.push(text.slice(at, at + size)).map((l) => parseBpftraceLine(l)));
      at += size;
    }
    assert.equal(splitter.end(), null);
    assert.deepEqual(chunked, whole);
  });

  it('drops an overlong line up to its newline and counts it', () => {
    const splitter = new LineSplitter(16);
    assert.deepEqual(splitter.push('ok\n' + 'x'.repeat(40)), ['ok']);
    assert.deepEqual(splitter.push('y'.repeat(40) + '\nnext\n'), ['next']);
    assert.equal(splitter.overlong, 1);
  });

  it('rejects garbage with a reason and never throws', () => {
    const cases: [string, string][] = [
      ['{"type": "printf", "data": 5}', 'printf without text'],
      ['{"type": "printf", "data": "C 1 2\\n"}', 'C line with too few fields'],
      ['{"type": "printf", "data": "C 1 2 0 4 999.1.1.1 0 1.1.1.1 80 1 0x1 1 1 1 1 1 1 x\\n"}', 'C line with a malformed number, family, address or socket field'],
      ['{"type": "printf", "data": "C 1 2 0 4 1.1.1.1 0 1.1.1.1 70000 1 0x1 1 1 1 1 1 1 x\\n"}', 'C line with a malformed number, family, address or socket field'],
      ['{"type": "printf", "data": "C 1 2 0 4 1.1.1.1 0 1.1.1.1 80 1 0x1 -5 1 1 1 1 1 x\\n"}', 'C line with a malformed number, family, address or socket field'],
      ['{"type": "printf", "data": "P nosk name\\n"}', 'malformed P line'],
      ['{"type": "printf", "data": "S 0x1 99 1 2\\n"}', 'malformed S line'],
      ['{"type": "printf", "data": "E 1 2 3 /usr/bin/x\\n"}', 'printf output that connect.bt does not produce'],
      ['{"type": "printf", "data": "hello\\n"}', 'printf output that connect.bt does not produce'],
      ['{"type": "lost_events", "data": {"events": -1}}', 'lost_events without a count'],
      ['{"data": 1}', 'JSON without a type'],
      ['{"type": "printf", "da', 'invalid JSON (a partial line?)'],
      ['\u0000\u0001garbage', 'not a JSON line'],
    ];
    for (const [line, reason] of cases) assert.deepEqual(parseBpftraceLine(line), { kind: 'malformed', reason }, line);
    assert.deepEqual(parseBpftraceLine('{"type": "map", "data": {"@x": {}}}'), { kind: 'other', type: 'map' });
    assert.deepEqual(parseBpftraceLine('{"type": "map", "data": {"@loopback": -3}}'), { kind: 'other', type: 'map' });
    assert.deepEqual(parseBpftraceLine('   '), { kind: 'blank' });
  });
});

describe('bpftrace helpers', () => {
  it('maps bpftrace 0.17 sign-extended escapes back to bytes, and leaves proper text alone', () => {
    assert.equal(decodeBpftraceText('\uffffffc3\uffffffa9t\uffffffc3\uffffffa9'), 'été');
    assert.equal(decodeBpftraceText('été ☃ 𝄞'), 'été ☃ 𝄞');
    assert.equal(decodeBpftraceText('plain'), 'plain');
  });

  it('classifies stderr lines of captured failures', () => {
    assert.deepEqual(lines(fixture('errors', 'no-tracefs.stderr.txt')).map(classifyStderr), ['memlock', 'error']);
    assert.deepEqual(lines(fixture('errors', 'not-root.stderr.txt')).map(classifyStderr), ['error']);
    assert.deepEqual(lines(fixture('basic', 'stderr.txt')).map(classifyStderr), ['memlock']);
  });

  it('reads versions and capabilities', () => {
    assert.equal(parseBpftraceVersion('bpftrace v0.17.0\n'), '0.17.0');
    assert.equal(parseBpftraceVersion('bpftrace v0.21.2-12-gabc'), '0.21.2');
    assert.deepEqual(parseKernelRelease('6.1.0-18-amd64'), [6, 1]);
    assert.equal(parseKernelRelease('weird'), null);
    const caps = parseCapEff('Name:\tx\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n') as bigint;
    assert.ok(hasCap(caps, CAP_SYS_ADMIN) && hasCap(caps, CAP_BPF) && hasCap(caps, CAP_PERFMON));
    assert.equal(hasCap(caps, 24), false, 'CAP_SYS_RESOURCE is the one bit missing in that set');
    assert.equal(parseCapEff('CapEff:\t0000000000000000\n'), 0n);
  });
});
