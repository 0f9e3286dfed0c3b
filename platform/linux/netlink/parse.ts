/**
 * Parsing sock_diag dump replies (pure, over the bytes recv() returned): netlink messages holding
 * struct inet_diag_msg, decoded into the same rows the /proc/net text parser makes.
 */
import { canonicalIp } from '../../../src/core/ip';
import type { Transport } from '../../../src/core/types';
import { TCP_STATES, type ProcNetRow } from '../procfs/parse';
import { AF_INET, AF_INET6, NLMSG_DONE, NLMSG_ERROR } from './message';

/** struct inet_diag_msg: 4 bytes, inet_diag_sockid (48), expires, rqueue, wqueue, uid, inode. */
const DIAG_MSG_LEN = 72;

export interface DiagChunk {
  rows: ProcNetRow[];
  /** Local ports of LISTEN sockets in this chunk. */
  listening: number[];
  /** The dump is complete (NLMSG_DONE seen). */
  done: boolean;
  /** A negative errno from NLMSG_ERROR (e.g. -22 EINVAL for a filter the kernel refused). */
  error?: number;
  problems: string[];
}

function address(b: Buffer, off: number, family: number): string | null {
  if (family === AF_INET) return canonicalIp(`${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`);
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(off + i).toString(16));
  return canonicalIp(words.join(':'));
}

/** Decodes the netlink messages of one recv() buffer of a dump for `transport`. */
export function parseDiagReply(buf: Buffer, transport: Transport, seq?: number): DiagChunk {
  const out: DiagChunk = { rows: [], listening: [], done: false, problems: [] };
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    const msgSeq = buf.readUInt32LE(off + 8);
    if (len < 16 || off + len > buf.length) {
      out.problems.push(`truncated netlink message at byte ${off} (length ${len} of ${buf.length - off} left)`);
      break;
    }
    if (seq !== undefined && msgSeq !== seq) {
      out.problems.push(`netlink message with sequence ${msgSeq}, expected ${seq}: skipped`);
    } else if (type === NLMSG_DONE) {
      out.done = true;
    } else if (type === NLMSG_ERROR) {
      out.error = len >= 20 ? buf.readInt32LE(off + 16) : -1;
      out.done = true;
    } else if (len - 16 < DIAG_MSG_LEN) {
      out.problems.push(`inet_diag_msg of ${len - 16} bytes, expected at least ${DIAG_MSG_LEN}`);
    } else {
      const m = off + 16;
      const family = buf[m] as number;
      const stateCode = buf[m + 1] as number;
      if (family !== AF_INET && family !== AF_INET6) {
        out.problems.push(`unknown address family ${family}`);
      } else if (transport === 'tcp' && stateCode === 10) {
        // LISTEN: only its port is used (to tell accepted sockets); no addresses decoded, no row,
        // since every poll dumps every listener.
        out.listening.push(buf.readUInt16BE(m + 4));
      } else {
        const sport = buf.readUInt16BE(m + 4);
        const dport = buf.readUInt16BE(m + 6);
        const src = address(buf, m + 8, family);
        const dst = address(buf, m + 24, family);
        const uid = buf.readUInt32LE(m + 64);
        const inode = buf.readUInt32LE(m + 68);
        const state = TCP_STATES[stateCode];
        if (src === null || dst === null) out.problems.push('undecodable socket address');
        else if (state === undefined) out.problems.push(`unknown socket state ${stateCode}`);
        else {
          out.rows.push({ transport, family: family === AF_INET ? 4 : 6, local: { ip: src, port: sport }, remote: { ip: dst, port: dport }, state, uid, inode });
        }
      }
    }
    // Messages are aligned to 4 bytes (NLMSG_ALIGN).
    off += (len + 3) & ~3;
  }
  return out;
}
