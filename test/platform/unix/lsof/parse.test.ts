import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  decodeLsofValue, type LsofProcess, type LsofSocket, lsofSockets, normalizeTcpState, parseLsofEndpoint, parseLsofFields,
  parseLsofInternetName,
} from '../../../../platform/unix/lsof/parse';
import { parsePsOutput } from '../../../../platform/unix/lsof/ps';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'unix', 'lsof');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

function clean(name: string): LsofProcess[] {
  const parsed = parseLsofFields(fixture(`${name}/lsof.out`));
  assert.deepEqual(parsed.problems, [], `${name} parses without problems`);
  return parsed.rows;
}

function socketsOf(name: string): LsofSocket[] {
  const s = lsofSockets(clean(name));
  assert.deepEqual(s.problems, []);
  return s.rows;
}

function one(rows: LsofSocket[], pid: number, fd: string): LsofSocket {
  const hits = rows.filter((r) => r.pid === pid && r.fd === fd);
  assert.equal(hits.length, 1, `one socket for pid ${pid} fd ${fd}`);
  return hits[0] as LsofSocket;
}

describe('decodeLsofValue', () => {
  const d = (s: string) => decodeLsofValue(Buffer.from(s, 'latin1'));
  test('\\xNN bytes come back as UTF-8 text', () => {
    assert.equal(d('my app \\xc3\\xa9'), 'my app é');
  });
  test('named escapes and an escaped backslash', () => {
    assert.equal(d('a\\tb\\nc\\rd\\be\\ff'), 'a\tb\nc\rd\be\ff');
    assert.equal(d('evil\\tname\\\\x41'), 'evil\tname\\x41', 'an escaped backslash followed by x41 is not a hex escape');
  });
  test('the ^X form stays as printed (a caret is not escaped, so it may be literal)', () => {
    assert.equal(d('a^Ab'), 'a^Ab');
  });
  test('raw UTF-8 (lsof in a UTF-8 locale) passes through; a lone trailing backslash is kept', () => {
    assert.equal(decodeLsofValue(Buffer.from('Café\\', 'utf8')), 'Café\\');
    assert.equal(d('\\q'), '\\q', 'not an lsof escape: kept literally');
  });
});

describe('parseLsofEndpoint and parseLsofInternetName', () => {
  test('IPv4, bracketed IPv6, wildcards', () => {
    assert.deepEqual(parseLsofEndpoint('198.51.100.7:1883', 4), { ip: '198.51.100.7', port: 1883 });
    assert.deepEqual(parseLsofEndpoint('[2001:db8::7]:8883', 6), { ip: '2001:db8::7', port: 8883 });
    assert.deepEqual(parseLsofEndpoint('*:5353', 6), { ip: '::', port: 5353 });
    assert.deepEqual(parseLsofEndpoint('*:*', 4), { ip: '0.0.0.0', port: 0 });
    assert.deepEqual(parseLsofEndpoint('[::ffff:198.51.100.7]:1883', 6), { ip: '198.51.100.7', port: 1883 }, 'IPv4-mapped unwraps');
    assert.deepEqual(parseLsofEndpoint('[fe80::1%en0]:5353', 6), { ip: 'fe80::1', port: 5353 }, 'zone dropped');
  });
  test('garbage is null, never an exception', () => {
    for (const bad of ['198.51.100.7', '198.51.100.7:99999', '[2001:db8::7:1883', 'host.example:1883', ':1883', '198.51.100.7:-1']) {
      assert.equal(parseLsofEndpoint(bad, 4), null, bad);
    }
    assert.equal(parseLsofInternetName('10.0.0.5:1->', 4), null);
    assert.deepEqual(parseLsofInternetName('10.0.0.5:1', 4), { local: { ip: '10.0.0.5', port: 1 }, remote: null });
  });
  test('BSD state names become the Linux names procfs reports', () => {
    assert.equal(normalizeTcpState('FIN_WAIT_1'), 'FIN_WAIT1');
    assert.equal(normalizeTcpState('SYN_RCVD'), 'SYN_RECV');
    assert.equal(normalizeTcpState('CLOSED'), 'CLOSE');
    assert.equal(normalizeTcpState('ESTABLISHED'), 'ESTABLISHED');
  });
});

describe('parseLsofFields: real Linux lsof 4.95.0 output (linux-live)', () => {
  const procs = clean('linux-live');
  const rows = socketsOf('linux-live');

  test('process sets: pid, ppid, command with a space and non-ASCII, uid, login', () => {
    assert.deepEqual(procs.map((p) => p.pid), [3001, 3002, 3003]);
    const a = procs[0] as LsofProcess;
    assert.equal(a.command, 'my app é');
    assert.equal(a.ppid, 3000);
    assert.equal(a.uid, 0);
    assert.equal(a.login, 'root');
    assert.equal(a.files.length, 11, 'multiple fds per process');
    assert.equal(procs[2]?.ppid, 3002);
  });

  test('IPv4 TCP: listener, connected and accepted sockets with state and inode', () => {
    assert.deepEqual(one(rows, 3001, '3'), { pid: 3001, fd: '3', device: '451047', transport: 'tcp', family: 4, state: 'LISTEN', local: { ip: '127.0.0.1', port: 35049 }, remote: { ip: '0.0.0.0', port: 0 } });
    assert.deepEqual(one(rows, 3001, '4'), { pid: 3001, fd: '4', device: '451048', transport: 'tcp', family: 4, state: 'ESTABLISHED', local: { ip: '127.0.0.1', port: 48694 }, remote: { ip: '127.0.0.1', port: 35049 } });
  });

  test('bracketed IPv6 and an AF_INET6 socket carrying IPv4', () => {
    const v6 = one(rows, 3001, '7');
    assert.equal(v6.family, 6);
    assert.deepEqual([v6.local, v6.remote], [{ ip: '::1', port: 53056 }, { ip: '::1', port: 36115 }]);
    const mapped = one(rows, 3001, '9');
    assert.equal(mapped.family, 6, 'the socket is IPv6 even though lsof prints IPv4 addresses');
    assert.deepEqual(mapped.remote, { ip: '127.0.0.1', port: 35049 });
  });

  test('UDP: connected (ESTABLISHED) over IPv4 and IPv6, unconnected (UNCONN)', () => {
    const u4 = one(rows, 3001, '11');
    assert.deepEqual([u4.transport, u4.state, u4.remote], ['udp', 'ESTABLISHED', { ip: '198.51.100.7', port: 1883 }]);
    const u6 = one(rows, 3001, '12');
    assert.deepEqual([u6.family, u6.local.ip, u6.remote], [6, 'fd00::2', { ip: '2001:db8::7', port: 8883 }]);
    const free = one(rows, 3001, '13');
    assert.deepEqual([free.state, free.local, free.remote.port], ['UNCONN', { ip: '0.0.0.0', port: 54411 }, 0]);
  });

  test('a socket shared by a parent and its forked child carries the same device (inode)', () => {
    assert.equal(one(rows, 3002, '4').device, one(rows, 3003, '4').device);
  });
});

describe('parseLsofFields: macOS output constructed from the documented format (macos-documented)', () => {
  const procs = clean('macos-documented');
  const rows = socketsOf('macos-documented');

  test('command names: non-ASCII via \\xNN, spaces, and a hostile name decoded exactly', () => {
    assert.deepEqual(procs.map((p) => [p.pid, p.command, p.uid, p.login]), [
      [412, 'Café Chat', 501, 'alice'], [88, 'Google Chrome Helper', 501, 'alice'], [5077, 'osascript', 501, 'alice'], [90, 'evil\tname\\x41', 0, 'root'],
    ]);
  });

  test('BSD TCP states are normalised; the control block address is the device', () => {
    assert.equal(one(rows, 412, '24').state, 'SYN_SENT');
    assert.equal(one(rows, 412, '25').state, 'FIN_WAIT1');
    assert.equal(one(rows, 88, '43').state, 'CLOSE');
    assert.equal(one(rows, 412, '23').device, '0x9f1c3a5e2b4c1d07');
  });

  test('IPv6 with IPv4 addresses, link-local with embedded scope, *:* UDP', () => {
    const mapped = one(rows, 412, '25');
    assert.deepEqual([mapped.family, mapped.local.ip, mapped.remote], [6, '10.0.0.5', { ip: '198.51.100.7', port: 5222 }]);
    const ll = one(rows, 412, '27');
    assert.deepEqual([ll.family, ll.state, ll.local], [6, 'UNCONN', { ip: 'fe80:4::aede:48ff:fe00:1122', port: 5353 }]);
    const any = one(rows, 412, '28');
    assert.deepEqual([any.local, any.remote, any.state], [{ ip: '0.0.0.0', port: 0 }, { ip: '0.0.0.0', port: 0 }, 'UNCONN']);
  });

  test('every Internet file set becomes one socket row', () => {
    assert.equal(rows.length, 12);
  });
});

describe('parseLsofFields: damaged input (malformed)', () => {
  const parsed = parseLsofFields(fixture('malformed/lsof.out'));

  test('problems are reported, never thrown, and the good process survives', () => {
    assert.deepEqual(parsed.rows.map((p) => p.pid), [700]);
    assert.equal(parsed.problems.length, 5, parsed.problems.join('\n'));
    assert.match(parsed.problems[0] as string, /before any process set/);
    assert.match(parsed.problems[1] as string, /malformed process id "12x"/);
    assert.ok(parsed.problems.slice(2).every((p) => /outside a file set/.test(p)));
  });

  test('unreadable names are problems; sock files and unknown fields are skipped', () => {
    const s = lsofSockets(parsed.rows);
    assert.deepEqual(s.rows.map((r) => r.fd), ['7']);
    assert.equal(s.problems.length, 3, s.problems.join('\n'));
    assert.ok(s.problems.every((p) => /^pid 700 fd [458]: unreadable TCP name/.test(p)));
  });

  test('newline-terminated fields (lsof -F without 0) parse the same way', () => {
    const nl = parseLsofFields('p1\ncinit\nf3\ntIPv4\nPTCP\nn10.0.0.5:4->198.51.100.7:1883\nTST=ESTABLISHED\n');
    assert.deepEqual(nl.problems, []);
    assert.equal(lsofSockets(nl.rows).rows[0]?.remote.port, 1883);
  });

  test('empty output is an empty table', () => {
    assert.deepEqual(parseLsofFields(Buffer.alloc(0)), { rows: [], problems: [] });
  });
});

describe('parsePsOutput', () => {
  test('real procps output: args with spaces, the hostile newline/tab already replaced by ps', () => {
    const ps = parsePsOutput(fixture('linux-live/ps.out').toString('utf8'), new Set([3001, 3002, 3003]));
    assert.deepEqual(ps.ambiguous, []);
    assert.deepEqual([...ps.rows.keys()], [3001, 3002, 3003]);
    const a = ps.rows.get(3001);
    assert.equal(a?.ppid, 3000);
    assert.ok(a?.args.startsWith('python3 -c  import ctypes'), a?.args);
    assert.ok(a?.args.endsWith(' line1 line2 tab?here é ü   leading spaces --url=ws://198.51.100.7:8083/mqtt'), a?.args);
    assert.equal(ps.rows.get(3003)?.ppid, 3002);
  });

  test('macOS-style output: paths with spaces, (name) for unreadable arguments', () => {
    const ps = parsePsOutput(fixture('macos-documented/ps.out').toString('utf8'), new Set([88, 90, 412, 5077]));
    assert.equal(ps.rows.get(412)?.args, '/Applications/Café Chat.app/Contents/MacOS/Café Chat --connect wss://198.51.100.7:8084/mqtt');
    assert.equal(ps.rows.get(90)?.args, '(evil\\tname)');
    assert.equal(ps.rows.get(5077)?.ppid, 412);
  });

  test('a row imitating another pid is ambiguous; continuation lines stay with their row', () => {
    const ps = parsePsOutput(fixture('malformed/ps.out').toString('utf8'), new Set([700, 701, 702, 703]));
    assert.deepEqual(ps.ambiguous, [701]);
    assert.equal(ps.rows.has(701), false, 'neither 701 line is believed');
    assert.equal(ps.rows.get(702)?.args, 'python3 -c print(1)\nsecond line of 702');
    assert.equal(ps.rows.get(703)?.args, '\n  999     1 a pid nobody asked for', 'an unrequested pid continues the previous row');
    assert.equal(ps.rows.get(700)?.args, '/usr/bin/python3 client.py --note x');
  });

  test('leading spaces of argv[0] are kept (one space separates ppid and args)', () => {
    const ps = parsePsOutput('   42     1   spaced out\n', new Set([42]));
    assert.equal(ps.rows.get(42)?.args, '  spaced out');
  });
});
