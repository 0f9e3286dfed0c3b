/** The owner-pid table decoders on bytes captured under Wine and on rows built from the documented layouts. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { MIB_TCP_STATES, parseTcpTable, parseUdpTable, TableParseError } from '../../../platform/windows/iphlpapi/parse';

const WINE = path.join(__dirname, '..', '..', 'fixtures', 'windows', 'iphlpapi', 'wine8-loopback');
const read = (f: string) => fs.readFileSync(path.join(WINE, f));
const sockets = JSON.parse(read('sockets.json').toString()) as Record<string, number>;

/** One MIB_TCPROW_OWNER_PID. */
function tcp4Row(state: number, local: [string, number], remote: [string, number], pid: number): Buffer {
  const b = Buffer.alloc(24, 0xa5);
  b.writeUInt32LE(state, 0);
  Buffer.from(local[0].split('.').map(Number)).copy(b, 4);
  b.writeUInt16BE(local[1], 8);
  Buffer.from(remote[0].split('.').map(Number)).copy(b, 12);
  b.writeUInt16BE(remote[1], 16);
  b.writeUInt32LE(pid, 20);
  return b;
}

/** One MIB_TCP6ROW_OWNER_PID; addresses as 16 bytes given in hex. */
function tcp6Row(local: string, lscope: number, lport: number, remote: string, rscope: number, rport: number, state: number, pid: number): Buffer {
  const b = Buffer.alloc(56, 0xa5);
  Buffer.from(local, 'hex').copy(b, 0);
  b.writeUInt32LE(lscope, 16);
  b.writeUInt16BE(lport, 20);
  Buffer.from(remote, 'hex').copy(b, 24);
  b.writeUInt32LE(rscope, 40);
  b.writeUInt16BE(rport, 44);
  b.writeUInt32LE(state, 48);
  b.writeUInt32LE(pid, 52);
  return b;
}

const table = (rows: Buffer[], count = rows.length) => {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(count, 0);
  return Buffer.concat([head, ...rows]);
};

test('Wine capture, TCP IPv4: the client end carries the capturing pid, listeners and the accepted end pid 0', () => {
  const rows = parseTcpTable(read('tcp4.bin'), 4);
  assert.equal(rows.length, 5);
  const client = rows.find((r) => r.local.port === sockets.client4);
  assert.deepEqual(client, { transport: 'tcp', family: 4, state: 'ESTABLISHED', local: { ip: '127.0.0.1', port: sockets.client4 }, remote: { ip: '127.0.0.1', port: sockets.listener4 }, localScope: 0, remoteScope: 0, pid: sockets.pid });
  const listener = rows.find((r) => r.local.port === sockets.listener4 && r.state === 'LISTEN');
  assert.deepEqual(listener?.remote, { ip: '0.0.0.0', port: 0 });
  assert.equal(listener?.pid, 0, 'Wine 8 does not attribute listeners');
  assert.equal(rows.filter((r) => r.state === 'TIME_WAIT').length, 1);
});

test('Wine capture, TCP IPv6: rows decode with scope ids; Wine attributes none of them', () => {
  const rows = parseTcpTable(read('tcp6.bin'), 6);
  assert.equal(rows.length, 3);
  const client = rows.find((r) => r.local.port === sockets.client6);
  assert.equal(client?.local.ip, '::1');
  assert.equal(client?.remote.port, sockets.listener6);
  assert.equal(client?.state, 'ESTABLISHED');
  assert.ok(rows.every((r) => r.pid === 0));
  assert.ok(rows.every((r) => r.localScope === 4096), 'Wine reports scope id 4096 for ::1');
});

test('Wine capture, UDP: one IPv4 row with the bound port, an empty IPv6 table', () => {
  const rows = parseUdpTable(read('udp4.bin'), 4);
  assert.deepEqual(rows.map((r) => [r.transport, r.state, r.local.port]), [['udp', 'UNCONN', sockets.udp4]]);
  assert.deepEqual(parseUdpTable(read('udp6.bin'), 6), []);
});

test('every MIB_TCP_STATE value has a name; an unknown one is kept as UNKNOWN_n', () => {
  const rows = parseTcpTable(table([...Array(13).keys()].map((s) => tcp4Row(s, ['10.0.0.5', 50000 + s], ['198.51.100.7', 1883], 100 + s))), 4);
  assert.deepEqual(rows.map((r) => r.state), ['UNKNOWN_0', ...Object.values(MIB_TCP_STATES)]);
  assert.deepEqual(rows[5]?.remote, { ip: '198.51.100.7', port: 1883 });
  assert.equal(rows[5]?.pid, 105);
});

test('ports are big-endian in the low bytes of their DWORD; the upper half is ignored', () => {
  const row = tcp4Row(5, ['10.0.0.5', 0xc350], ['198.51.100.7', 8883], 7);
  row.writeUInt16LE(0xffff, 10); // junk in the unused half of dwLocalPort
  assert.equal(parseTcpTable(table([row]), 4)[0]?.local.port, 0xc350);
});

test('IPv6 rows: RFC 5952 addresses, IPv4-mapped written as IPv4, scope ids kept', () => {
  const rows = parseTcpTable(table([
    tcp6Row('20010db8000000000000000000000015', 0, 49720, '20010db8007700000000000000000002', 0, 61613, 5, 8120),
    tcp6Row('00000000000000000000ffff0a00020f', 0, 49722, '00000000000000000000ffffc6336408', 0, 5223, 3, 8128),
    tcp6Row('20010db8000000000000000000000015', 12, 49723, '20010db8000000000000000000000001', 12, 5671, 5, 8130),
  ]), 6);
  assert.deepEqual(rows.map((r) => [r.local.ip, r.remote.ip, r.remote.port, r.state, r.pid]), [
    ['2001:db8::15', '2001:db8:77::2', 61613, 'ESTABLISHED', 8120],
    ['10.0.2.15', '198.51.100.8', 5223, 'SYN_SENT', 8128],
    ['2001:db8::15', '2001:db8::1', 5671, 'ESTABLISHED', 8130],
  ]);
  assert.equal(rows[2]?.remoteScope, 12);
});

test('truncated and short buffers: a TableParseError that names the table and the sizes, never a crash or a partial table', () => {
  const full = read('tcp4.bin');
  for (const cut of [0, 3, 4 + 24 * 2 + 7, full.length - 1]) {
    assert.throws(() => parseTcpTable(full.subarray(0, cut), 4), (err: Error) => {
      assert.ok(err instanceof TableParseError);
      assert.match(err.message, /^tcp4 table/);
      return true;
    }, `cut at ${cut}`);
  }
  assert.throws(() => parseTcpTable(full.subarray(0, 4 + 24 * 2 + 7), 4), /5 rows of 24 bytes announced \(124 bytes\), the buffer holds 59 bytes \(2 whole rows\)/);
  assert.throws(() => parseTcpTable(table([], 0xffffffff), 6), /tcp6 table truncated: 4294967295 rows/);
  assert.throws(() => parseUdpTable(Buffer.alloc(2), 4), /udp4 table: 2 bytes, too short/);
});

test('a buffer larger than the rows it announces (the call returns the size used) decodes the announced rows only', () => {
  const buf = Buffer.concat([table([tcp4Row(5, ['10.0.0.5', 1], ['198.51.100.7', 5222], 9)]), Buffer.alloc(100, 0xa5)]);
  assert.equal(parseTcpTable(buf, 4).length, 1);
});
