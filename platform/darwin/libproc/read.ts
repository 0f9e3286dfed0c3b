/**
 * libproc I/O through koffi (macOS only): the calls, and nothing else - every byte they return is
 * decoded by parse.ts. This module and koffi are loaded on macOS only: platform/index.ts imports it
 * dynamically there, and loadLibproc() refuses any other platform before touching koffi.
 *
 * Verified on byte fixtures only (test/fixtures/darwin/libproc): no Mac has run this file yet.
 */
import type { ProcessFacts } from '../../unix/lsof/read';
import {
  type FdEntry, parseFdList, parsePidList, parsePidPath, parseSocketFdInfo, PROC_PIDFDSOCKETINFO, PROC_PIDFDSOCKETINFO_SIZE,
  PROC_PIDLISTFD_SIZE, PROC_PIDLISTFDS, PROC_PIDPATHINFO_MAXSIZE, type SocketDecode,
} from './parse';

/** libproc's functions live in libSystem (dlopen finds it in the dyld shared cache). */
const LIBSYSTEM = '/usr/lib/libSystem.B.dylib';

export interface Libproc {
  /** Every pid on the system (proc_listallpids). */
  listAllPids(): number[];
  /** The executable's path as the kernel knows it (proc_pidpath); null when the process is gone or not permitted. */
  pidPath(pid: number): string | null;
  /** The process's descriptors (proc_pidinfo PROC_PIDLISTFDS); null when gone or not permitted. */
  listFds(pid: number): FdEntry[] | null;
  /** One socket descriptor (proc_pidfdinfo PROC_PIDFDSOCKETINFO). */
  socketInfo(pid: number, fd: number): SocketDecode;
}

type Fn = (...args: unknown[]) => number;

/** Loads libSystem through koffi and declares the four calls. Throws on any platform but macOS. */
export async function loadLibproc(platform: NodeJS.Platform = process.platform): Promise<Libproc> {
  if (platform !== 'darwin') throw new Error(`libproc exists on macOS only, not on ${platform}`);
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load(LIBSYSTEM);
  const listAllPids = lib.func('int proc_listallpids(void *buffer, int buffersize)') as unknown as Fn;
  const pidPath = lib.func('int proc_pidpath(int pid, void *buffer, uint32_t buffersize)') as unknown as Fn;
  const pidInfo = lib.func('int proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer, int buffersize)') as unknown as Fn;
  const pidFdInfo = lib.func('int proc_pidfdinfo(int pid, int fd, int flavor, void *buffer, int buffersize)') as unknown as Fn;

  return {
    listAllPids() {
      // The count returned is in pids; grow the buffer until it is not full (new processes appear meanwhile).
      for (let slots = 2048; slots <= 1 << 22; slots *= 2) {
        const buf = Buffer.alloc(slots * 4);
        const n = listAllPids(buf, buf.length);
        if (n < 0) throw new Error('proc_listallpids failed');
        if (n < slots) return parsePidList(buf, n * 4);
      }
      throw new Error('proc_listallpids: more than 4 million processes');
    },
    pidPath(pid) {
      const buf = Buffer.alloc(PROC_PIDPATHINFO_MAXSIZE);
      const n = pidPath(pid, buf, buf.length);
      return n > 0 ? parsePidPath(buf, n) : null;
    },
    listFds(pid) {
      for (let slots = 256; slots <= 1 << 20; slots *= 4) {
        const buf = Buffer.alloc(slots * PROC_PIDLISTFD_SIZE);
        const n = pidInfo(pid, PROC_PIDLISTFDS, 0, buf, buf.length);
        if (n <= 0) return null;
        if (n < buf.length) return parseFdList(buf, n);
      }
      return null;
    },
    socketInfo(pid, fd) {
      const buf = Buffer.alloc(PROC_PIDFDSOCKETINFO_SIZE);
      const n = pidFdInfo(pid, fd, PROC_PIDFDSOCKETINFO, buf, buf.length);
      return n <= 0 ? { error: 'proc_pidfdinfo failed (descriptor closed, or not permitted)' } : parseSocketFdInfo(buf, n);
    },
  };
}

/**
 * The lsof adapter's kernel supplement on macOS: the executable path from proc_pidpath (ps shows
 * only argv[0], which a process chooses). Loads libproc on first use; if that fails, every call
 * answers null and the adapter carries on with ps alone.
 */
export function libprocProcessFacts(): (pid: number) => Promise<ProcessFacts | null> {
  let lib: Promise<Libproc | null> | null = null;
  return async (pid) => {
    lib ??= loadLibproc().catch(() => null);
    const l = await lib;
    const exe = l?.pidPath(pid) ?? null;
    return exe === null ? null : { exe };
  };
}
