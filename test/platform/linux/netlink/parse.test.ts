import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  destinationPortFilter, dumpRequest, INET_DIAG_BC_D_EQ, INET_DIAG_BC_JMP, IPPROTO_TCP, AF_INET6, NLMSG_ERROR, SOCK_DIAG_BY_FAMILY, STATES_CONNECTIONS,
} from '../../../../platform/linux/netlink/message';
import { parseDiagReply } from '../../../../platform/linux/netlink/parse';

const FIXTURE = path.join(__dirname, '..', '..', '..', 'fixtures', 'linux', 'netlink', 'tcp-dump');

/**
 * The kernel's audit (inet_diag_bc_audit) and run (inet_diag_bc_run) of a bytecode, for the ops
 * the filter uses, written from net/ipv4/inet_diag.c: a jump must land on an op boundary, at the
 * end (accept) or 4 bytes past it (reject); D_EQ takes a second op holding the port.
 */
function audit(bc: Buffer): void {
  const starts = new Set<number>();
  for (let off = 0; off < bc.length;) {
    starts.add(off);
    const code = bc[off] as number;
    off += code === INET_DIAG_BC_D_EQ ? 8 : 4;
  }
  for (let off = 0; off < bc.length;) {
    const code = bc[off] as number;
    const yes = bc[off + 1] as number;
    const no = bc.readUInt16LE(off + 2);
    const len = bc.length - off;
    assert.ok(code === INET_DIAG_BC_D_EQ || code === INET_DIAG_BC_JMP, `op code ${code}`);
    const minLen = code === INET_DIAG_BC_D_EQ ? 8 : 4;
    for (const j of code === INET_DIAG_BC_JMP ? [no] : [yes, no]) {
      assert.ok(j >= minLen && j <= len + 4 && j % 4 === 0, `jump ${j} at ${off} is out of range (EINVAL)`);
      assert.ok(j >= len || starts.has(off + j), `jump ${j} at ${off} lands inside an op (EINVAL)`);
    }
    off += minLen;
  }
}

function accepts(bc: Buffer, dport: number): boolean {
  let off = 0;
  while (off < bc.length) {
    const code = bc[off] as number;
    const yes = bc[off + 1] as number;
    const no = bc.readUInt16LE(off + 2);
    const match = code === INET_DIAG_BC_D_EQ ? bc.readUInt16LE(off + 6) === dport : false; // JMP: always "no"
    off += match ? yes : no;
  }
  return off === bc.length;
}

describe('sock_diag requests', () => {
  it('builds the port filter as ss does: D_EQ yes=8 no=12, JMP between, the kernel audit passes', () => {
    const bc = destinationPortFilter([1883, 5222, 1883]);
    assert.equal(bc.toString('hex'), [
      '0c080c00', '00005b07', // D_EQ 1883, yes 8, no 12
      '01040c00', // JMP yes=4, no=12: from byte 8 exactly to the end (accept)
      '0c080c00', '00006614', // D_EQ 5222; no=12 lands 4 bytes past the end: reject
    ].join(''));
    audit(bc);
    assert.equal(accepts(bc, 1883), true);
    assert.equal(accepts(bc, 5222), true);
    assert.equal(accepts(bc, 8883), false);
    const many = destinationPortFilter([1883, 8883, 5222, 5223, 5269, 5672, 5671, 61613, 61614]);
    audit(many);
    for (const p of [1883, 8883, 5222, 5223, 5269, 5672, 5671, 61613, 61614]) assert.equal(accepts(many, p), true, `port ${p}`);
    for (const p of [1, 22, 443, 1884, 65535]) assert.equal(accepts(many, p), false, `port ${p}`);
    audit(destinationPortFilter([443]));
    assert.throws(() => destinationPortFilter([]), /at least one port/);
  });

  it('lays out nlmsghdr, inet_diag_req_v2 and the bytecode attribute', () => {
    const filter = destinationPortFilter([1883]);
    const b = dumpRequest({ family: AF_INET6, protocol: IPPROTO_TCP, states: STATES_CONNECTIONS, filter, seq: 7 });
    assert.equal(b.length, 16 + 56 + 4 + 8);
    assert.equal(b.readUInt32LE(0), b.length);
    assert.equal(b.readUInt16LE(4), SOCK_DIAG_BY_FAMILY);
    assert.equal(b.readUInt16LE(6), 0x301, 'NLM_F_REQUEST | NLM_F_DUMP');
    assert.equal(b.readUInt32LE(8), 7);
    assert.equal(b[16], AF_INET6);
    assert.equal(b[17], IPPROTO_TCP);
    assert.equal(b.readUInt32LE(20) & (1 << 10), 0, 'LISTEN is not asked for');
    assert.equal(b.readUInt32LE(20) & 1 << 1, 2, 'ESTABLISHED is');
    assert.equal(b.readUInt16LE(72), 12, 'nlattr length');
    assert.equal(b.readUInt16LE(74), 1, 'INET_DIAG_REQ_BYTECODE');
    assert.ok(b.subarray(76).equals(filter));
  });
});

describe('sock_diag replies', () => {
  const reply = fs.readFileSync(path.join(FIXTURE, 'reply.bin'));

  it('decodes the kernel\'s messages as ss received them (IPv4 and IPv6, attributes skipped)', () => {
    const r = parseDiagReply(reply, 'tcp');
    assert.deepEqual(r.problems, []);
    assert.equal(r.done, true);
    assert.equal(r.error, undefined);
    assert.deepEqual(r.rows.map((x) => `${x.family} ${x.local.ip}:${x.local.port} -> ${x.remote.ip}:${x.remote.port} ${x.state} inode ${x.inode} uid ${x.uid}`), [
      '4 127.0.0.1:50830 -> 127.0.0.1:34041 ESTABLISHED inode 738475 uid 0',
      '4 127.0.0.1:34041 -> 127.0.0.1:50830 ESTABLISHED inode 738476 uid 0',
      '6 ::1:36111 -> ::1:33452 ESTABLISHED inode 738478 uid 0',
      '6 ::1:33452 -> ::1:36111 ESTABLISHED inode 738477 uid 0',
    ]);
    const ss = fs.readFileSync(path.join(FIXTURE, 'ss-tnei.txt'), 'utf8');
    assert.match(ss, /127\.0\.0\.1:50830\s+127\.0\.0\.1:34041 ino:738475/);
    assert.match(ss, /\[::1\]:33452\s+\[::1\]:36111 ino:738477/);
  });

  it('says what is wrong with a cut reply and keeps the whole messages before the cut', () => {
    const first = reply.readUInt32LE(0);
    const r = parseDiagReply(reply.subarray(0, first + 20), 'tcp');
    assert.equal(r.rows.length, 1);
    assert.equal(r.done, false);
    assert.match(r.problems[0] ?? '', /truncated netlink message at byte \d+/);
  });

  it('reports NLMSG_ERROR with its errno (EINVAL for a refused filter) and skips other sequences', () => {
    const err = Buffer.alloc(36);
    err.writeUInt32LE(36, 0);
    err.writeUInt16LE(NLMSG_ERROR, 4);
    err.writeUInt32LE(9, 8);
    err.writeInt32LE(-22, 16);
    assert.equal(parseDiagReply(err, 'tcp', 9).error, -22);
    const other = parseDiagReply(err, 'tcp', 10);
    assert.equal(other.error, undefined);
    assert.match(other.problems[0] ?? '', /sequence 9, expected 10/);
  });
});
