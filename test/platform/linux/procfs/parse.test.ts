import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeAddress, parseBootTime, parseCmdline, parseExeLink, parsePasswd, parseProcNet, parseProcStat, parseStatusUid,
  type ProcNetRow, socketInode, TCP_STATES,
} from '../../../../platform/linux/procfs/parse';
import { fixtureBytes, fixtureText, readCapture } from '../../../fixtures/linux/materialize-proctree';

const capture = readCapture();
const pid = (role: string) => String(capture.roles[role]);

function table(side: 'client' | 'broker', file: 'tcp' | 'tcp6' | 'udp' | 'udp6'): ProcNetRow[] {
  const parsed = parseProcNet(fixtureText(`netns-pubsub/${side}/${file}`), file.startsWith('tcp') ? 'tcp' : 'udp', file.endsWith('6') ? 6 : 4);
  assert.deepEqual(parsed.problems, [], `${side}/${file} is a clean capture`);
  return parsed.rows;
}

function find(rows: ProcNetRow[], remote: string, state?: string): ProcNetRow {
  const hits = rows.filter((r) => `${r.remote.ip}:${r.remote.port}` === remote && (state === undefined || r.state === state));
  assert.equal(hits.length, 1, `exactly one row to ${remote} ${state ?? ''}: ${JSON.stringify(hits)}`);
  return hits[0] as ProcNetRow;
}

describe('decodeAddress', () => {
  test('IPv4 from captured little-endian hex', () => {
    assert.deepEqual(decodeAddress('0100007F:075B', 4), { ip: '127.0.0.1', port: 1883 });
    assert.deepEqual(decodeAddress('076433C6:F0AE', 4), { ip: '198.51.100.7', port: 61614 });
    assert.deepEqual(decodeAddress('00000000:0000', 4), { ip: '0.0.0.0', port: 0 });
    assert.deepEqual(decodeAddress('0302010a:1628', 4), { ip: '10.1.2.3', port: 5672 }, 'lower-case hex');
  });

  test('IPv6: each 32-bit word is host order', () => {
    assert.deepEqual(decodeAddress('B80D0120000000000000000007000000:1466', 6), { ip: '2001:db8::7', port: 5222 });
    assert.deepEqual(decodeAddress('B80D01200000ADDE0000000001000000:075B', 6), { ip: '2001:db8:dead::1', port: 1883 });
    assert.deepEqual(decodeAddress('00000000000000000000000000000000:498E', 6), { ip: '::', port: 18830 });
  });

  test('IPv4-mapped IPv6 comes out as the IPv4 address (canonicalIp unwraps it)', () => {
    assert.deepEqual(decodeAddress('0000000000000000FFFF0000076433C6:22B3', 6), { ip: '198.51.100.7', port: 8883 });
    assert.deepEqual(decodeAddress('0000000000000000FFFF00000100007F:075B', 6), { ip: '127.0.0.1', port: 1883 });
  });

  test('big-endian readers (s390x, ppc64) read the words as written', () => {
    // Hand-made: this machine is little-endian; a big-endian kernel prints 127.0.0.1 as 7F000001.
    assert.deepEqual(decodeAddress('7F000001:075B', 4, false), { ip: '127.0.0.1', port: 1883 });
    assert.deepEqual(decodeAddress('C6336407:1466', 4, false), { ip: '198.51.100.7', port: 5222 });
    assert.deepEqual(decodeAddress('20010DB8000000000000000000000007:1466', 6, false), { ip: '2001:db8::7', port: 5222 });
    assert.deepEqual(decodeAddress('00000000000000000000FFFFC6336407:22B3', 6, false), { ip: '198.51.100.7', port: 8883 });
    // The same text read with the wrong endianness is a different address: the flag matters.
    assert.deepEqual(decodeAddress('7F000001:075B', 4, true), { ip: '1.0.0.127', port: 1883 });
  });

  test('junk is null, never an exception', () => {
    for (const bad of ['', ':', '0100007F', '0100007F:', '0100007F:75B', '0100007F:075B0', '0100007:075B', '01000070F:075B',
      '0164ZZC6:DCBE', '0100007F:07ZB', 'B80D0120000000000000000007000000:1466']) {
      assert.equal(decodeAddress(bad, 4), null, `v4 ${JSON.stringify(bad)}`);
    }
    for (const bad of ['0100007F:075B', 'B80D012000000000000000000700000:1466', 'B80D01200000000000000000070000000:1466', 'G80D0120000000000000000007000000:1466']) {
      assert.equal(decodeAddress(bad, 6), null, `v6 ${JSON.stringify(bad)}`);
    }
  });
});

describe('parseProcNet on real captures', () => {
  test('client tcp: LISTEN, ESTABLISHED, SYN_SENT, FIN_WAIT1/2, TIME_WAIT, CLOSE_WAIT, LAST_ACK', () => {
    const rows = table('client', 'tcp');
    assert.equal(rows.length, 17);
    assert.ok(rows.every((r) => r.transport === 'tcp' && r.family === 4));
    const listen = rows.filter((r) => r.state === 'LISTEN');
    assert.deepEqual(listen.map((r) => r.local), [{ ip: '127.0.0.1', port: 1883 }]);
    assert.deepEqual(listen[0]?.remote, { ip: '0.0.0.0', port: 0 });

    const est = find(rows, '198.51.100.7:5672', 'ESTABLISHED');
    assert.equal(est.local.ip, '198.51.100.1');
    assert.ok(est.inode > 0);
    assert.equal(est.uid, 0);

    const synSent = find(rows, '198.51.100.200:5222');
    assert.equal(synSent.state, 'SYN_SENT');
    assert.ok(synSent.inode > 0, 'a connecting socket still has its file');
    assert.equal(find(rows, '198.51.100.7:5672', 'SYN_SENT').local.ip, '198.51.100.9');

    const timeWait = find(rows, '198.51.100.7:1883', 'TIME_WAIT');
    assert.equal(timeWait.inode, 0, 'TIME_WAIT: no file refers to the socket');
    assert.equal(find(rows, '198.51.100.7:61613').state, 'CLOSE_WAIT');
    assert.equal(find(rows, '198.51.100.7:5671').state, 'FIN_WAIT2');
    assert.equal(find(rows, '198.51.100.8:5671').state, 'FIN_WAIT1');
    const lastAck = find(rows, '198.51.100.8:61613');
    assert.equal(lastAck.state, 'LAST_ACK');
    assert.equal(lastAck.inode, 0, 'closed by its owner: orphaned');
    assert.equal(find(rows, '10.1.2.3:5672').state, 'ESTABLISHED');
  });

  test('client tcp6: IPv6, IPv4-mapped on a dual-stack socket, IPv6 TIME_WAIT and SYN_SENT', () => {
    const rows = table('client', 'tcp6');
    assert.equal(rows.length, 8);
    assert.ok(rows.every((r) => r.family === 6));
    assert.deepEqual(rows.find((r) => r.state === 'LISTEN')?.local, { ip: '::', port: 18830 });
    const mapped = find(rows, '198.51.100.7:8883');
    assert.equal(mapped.local.ip, '198.51.100.1', 'mapped local address unwrapped too');
    assert.equal(mapped.state, 'ESTABLISHED');
    assert.equal(find(rows, '127.0.0.1:1883').local.ip, '127.0.0.1');
    assert.equal(find(rows, '10.1.2.3:5672').state, 'ESTABLISHED');
    assert.equal(find(rows, '2001:db8::7:5222', 'ESTABLISHED').local.ip, '2001:db8::1');
    assert.equal(find(rows, '2001:db8::7:5222', 'TIME_WAIT').inode, 0);
    assert.equal(find(rows, '2001:db8::7:1883').state, 'ESTABLISHED');
    assert.equal(find(rows, '2001:db8:dead::1:1883').state, 'SYN_SENT');
  });

  test('broker tables: uid of the dropped-privilege broker, SYN_RECV with inode 0, orphaned FIN_WAIT2', () => {
    const tcp = table('broker', 'tcp');
    assert.ok(tcp.length > 0 && tcp.every((r) => r.uid === 102), 'mosquitto runs as its own user');
    const tcp6 = table('broker', 'tcp6');
    const synRecv = find(tcp6, '198.51.100.9:44711');
    assert.equal(synRecv.state, 'SYN_RECV');
    assert.equal(synRecv.inode, 0);
    assert.deepEqual(synRecv.local, { ip: '198.51.100.7', port: 5672 });
    assert.ok(tcp6.some((r) => r.state === 'FIN_WAIT2' && r.inode === 0));
    assert.deepEqual(table('broker', 'udp'), []);
    assert.deepEqual(table('broker', 'udp6'), []);
  });

  test('UDP: connected rows are ESTABLISHED, bound-only rows CLOSE; slot numbers are not 0..n', () => {
    const udp = table('client', 'udp');
    assert.deepEqual(udp.map((r) => [r.state, `${r.remote.ip}:${r.remote.port}`, r.transport]).sort(), [
      ['CLOSE', '0.0.0.0:0', 'udp'],
      ['ESTABLISHED', '198.51.100.7:1883', 'udp'],
    ]);
    const udp6 = table('client', 'udp6');
    assert.deepEqual(udp6.map((r) => [r.state, `[${r.remote.ip}]:${r.remote.port}`]).sort(), [
      ['CLOSE', '[::]:0'],
      ['ESTABLISHED', '[2001:db8::7]:5683'],
    ]);
    assert.equal(udp6.find((r) => r.state === 'CLOSE')?.local.port, 47001);
  });

  test('every kernel TCP state parses (three of them from hand-edited copies of real lines)', () => {
    const seen = new Set<string>();
    for (const side of ['client', 'broker'] as const) for (const f of ['tcp', 'tcp6'] as const) for (const r of table(side, f)) seen.add(r.state);
    const edited = parseProcNet(fixtureText('edited-states/tcp'), 'tcp', 4);
    assert.deepEqual(edited.problems, []);
    assert.deepEqual(edited.rows.map((r) => r.state), ['CLOSE', 'CLOSING', 'NEW_SYN_RECV']);
    for (const r of edited.rows) seen.add(r.state);
    assert.deepEqual([...seen].sort(), Object.values(TCP_STATES).sort());
  });
});

describe('parseProcNet on broken input', () => {
  test('a file cut mid-line: the whole lines parse, the cut one is a problem', () => {
    const r = parseProcNet(fixtureText('malformed/tcp-truncated'), 'tcp', 4);
    assert.equal(r.rows.length, 4);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0] as string, /^line 6: /);
    const r6 = parseProcNet(fixtureText('malformed/tcp6-truncated'), 'tcp', 6);
    assert.equal(r6.rows.length, 2);
    assert.deepEqual(r6.problems.length, 1);
    assert.match(r6.problems[0] as string, /^line 4: /);
  });

  test('garbage fields: each bad line is one problem naming its line and field; good lines around them survive', () => {
    const r = parseProcNet(fixtureText('malformed/tcp-garbage'), 'tcp', 4);
    assert.deepEqual(r.rows.map((x) => x.state), ['LISTEN', 'ESTABLISHED']);
    assert.deepEqual(r.problems, [
      'line 3: malformed address field',
      'line 4: malformed address field',
      'line 5: malformed state field',
      'line 6: malformed state field',
      'line 7: malformed uid or inode field',
      'line 8: malformed uid or inode field',
      'line 9: too few fields or no slot number (truncated?)',
      'line 10: too few fields or no slot number (truncated?)',
      'line 11: too few fields or no slot number (truncated?)',
      'line 13: malformed address field',
    ]);
    const u = parseProcNet(fixtureText('malformed/udp-garbage'), 'udp', 4);
    assert.deepEqual(u.rows.map((x) => x.state), ['ESTABLISHED', 'CLOSE']);
    assert.deepEqual(u.problems, ['line 3: malformed address field', 'line 4: malformed state field']);
  });

  test('cut at every byte of a real table: never throws, never yields a row that differs from the full parse', () => {
    for (const file of ['client/tcp', 'client/tcp6', 'client/udp', 'client/udp6', 'broker/tcp6'] as const) {
      const text = fixtureText(`netns-pubsub/${file}`);
      const transport = file.includes('tcp') ? 'tcp' : 'udp';
      const family = file.endsWith('6') ? 6 : 4;
      const full = parseProcNet(text, transport, family).rows.map((r) => JSON.stringify(r));
      for (let cut = 0; cut <= text.length; cut++) {
        const part = parseProcNet(text.slice(0, cut), transport, family);
        const rows = part.rows.map((r) => JSON.stringify(r));
        assert.deepEqual(rows, full.slice(0, rows.length), `${file} cut at ${cut}: rows are a prefix of the full parse`);
        assert.ok(part.problems.length <= 1, `${file} cut at ${cut}: at most the cut line is a problem`);
      }
    }
  });

  test('empty text, header only, and random bytes', () => {
    assert.deepEqual(parseProcNet('', 'tcp', 4), { rows: [], problems: [], total: 0, listeningPorts: new Set() });
    const header = fixtureText('netns-pubsub/broker/udp');
    assert.deepEqual(parseProcNet(header, 'udp', 4), { rows: [], problems: [], total: 0, listeningPorts: new Set() });
    let seed = 7;
    const rand = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed; };
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.from(Array.from({ length: 300 }, () => rand() % 256));
      const r = parseProcNet(bytes.toString('latin1'), 'tcp', 4);
      assert.equal(r.rows.length, 0);
    }
  });
});

describe('parseProcStat', () => {
  test('comm with spaces and ")" from a real process named "a b) c"', () => {
    const s = parseProcStat(fixtureText(`proctree/${pid('client:a b) c')}/stat`));
    assert.ok(s);
    assert.equal(s.comm, 'a b) c');
    assert.equal(s.pid, capture.roles['client:a b) c']);
    assert.equal(s.state, 'S');
    assert.equal(s.ppid, 12390);
    assert.equal(s.startTicks, 82286);
  });

  test('comm that imitates the fields after it: "x) R 1 2 3 (y"', () => {
    const s = parseProcStat(fixtureText('proc-pid-hostile-comm/stat'));
    assert.deepEqual(s, { pid: 12439, comm: 'x) R 1 2 3 (y', state: 'S', ppid: 12390, startTicks: 82292 });
  });

  test('a process that renamed itself keeps the name it chose (kworker/0:1)', () => {
    assert.equal(parseProcStat(fixtureText(`proctree/${pid('client:implant')}/stat`))?.comm, 'kworker/0:1');
  });

  test('broken stat text is null', () => {
    const real = fixtureText(`proctree/${pid('broker:mosquitto')}/stat`);
    assert.ok(parseProcStat(real));
    assert.equal(parseProcStat(''), null);
    assert.equal(parseProcStat('12413 (mosquitto S 1 2 3'), null, 'no closing parenthesis');
    assert.equal(parseProcStat('12413 mosquitto) S 1'), null, 'no opening parenthesis');
    assert.equal(parseProcStat(real.slice(0, real.indexOf(')') + 20)), null, 'cut before start time');
    assert.equal(parseProcStat(`abc${real.slice(real.indexOf(' '))}`), null, 'pid not a number');
    assert.equal(parseProcStat(real.replace(/\) S \d+/, ') S x')), null, 'ppid not a number');
  });
});

describe('parseCmdline, parseStatusUid, parseBootTime, parsePasswd', () => {
  test('cmdline: NUL-separated argv, arguments with spaces stay whole', () => {
    assert.deepEqual(parseCmdline(fixtureBytes(`proctree/${pid('client:mosquitto_pub')}/cmdline`)),
      ['/usr/bin/mosquitto_pub', '-h', '2001:db8::7', '-p', '1883', '-t', 'c2/beacon', '-l']);
    assert.deepEqual(parseCmdline(fixtureBytes(`proctree/${pid('client:a b) c')}/cmdline`)),
      ['/tmp/bwu-capture/a b) c', '/tmp/bwu-capture/client.py']);
    assert.deepEqual(parseCmdline(fixtureBytes('proc-pid-hostile-comm/cmdline')), ['/tmp/bwu-capture/x) R 1 2 3 (y', '600']);
  });

  test('cmdline edge cases: empty (kernel thread), no trailing NUL (rewritten argv), string input, empty args', () => {
    assert.deepEqual(parseCmdline(Buffer.alloc(0)), []);
    assert.deepEqual(parseCmdline('nginx: worker process'), ['nginx: worker process']);
    assert.deepEqual(parseCmdline('a\0\0b\0'), ['a', '', 'b']);
    assert.deepEqual(parseCmdline(Buffer.from('x\0')), ['x']);
  });

  test('status: real uid; missing line is null', () => {
    assert.equal(parseStatusUid(fixtureText(`proctree/${pid('broker:mosquitto')}/status`)), 102);
    assert.equal(parseStatusUid(fixtureText(`proctree/${pid('client:a b) c')}/status`)), 0);
    assert.equal(parseStatusUid(fixtureText('proc-pid-hostile-comm/status')), 0);
    assert.equal(parseStatusUid('Name:\tx\nGid:\t0\t0\t0\t0\n'), null);
  });

  test('boot time from the real /proc/stat', () => {
    assert.equal(parseBootTime(fixtureText('proctree/stat')), 1795325365);
    assert.equal(parseBootTime('cpu 1 2 3\n'), null);
  });

  test('passwd: real lines, comments, short lines, first uid wins', () => {
    const users = parsePasswd(fixtureText('proctree/etc/passwd'));
    assert.equal(users.get(0), 'root');
    assert.equal(users.get(102), 'mosquitto');
    assert.equal(users.get(65534), 'nobody');
    assert.equal(users.size, 3);
    const odd = parsePasswd('# comment:x:5:5::/:/bin/sh\nshort:x:7\nbad:x:notanumber:0::/:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\n');
    assert.deepEqual([...odd], [[1000, 'alice']]);
  });
});

describe('parseExeLink and socketInode', () => {
  test('exe link: the kernel marker " (deleted)" is split off (real link of the deleted implant)', () => {
    assert.deepEqual(parseExeLink(capture.links[`${pid('client:implant')}/exe`] as string), { exe: '/tmp/bwu-capture/implant', deleted: true });
    assert.deepEqual(parseExeLink(capture.links[`${pid('client:a b) c')}/exe`] as string), { exe: '/tmp/bwu-capture/a b) c', deleted: false });
    assert.deepEqual(parseExeLink('/opt/x (deleted)/bin/y'), { exe: '/opt/x (deleted)/bin/y', deleted: false });
    assert.deepEqual(parseExeLink(' (deleted)'), { exe: '', deleted: true });
  });

  test('socket inode from every real fd link; everything else is null', () => {
    const targets = Object.entries(capture.links).filter(([k]) => k.includes('/fd/')).map(([, v]) => v);
    const sockets = targets.filter((t) => t.startsWith('socket:'));
    assert.ok(sockets.length > 20);
    for (const t of sockets) assert.equal(socketInode(t), Number(t.slice(8, -1)));
    for (const t of targets.filter((x) => !x.startsWith('socket:'))) assert.equal(socketInode(t), null, t);
    for (const t of ['socket:[]', 'socket:[12a]', 'socket:[15981] ', 'xsocket:[1]', 'socket:15981', '/dev/null']) assert.equal(socketInode(t), null, t);
  });
});

test('parseProcNet with a port filter decodes only the wanted rows but counts every line and every listener', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:A000 0100007F:075B 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1',
    '   2: 0100007F:A001 0100007F:01BB 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1',
  ].join('\n');
  const all = parseProcNet(text, 'tcp', 4);
  const filtered = parseProcNet(text, 'tcp', 4, true, (port) => port === 1883);
  assert.equal(all.rows.length, 3);
  assert.deepEqual(filtered.rows.map((r) => r.inode), [1002]);
  assert.equal(filtered.total, 3);
  assert.deepEqual([...filtered.listeningPorts], [1883]);
  assert.deepEqual([...all.listeningPorts], [1883]);
});
