import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { libsslPathsIn, mapsTlsLibrary, wireEvent } from '../../../../platform/linux/wire/event';
import { decodeHexBytes, hexAddress, parseWireLine, type WireRecord } from '../../../../platform/linux/wire/parse';
import { renderWireProgram, safeLibraryPath, wirePortFilter } from '../../../../platform/linux/wire/program';
import { wirePorts } from '../../../../platform/linux/wire/source';
import { DEFAULT_TRACKER, type WireConnection, WireTracker } from '../../../../platform/linux/wire/tracker';
import { loadConfig } from '../../../../src/config/load';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'linux', 'wire');
const WIRE_DIR = path.join(__dirname, '..', '..', '..', '..', 'platform', 'linux', 'wire');
const records = (name: string): WireRecord[] => fs.readFileSync(path.join(FIXTURES, name), 'utf8').split('\n').filter((l) => l !== '').map(parseWireLine);

function run(name: string, maxWrites = 16): WireConnection[] {
  const t = new WireTracker({ ...DEFAULT_TRACKER, maxWrites });
  return records(name).flatMap((r, i) => t.onRecord(r, 1000 + i * 100)).concat(t.drain());
}

describe('wire.bt output (captured)', () => {
  it('every line of the captures parses', () => {
    for (const f of ['tls-implant.jsonl', 'plain-ipv6.jsonl']) {
      const bad = records(f).filter((r) => r.kind === 'malformed');
      assert.deepEqual(bad, [], f);
    }
  });

  it('TLS implant: the plaintext of each SSL_write, the host name, the source port; MQTT with its topic, tls-plaintext', () => {
    const [conn, ...rest] = run('tls-implant.jsonl');
    assert.equal(rest.length, 0);
    assert.deepEqual([conn!.ip, conn!.port, conn!.comm, conn!.hostname, conn!.source], ['127.0.0.1', 56595, 'python3', 'localhost', { ip: '127.0.0.1', port: 55606 }]);
    assert.equal(conn!.plain.length, 7);
    assert.equal(conn!.tls.length, 5);
    const e = wireEvent(conn!, { time: '2026-11-29T07:00:00.000Z', tlsProbes: true, tlsLibraryMapped: true });
    assert.equal(e.inspection, 'tls-plaintext');
    assert.deepEqual([e.wire?.protocol, e.wire?.topics, e.wire?.publishCount], ['MQTT', ['c2/beacon/tls'], 3]);
    assert.equal(e.destination.hostname, 'localhost');
  });

  it('the same bytes without the plaintext: static TLS when no TLS library is mapped', () => {
    const [conn] = run('tls-implant.jsonl');
    conn!.tls = [];
    assert.equal(wireEvent(conn!, { time: 't', tlsProbes: true, tlsLibraryMapped: false }).inspection, 'none, static TLS');
    assert.equal(wireEvent(conn!, { time: 't', tlsProbes: true, tlsLibraryMapped: true }).inspection, 'none, TLS plaintext not seen');
    assert.equal(wireEvent(conn!, { time: 't', tlsProbes: false }).inspection, 'none, off');
    assert.equal(wireEvent(conn!, { time: 't', tlsProbes: true }).wire?.serverName, 'broker.example.test');
  });

  it('IPv6 plaintext MQTT with a space in the topic; a refused connect has no bytes; an address literal is no host name', () => {
    const conns = run('plain-ipv6.jsonl');
    assert.equal(conns.length, 2);
    const [v6, refused] = conns;
    assert.deepEqual([v6!.family, v6!.ip, v6!.source?.ip, v6!.hostname], [6, '::1', '::1', undefined]);
    const e = wireEvent(v6!, { time: 't', tlsProbes: true });
    assert.deepEqual([e.inspection, e.wire?.clientId, e.wire?.topics], ['plaintext', 'plain-v6', ['sensors/a b']]);
    assert.equal(refused!.plain.length, 0);
    assert.equal(wireEvent(refused!, { time: 't', tlsProbes: true }).inspection, 'none, no bytes');
  });

  it('completes after maxWrites writes and ignores the rest until close', () => {
    const conns = run('tls-implant.jsonl', 2);
    assert.equal(conns.length, 1);
    assert.equal(conns[0]!.completed, 'writes');
    assert.equal(conns[0]!.plain.length, 2);
  });

  it('times out an idle connection and bounds the table', () => {
    const t = new WireTracker({ ...DEFAULT_TRACKER, maxWrites: 16, maxConnections: 2, judgeAfterMs: 500 });
    const c = (pid: number): WireRecord => ({ kind: 'connect', pid, tid: pid, fd: 3, uid: 0, family: 4, ip: '198.51.100.7', port: 8080, comm: 'x' });
    assert.equal(t.onRecord(c(1), 0).length, 0);
    assert.equal(t.onRecord(c(2), 0).length, 0);
    assert.deepEqual(t.onRecord(c(3), 0).map((x) => [x.pid, x.completed]), [[1, 'evicted']]);
    assert.deepEqual(t.expire(600).map((x) => x.pid).sort(), [2, 3]);
    assert.equal(t.openCount, 0);
  });

  it('hostile lines are malformed records, never exceptions', () => {
    for (const line of ['', 'nope', '{}', '{"type":"printf","data":"C 1 2 3 4 5 x 9 c"}', '{"type":"printf","data":"W 1 2 3 \\\\x4"}',
      '{"type":"printf","data":"H 1 4 zz name"}', '{"type":"printf","data":"S 1 2 99999 2 7f000001 0"}', '{"type":"printf","data":"Q"}']) {
      assert.equal(parseWireLine(line).kind, 'malformed', line);
    }
    assert.deepEqual(decodeHexBytes('\\x00\\xff\\x0a'), Buffer.from([0, 255, 10]));
    assert.equal(decodeHexBytes('\\x0'), null);
    assert.equal(hexAddress('20010db8000000000000000000000001', 6), '2001:db8::1');
    assert.equal(hexAddress('00000000000000000000ffffc6336407', 6), '198.51.100.7');
  });
});

describe('wire program rendering', () => {
  const templates = {
    program: fs.readFileSync(path.join(WIRE_DIR, 'wire.bt'), 'utf8'),
    ssl: fs.readFileSync(path.join(WIRE_DIR, 'ssl-probes.bt'), 'utf8'),
    gai: fs.readFileSync(path.join(WIRE_DIR, 'gai-probes.bt'), 'utf8'),
  };
  it('fills every placeholder', () => {
    const p = renderWireProgram(templates, { ports: [8080, 1883], captureWrites: 16, captureBytes: 200, libssl: ['/usr/lib/x86_64-linux-gnu/libssl.so.3'], libc: '/usr/lib/x86_64-linux-gnu/libc.so.6' });
    assert.doesNotMatch(p, /__[A-Z_]+__/);
    assert.match(p, /\(\$port == 1883 \|\| \$port == 8080\)/);
    assert.match(p, /uprobe:\/usr\/lib\/x86_64-linux-gnu\/libssl\.so\.3:SSL_write_ex/);
    assert.match(p, /uretprobe:\/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6:getaddrinfo/);
    const off = renderWireProgram(templates, { ports: null, captureWrites: 4, captureBytes: 64, libssl: [], libc: null });
    assert.doesNotMatch(off, /^u(ret)?probe:/m);
    assert.match(off, /if \(1\)/);
  });
  it('refuses library paths that could carry bpftrace code, and bad caps', () => {
    for (const bad of ['relative/libssl.so', '/lib/x:SSL_write { system("id") }', '/lib/../x.so', '/lib/a b.so']) assert.equal(safeLibraryPath(bad), false, bad);
    assert.throws(() => renderWireProgram(templates, { ports: [1], captureWrites: 16, captureBytes: 201, libssl: [], libc: null }), /captureBytes/);
    assert.equal(wirePortFilter([]), '0');
  });
  it('maps: TLS libraries and libssl paths', () => {
    const maps = '7f00-7f01 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libssl.so.3\n7f02-7f03 r-xp 0 08:01 5 /usr/lib/x86_64-linux-gnu/libc.so.6\n';
    assert.equal(mapsTlsLibrary(maps), true);
    assert.deepEqual(libsslPathsIn(maps), ['/usr/lib/x86_64-linux-gnu/libssl.so.3']);
    assert.equal(mapsTlsLibrary('7f02-7f03 r-xp 0 08:01 5 /usr/local/bin/static-go-client\n'), false);
  });
  it('watched ports: pub/sub, web broker and extra ports, or all', () => {
    const config = loadConfig().config;
    const ports = wirePorts(config)!;
    for (const p of [1883, 8883, 5222, 5672, 61613, 443, 8080]) assert.ok(ports.includes(p), String(p));
    assert.equal(wirePorts({ ...config, wireInspection: { ...config.wireInspection, allPorts: true } }), null);
  });
});
