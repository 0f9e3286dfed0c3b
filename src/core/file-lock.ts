/**
 * An OS file lock (flock(2), exclusive, non-blocking) held for as long as the process keeps the file
 * open: the kernel drops it when the process exits or crashes, so no stale lock survives a crash or
 * a reboot and a reused pid can never look like the owner (unlike a pid in a file). Called through
 * koffi (Node has no flock). The lock file is opened the safe way (no-follow, regular file, ours).
 * Windows has no flock: there the lock is not taken and lockFile() says so (see `held`).
 */
import fs from 'node:fs';
import koffi from 'koffi';
import { FLAGS, openSafeSync } from './safe-fs';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** EWOULDBLOCK: 11 on Linux, 35 on macOS. */
const BUSY = new Set([11, 35]);
const LIBC: Partial<Record<NodeJS.Platform, string>> = { linux: 'libc.so.6', darwin: 'libSystem.B.dylib' };

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | null | undefined;

function flock(): FlockFn | null {
  if (flockFn !== undefined) return flockFn;
  const lib = LIBC[process.platform];
  flockFn = lib ? (koffi.load(lib).func('int flock(int fd, int op)') as unknown as FlockFn) : null;
  return flockFn;
}

/** The lock is held by another process (another agent on the same folder). */
export class LockBusyError extends Error {
  constructor(readonly file: string, what: string) {
    super(`${what} is in use by another process: it holds the lock on ${file} (one agent per folder; the lock goes away by itself when that process ends)`);
    this.name = 'LockBusyError';
  }
}

export interface HeldLock {
  /** False where the platform has no flock (Windows): nothing is locked. */
  readonly held: boolean;
  release(): void;
}

/** Takes an exclusive lock on `file` (created 0600 when missing); throws LockBusyError when another process holds it. */
export function lockFile(file: string, what: string): HeldLock {
  const fn = flock();
  if (!fn) return { held: false, release: () => undefined };
  const fd = openSafeSync(file, FLAGS.lock, 0o600, `the lock of ${what}`);
  if (fn(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = koffi.errno();
    fs.closeSync(fd);
    if (BUSY.has(errno)) throw new LockBusyError(file, what);
    throw new Error(`cannot lock ${file} (for ${what}): flock failed with errno ${errno}`);
  }
  let open = true;
  return {
    held: true,
    release: () => {
      if (!open) return;
      open = false;
      fn(fd, LOCK_UN);
      fs.closeSync(fd);
    },
  };
}
