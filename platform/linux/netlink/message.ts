/**
 * Building sock_diag requests (pure): a netlink header, an inet_diag_req_v2 and, optionally, an
 * in-kernel bytecode filter on destination ports. Layouts from linux/netlink.h, linux/sock_diag.h
 * and linux/inet_diag.h; the filter is shaped like iproute2's ss builds `dport = :A or dport = :B`.
 */

export const NETLINK_SOCK_DIAG = 4;
export const SOCK_DIAG_BY_FAMILY = 20;
export const NLM_F_REQUEST = 0x1;
/** NLM_F_ROOT | NLM_F_MATCH: a dump. */
export const NLM_F_DUMP = 0x300;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const INET_DIAG_REQ_BYTECODE = 1;
export const INET_DIAG_BC_JMP = 1;
export const INET_DIAG_BC_D_EQ = 12;
/** TCP_LISTEN in the states bit mask. */
export const TCP_LISTEN = 10;
/** Every state but LISTEN (bit 10) and NEW_SYN_RECV (12, half-open inbound). */
export const STATES_CONNECTIONS = 0xfff & ~(1 << TCP_LISTEN) & ~(1 << 12);

const NLMSG_HDRLEN = 16;
const REQ_LEN = 56;

/**
 * The bytecode that accepts a socket whose destination port is one of `ports`. Each port is a
 * D_EQ op (4 bytes) followed by its port (4 bytes), with yes=8 (matched: on to the JMP after it)
 * and no=12 (skip the port and the JMP: the next test); between two tests a JMP whose `no` lands
 * exactly on the end (accept). The last test's no=12 lands 4 bytes past the end (reject). The
 * kernel's audit (inet_diag_bc_audit) refuses any other jump targets with EINVAL.
 */
export function destinationPortFilter(ports: readonly number[]): Buffer {
  const unique = [...new Set(ports)].filter((p) => Number.isInteger(p) && p > 0 && p < 65536);
  if (unique.length === 0) throw new Error('a port filter needs at least one port');
  const len = unique.length * 8 + (unique.length - 1) * 4;
  const bc = Buffer.alloc(len);
  let off = 0;
  unique.forEach((port, i) => {
    bc.writeUInt8(INET_DIAG_BC_D_EQ, off);
    bc.writeUInt8(8, off + 1);
    bc.writeUInt16LE(12, off + 2);
    // The port rides in the `no` field of a second op (code 0, yes 0), host order as ss writes it.
    bc.writeUInt16LE(port, off + 6);
    off += 8;
    if (i < unique.length - 1) {
      bc.writeUInt8(INET_DIAG_BC_JMP, off);
      bc.writeUInt8(4, off + 1);
      bc.writeUInt16LE(len - off, off + 2);
      off += 4;
    }
  });
  return bc;
}

export interface DumpRequest {
  family: typeof AF_INET | typeof AF_INET6;
  protocol: typeof IPPROTO_TCP | typeof IPPROTO_UDP;
  /** Bit mask of TCP states (1 << state). */
  states: number;
  filter?: Buffer;
  seq: number;
}

/** One SOCK_DIAG_BY_FAMILY dump request, ready for sendto() on a NETLINK_SOCK_DIAG socket. */
export function dumpRequest(r: DumpRequest): Buffer {
  const attrLen = r.filter ? 4 + r.filter.length : 0;
  const total = NLMSG_HDRLEN + REQ_LEN + ((attrLen + 3) & ~3);
  const b = Buffer.alloc(total);
  b.writeUInt32LE(total, 0);
  b.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(r.seq, 8);
  b.writeUInt32LE(0, 12);
  const q = NLMSG_HDRLEN;
  b.writeUInt8(r.family, q);
  b.writeUInt8(r.protocol, q + 1);
  b.writeUInt8(0, q + 2); // idiag_ext: no extensions
  b.writeUInt32LE(r.states >>> 0, q + 4);
  // idiag_id (48 bytes) stays zero: a dump matches every socket, the bytecode narrows it.
  if (r.filter) {
    const a = q + REQ_LEN;
    b.writeUInt16LE(attrLen, a);
    b.writeUInt16LE(INET_DIAG_REQ_BYTECODE, a + 2);
    r.filter.copy(b, a + 4);
  }
  return b;
}
