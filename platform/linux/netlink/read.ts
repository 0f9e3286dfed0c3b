/**
 * sock_diag I/O through koffi and libc: socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG),
 * sendto() of a dump request, recv() until NLMSG_DONE. Requests and replies are built and parsed by
 * message.ts and parse.ts; this file only makes the calls. koffi is loaded on first use (Linux only).
 *
 * Other network namespaces: a netlink socket answers for the namespace it was created in. To open
 * one in another namespace the calling thread joins it with setns(2), creates the socket and joins
 * its own namespace again - all in one synchronous call, so no other JavaScript (and no libuv work,
 * which runs on other threads) ever runs in the foreign namespace. The socket keeps answering for
 * its namespace after the thread has left. If the way back fails the process cannot trust its own
 * sockets any more, so that throws NetlinkFatalError and the caller must exit.
 */
import fs from 'node:fs';
import type { Transport } from '../../../src/core/types';
import type { ProcNetRow } from '../procfs/parse';
import { AF_INET, AF_INET6, destinationPortFilter, dumpRequest, IPPROTO_TCP, IPPROTO_UDP, NETLINK_SOCK_DIAG, STATES_CONNECTIONS, TCP_LISTEN } from './message';
import { parseDiagReply } from './parse';
import { libc } from '../libc';

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;
const EINVAL = 22;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  errno(): number;
}

let bound: Libc | null = null;

function load(): Libc {
  if (bound) return bound;
  const c = libc();
  bound = {
    socket: c.bind('int socket(int, int, int)'),
    sendto: c.bind('long sendto(int, const void *, size_t, int, const void *, uint32_t)'),
    recv: c.bind('long recv(int, _Out_ void *, size_t, int)'),
    close: c.bind('int close(int)'),
    setns: c.bind('int setns(int, int)'),
    errno: c.errno,
  };
  return bound;
}

export class NetlinkError extends Error {
  constructor(message: string, readonly errno: number) {
    super(message);
    this.name = 'NetlinkError';
  }
}

/** The thread could not return to its own network namespace: the process must stop. */
export class NetlinkFatalError extends Error {
  override name = 'NetlinkFatalError';
}

export interface NetlinkTables {
  rows: ProcNetRow[];
  listening: Set<number>;
  /** Sockets the kernel returned (after its filter). */
  total: number;
  problems: string[];
  /** The kernel refused the port filter (EINVAL on an old kernel): the dump ran unfiltered. */
  unfiltered: boolean;
}

/** A netlink socket in this thread's namespace, or in the namespace `nsPath` (a /proc/<pid>/ns/net) names. */
export function openDiagSocket(ns?: { path: string; inode: number }): number {
  const c = load();
  if (!ns) {
    const fd = c.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) throw new NetlinkError(`socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed: errno ${c.errno()}`, c.errno());
    return fd;
  }
  const target = fs.openSync(ns.path, fs.constants.O_RDONLY);
  const home = fs.openSync('/proc/thread-self/ns/net', fs.constants.O_RDONLY);
  try {
    // The pid may have exited and its number been reused since the namespace was listed: the
    // namespace file must still be the one we listed (its inode is the namespace id).
    if (fs.fstatSync(target).ino !== ns.inode) throw new NetlinkError(`${ns.path} is no longer namespace ${ns.inode} (the process exited)`, 0);
    if (c.setns(target, CLONE_NEWNET) !== 0) {
      const e = c.errno();
      throw new NetlinkError(`setns(${ns.path}) failed: errno ${e}${e === 1 ? ' (EPERM: needs CAP_SYS_ADMIN, and the service sandbox RestrictNamespaces= forbids it)' : ''}`, e);
    }
    const fd = c.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    const socketErrno = c.errno();
    if (c.setns(home, CLONE_NEWNET) !== 0) throw new NetlinkFatalError(`could not return to the agent's own network namespace after reading ${ns.path} (errno ${c.errno()})`);
    if (fd < 0) throw new NetlinkError(`socket(AF_NETLINK) in ${ns.path} failed: errno ${socketErrno}`, socketErrno);
    return fd;
  } finally {
    fs.closeSync(target);
    fs.closeSync(home);
  }
}

export function closeDiagSocket(fd: number): void {
  load().close(fd);
}

let seq = 1;
const KERNEL = Buffer.from([AF_NETLINK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // struct sockaddr_nl, pid 0: the kernel
const RECV_BUF = Buffer.alloc(64 * 1024);

/** One dump on `fd`; returns the decoded rows, or throws NetlinkError (errno) when the kernel answers with an error. */
function dump(fd: number, family: number, protocol: number, transport: Transport, states: number, filter: Buffer | undefined, out: NetlinkTables): void {
  const c = load();
  const s = seq++;
  const req = dumpRequest({ family: family as typeof AF_INET, protocol: protocol as typeof IPPROTO_TCP, states, ...(filter ? { filter } : {}), seq: s });
  if (c.sendto(fd, req, req.length, 0, KERNEL, KERNEL.length) < 0) throw new NetlinkError(`sendto(netlink) failed: errno ${c.errno()}`, c.errno());
  for (;;) {
    const n = c.recv(fd, RECV_BUF, RECV_BUF.length, 0);
    if (n < 0) throw new NetlinkError(`recv(netlink) failed: errno ${c.errno()}`, c.errno());
    if (n === 0) throw new NetlinkError('netlink socket closed mid-dump', 0);
    const chunk = parseDiagReply(RECV_BUF.subarray(0, n), transport, s);
    if (chunk.error !== undefined && chunk.error !== 0) throw new NetlinkError(`sock_diag dump answered errno ${-chunk.error}`, -chunk.error);
    out.rows.push(...chunk.rows);
    out.total += chunk.rows.length;
    for (const p of chunk.listening) out.listening.add(p);
    out.problems.push(...chunk.problems);
    if (chunk.done) return;
  }
}

/**
 * TCP and UDP sockets (IPv4 and IPv6) of fd's namespace whose destination port is in `ports`
 * (all when `ports` is undefined), plus the local ports of listening TCP sockets.
 */
export function readDiagTables(fd: number, ports: Buffer | undefined): NetlinkTables {
  const out: NetlinkTables = { rows: [], listening: new Set(), total: 0, problems: [], unfiltered: false };
  let filter = ports;
  for (const [protocol, transport] of [[IPPROTO_TCP, 'tcp'], [IPPROTO_UDP, 'udp']] as const) {
    for (const family of [AF_INET, AF_INET6]) {
      try {
        dump(fd, family, protocol, transport, STATES_CONNECTIONS, filter, out);
      } catch (err) {
        if (!(err instanceof NetlinkError) || err.errno !== EINVAL || !filter) throw err;
        // An old kernel without D_EQ: dump everything and let the caller's port check filter.
        filter = undefined;
        out.unfiltered = true;
        dump(fd, family, protocol, transport, STATES_CONNECTIONS, undefined, out);
      }
    }
  }
  // Listening TCP ports: a socket on one of them was accepted (inbound), as in the /proc/net reader.
  for (const family of [AF_INET, AF_INET6]) {
    const listen: NetlinkTables = { rows: [], listening: out.listening, total: 0, problems: out.problems, unfiltered: false };
    dump(fd, family, IPPROTO_TCP, 'tcp', 1 << TCP_LISTEN, undefined, listen);
  }
  return out;
}

/**
 * One namespace's tables through netlink: null = this thread's own namespace, else the namespace
 * that `ns.path` (/proc/<pid>/ns/net) refers to, checked against its inode. Opens and closes its
 * socket; the port filter is built from `ports` (no filter when undefined or empty).
 */
export function readNamespaceTables(ns: { path: string; inode: number } | null, ports: readonly number[] | undefined): NetlinkTables {
  const fd = openDiagSocket(ns ?? undefined);
  try {
    return readDiagTables(fd, ports && ports.length > 0 ? destinationPortFilter(ports) : undefined);
  } finally {
    closeDiagSocket(fd);
  }
}
