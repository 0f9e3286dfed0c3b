/**
 * The socket inodes one process holds, from /proc/<pid>/fd, through koffi and libc: getdents64(2)
 * on the folder and readlinkat(2) relative to it, into buffers reused for every call. A busy host's
 * walk reads tens of thousands of links; this makes no JavaScript string per file descriptor or per
 * link and no path lookup of /proc/<pid>/fd per link (fs.readdirSync + fs.readlinkSync do both).
 * Loaded on first use; where koffi or a call is missing, procfs/read.ts walks with fs instead.
 */

import { libc } from '../libc';

const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const O_NOFOLLOW = 0o400000;
/** Errno values the walk tells apart (the caller maps them as it does fs's codes). */
const ERRNO_CODES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 13: 'EACCES', 20: 'ENOTDIR' };

interface Libc {
  open(path: string, flags: number): number;
  getdents64(fd: number, buf: Buffer, len: number): number;
  readlinkat(dirfd: number, name: Buffer, buf: Buffer, len: number): number;
  close(fd: number): number;
  errno(): number;
}

let bound: Libc | null | undefined;

function load(): Libc | null {
  if (bound !== undefined) return bound;
  try {
    const c = libc();
    bound = {
      open: c.bind('int open(const char *, int)'),
      getdents64: c.bind('long getdents64(int, _Out_ void *, size_t)'),
      // The name is passed as bytes straight from the getdents64 buffer (NUL-terminated there).
      readlinkat: c.bind('long readlinkat(int, const void *, _Out_ void *, size_t)'),
      close: c.bind('int close(int)'),
      errno: c.errno,
    };
  } catch {
    bound = null; // no koffi here (or no getdents64 in this libc): the caller walks with fs
  }
  return bound;
}

/** Whether the native walk can run here (koffi and the libc calls load). */
export function nativeFdWalkAvailable(): boolean {
  return load() !== null;
}

const DENTS = Buffer.alloc(64 * 1024);
/** "socket:[4294967295]" is 19 bytes; a longer link is some other file and is never a socket. */
const LINK = Buffer.alloc(64);
const PREFIX = Buffer.from('socket:[');

/** The inode of a "socket:[N]" link of `n` bytes in LINK, else null. */
function socketInodeOf(n: number): number | null {
  if (n <= PREFIX.length + 1 || n >= LINK.length || LINK[n - 1] !== 0x5d /* ] */) return null;
  for (let i = 0; i < PREFIX.length; i++) if (LINK[i] !== PREFIX[i]) return null;
  let inode = 0;
  for (let i = PREFIX.length; i < n - 1; i++) {
    const d = (LINK[i] as number) - 0x30;
    if (d < 0 || d > 9) return null;
    inode = inode * 10 + d;
  }
  return inode;
}

/** An fs-style error (code, syscall, path) for errno `e`. */
function errnoError(e: number, syscall: string, path: string): NodeJS.ErrnoException {
  const code = ERRNO_CODES[e] ?? `ERRNO_${e}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} ${path}`);
  err.code = code;
  err.errno = -e;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/**
 * The socket inodes held through the file descriptors in `fdDir` (a /proc/<pid>/fd folder), once
 * each per descriptor. Throws an fs-style error (code EACCES, ENOENT...) when the folder cannot be
 * opened or listed; a descriptor closed during the walk is skipped, as with fs.
 */
export function socketInodesIn(fdDir: string): number[] {
  const c = load();
  if (!c) throw new Error('the native fd walk is unavailable (no koffi)');
  const dir = c.open(fdDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dir < 0) throw errnoError(c.errno(), 'open', fdDir);
  const inodes: number[] = [];
  try {
    for (;;) {
      const n = c.getdents64(dir, DENTS, DENTS.length);
      if (n < 0) throw errnoError(c.errno(), 'getdents64', fdDir);
      if (n === 0) return inodes;
      // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[] (NUL-terminated).
      for (let off = 0; off < n;) {
        const reclen = DENTS.readUInt16LE(off + 16);
        if (reclen === 0) break; // never from the kernel; guards the loop
        const name = off + 19;
        if (DENTS[name] !== 0x2e /* "." and ".." */) {
          const k = c.readlinkat(dir, DENTS.subarray(name, off + reclen), LINK, LINK.length);
          if (k > 0) {
            const inode = socketInodeOf(k);
            if (inode !== null) inodes.push(inode);
          }
        }
        off += reclen;
      }
    }
  } finally {
    c.close(dir);
  }
}
