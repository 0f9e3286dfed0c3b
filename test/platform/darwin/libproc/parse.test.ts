import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  AF_INET6, parseFdList, parsePidList, parsePidPath, parseSocketFdInfo, PROC_PIDFDSOCKETINFO_SIZE, socketFds, type SocketDecode,
} from '../../../../platform/darwin/libproc/parse';
import { loadLibproc } from '../../../../platform/darwin/libproc/read';

const DIR = path.join(__dirname, '..', '..', '..', 'fixtures', 'darwin', 'libproc');
const bytes = (name: string) => fs.readFileSync(path.join(DIR, name));

function socketOf(name: string) {
  const d: SocketDecode = parseSocketFdInfo(bytes(name));
  assert.ok('socket' in d, `${name}: ${JSON.stringify(d)}`);
  return d.socket;
}

describe('libproc decoders on byte fixtures built from xnu proc_info.h (gen.c)', () => {
  test('AF_INET6 is 30 on Darwin; socket_fdinfo is 792 bytes', () => {
    assert.equal(AF_INET6, 30);
    assert.equal(PROC_PIDFDSOCKETINFO_SIZE, 792);
    assert.equal(bytes('tcp4-established.bin').length, 792);
  });

  test('PROC_PIDLISTFDS: fd and type per record; the socket descriptors', () => {
    const list = parseFdList(bytes('listfds.bin'));
    assert.equal(list.length, 8);
    assert.deepEqual(list[3], { fd: 3, type: 2 });
    assert.deepEqual(socketFds(list), [3, 7, 12]);
    assert.deepEqual(parseFdList(bytes('listfds.bin'), 20).map((e) => e.fd), [0, 1], 'only whole records within the returned byte count');
  });

  test('IPv4 TCP: addresses, ports in network byte order, state', () => {
    assert.deepEqual(socketOf('tcp4-established.bin'), {
      transport: 'tcp', family: 4, state: 'ESTABLISHED', local: { ip: '10.0.0.5', port: 52344 }, remote: { ip: '198.51.100.7', port: 8883 },
    });
  });

  test('IPv6 TCP in SYN_SENT', () => {
    assert.deepEqual(socketOf('tcp6-syn-sent.bin'), {
      transport: 'tcp', family: 6, state: 'SYN_SENT', local: { ip: '2001:db8::5', port: 52345 }, remote: { ip: '2001:db8::7', port: 1883 },
    });
  });

  test('an AF_INET6 socket carrying IPv4 (INI_IPV4): IPv4 addresses, family 6', () => {
    assert.deepEqual(socketOf('tcp6-v4mapped.bin'), {
      transport: 'tcp', family: 6, state: 'TIME_WAIT', local: { ip: '10.0.0.5', port: 52346 }, remote: { ip: '198.51.100.7', port: 5222 },
    });
  });

  test('UDP: connected is ESTABLISHED, unconnected is UNCONN', () => {
    assert.deepEqual(socketOf('udp4-connected.bin'), {
      transport: 'udp', family: 4, state: 'ESTABLISHED', local: { ip: '10.0.0.5', port: 61000 }, remote: { ip: '198.51.100.9', port: 5683 },
    });
    assert.deepEqual(socketOf('udp6-unconnected.bin'), {
      transport: 'udp', family: 6, state: 'UNCONN', local: { ip: '::', port: 5353 }, remote: { ip: '::', port: 0 },
    });
  });

  test('a UNIX socket is skipped; a short read is an error, not garbage', () => {
    assert.deepEqual(parseSocketFdInfo(bytes('unix.bin')), { skip: 'address family 1' });
    assert.deepEqual(parseSocketFdInfo(bytes('truncated.bin')), { error: 'socket_fdinfo too short: 300 of 792 bytes' });
    assert.ok('error' in parseSocketFdInfo(bytes('tcp4-established.bin'), 791), 'the return value counts, not the buffer size');
  });

  test('an unknown TCP state is an error', () => {
    const b = Buffer.from(bytes('tcp4-established.bin'));
    b.writeInt32LE(99, 264 + 80);
    assert.deepEqual(parseSocketFdInfo(b), { error: 'unknown TCP state 99' });
  });

  test('proc_listallpids and proc_pidpath buffers', () => {
    assert.deepEqual(parsePidList(bytes('listallpids.bin')), [1, 88, 412, 5077]);
    assert.deepEqual(parsePidList(bytes('listallpids.bin'), 8), [1, 88]);
    assert.equal(parsePidPath(bytes('pidpath.bin')), '/Applications/Café Chat.app/Contents/MacOS/Café Chat');
    assert.equal(parsePidPath(Buffer.alloc(16)), null);
  });
});

describe('libproc off macOS', () => {
  test('loadLibproc refuses Linux before touching koffi', async () => {
    const koffiLoaded = () => Object.keys(require.cache).some((k) => k.includes(`${path.sep}koffi${path.sep}`));
    const before = koffiLoaded();
    await assert.rejects(loadLibproc('linux'), /macOS only, not on linux/);
    assert.equal(koffiLoaded(), before);
  });
});
