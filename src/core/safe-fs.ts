/**
 * How the agent (root) creates and opens files without being steered by other users (systemd's
 * tmpfiles, OpenSSH's safe_path): every folder on the way must be ours or root's and closed to
 * others unless sticky, a symbolic link on the way must be ours or root's, files are opened with
 * O_NOFOLLOW (new ones with O_EXCL), checked with fstat after opening (a regular file, ours or
 * root's, one link), and whole-file writes go to a random temp name beside the target, then rename.
 * This does not depend on fs.protected_symlinks: many hosts have it, the agent must not need it.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

// fs/promises and crypto load on first use: every command imports this file, few need them.
const fsp = () => require('node:fs/promises') as typeof import('node:fs/promises');
const randomBytes = (n: number) => (require('node:crypto') as typeof import('node:crypto')).randomBytes(n);

/** A path the agent refuses to write through; the message names the path and why. */
export class UnsafePathError extends Error {
  constructor(readonly path: string, why: string, readonly code?: string) {
    super(`refusing to use ${path}: ${why}`);
    this.name = 'UnsafePathError';
  }
}

const C = fs.constants;
/** 0 where the platform has no such flag (Windows): the owner checks below are POSIX-only too. */
const NOFOLLOW = C.O_NOFOLLOW ?? 0;
const NONBLOCK = C.O_NONBLOCK ?? 0;
export const FLAGS = {
  append: C.O_WRONLY | C.O_APPEND | C.O_CREAT | NOFOLLOW | NONBLOCK,
  appendRead: C.O_RDWR | C.O_APPEND | C.O_CREAT | NOFOLLOW | NONBLOCK,
  createExclusive: C.O_WRONLY | C.O_CREAT | C.O_EXCL | NOFOLLOW,
  createExclusiveAppend: C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_EXCL | NOFOLLOW,
  /** O_NONBLOCK: a FIFO planted where a file should be cannot hang the open. */
  readExisting: C.O_RDONLY | NOFOLLOW | NONBLOCK,
  lock: C.O_RDWR | C.O_CREAT | NOFOLLOW | NONBLOCK,
};

const posix = typeof process.getuid === 'function';
const myUid = (): number => (posix ? (process.getuid as () => number)() : 0);
const trusted = (uid: number): boolean => uid === 0 || uid === myUid();
const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** Why a folder may not be written through, or null when it may. */
function folderProblem(st: fs.Stats): string | null {
  if (!st.isDirectory()) return 'it is not a directory';
  if (!trusted(st.uid)) return `it is owned by uid ${st.uid}, not by root or the agent's uid ${myUid()}: that user could plant links in it`;
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o002) !== 0 && !sticky) return `it is writable by everyone without the sticky bit (mode ${octal(st.mode)}): anyone could replace files in it`;
  return null;
}

/**
 * Checks `dir` and every folder above it, and every symbolic link on the way. Throws
 * UnsafePathError naming the first offending folder. A no-op on Windows (no owner model here).
 */
export function checkFolder(dir: string, purpose: string): void {
  if (!posix) return;
  const abs = path.resolve(dir);
  // Symbolic links on the way: another user's link is refused (protected_symlinks in user space).
  let cur = path.parse(abs).root;
  for (const part of abs.slice(cur.length).split(path.sep).filter(Boolean)) {
    cur = path.join(cur, part);
    const st = lstat(cur, purpose);
    if (st.isSymbolicLink() && !trusted(st.uid)) throw new UnsafePathError(cur, `it is a symbolic link owned by uid ${st.uid} (for ${purpose})`);
  }
  // Then every real folder from / down: a folder another user can change could swap what is below it.
  const real = fs.realpathSync(abs);
  let at = path.parse(real).root;
  const chain = [at, ...real.slice(at.length).split(path.sep).filter(Boolean).map((p) => (at = path.join(at, p)))];
  for (const folder of chain) {
    const why = folderProblem(lstat(folder, purpose));
    if (why) throw new UnsafePathError(folder === abs || folder === real ? dir : `${folder} (above ${dir})`, `${why} (for ${purpose})`);
  }
}

function lstat(p: string, purpose: string): fs.Stats {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    throw new UnsafePathError(p, `cannot check it (for ${purpose}): ${(err as Error).message}`, (err as NodeJS.ErrnoException).code);
  }
}

/** Creates `dir` (and missing parents) with `mode` when missing, then checks the chain. */
export function ensureFolder(dir: string, mode: number, purpose: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode });
  } catch (err) {
    throw new UnsafePathError(dir, `cannot create the folder (for ${purpose}): ${(err as Error).message}`, (err as NodeJS.ErrnoException).code);
  }
  checkFolder(dir, purpose);
}

/** Why an opened file must not be used, or null: a regular file, ours or root's, not hard-linked elsewhere. */
export function openedFileProblem(st: fs.Stats): string | null {
  if (!st.isFile()) return 'it is not a regular file';
  if (posix && !trusted(st.uid)) return `it is owned by uid ${st.uid}, not by root or the agent's uid ${myUid()}`;
  if (posix && st.nlink > 1) return `it has ${st.nlink} hard links (another name could be a file the agent must not write)`;
  return null;
}

/** Whether `file` is a symbolic link itself (never followed); false when it does not exist. */
export function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function openError(file: string, err: unknown, purpose: string): UnsafePathError {
  const e = err as NodeJS.ErrnoException;
  // With fs.protected_symlinks=1 the kernel answers EACCES before O_NOFOLLOW's ELOOP: say what it is.
  if (e.code === 'ELOOP' || e.code === 'EMLINK' || (e.code === 'EACCES' && isLink(file))) return new UnsafePathError(file, `it is a symbolic link (for ${purpose}); the agent does not follow links it did not make`, e.code);
  if (e.code === 'EEXIST') return new UnsafePathError(file, `it already exists (for ${purpose}); the agent only creates new files there`, e.code);
  return new UnsafePathError(file, `cannot open it (for ${purpose}): ${e.message}`, e.code);
}

/** Opens with `flags` (from FLAGS) and checks the result with fstat; synchronous, returns the fd. */
export function openSafeSync(file: string, flags: number, mode: number, purpose: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, flags, mode);
  } catch (err) {
    throw openError(file, err, purpose);
  }
  const why = openedFileProblem(fs.fstatSync(fd));
  if (why) {
    fs.closeSync(fd);
    throw new UnsafePathError(file, `${why} (for ${purpose})`);
  }
  return fd;
}

/** The same, asynchronous, as a FileHandle. */
export async function openSafe(file: string, flags: number, mode: number, purpose: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await fsp().open(file, flags, mode);
  } catch (err) {
    throw openError(file, err, purpose);
  }
  const why = openedFileProblem(await fh.stat());
  if (why) {
    await fh.close();
    throw new UnsafePathError(file, `${why} (for ${purpose})`);
  }
  return fh;
}

/** A random, unguessable temp name beside `file` (same folder, so rename is atomic). */
export function tempNameBeside(file: string): string {
  return path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
}

function renameError(tmp: string, file: string, err: unknown, purpose: string): UnsafePathError {
  fs.rmSync(tmp, { force: true });
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'EPERM' || e.code === 'EACCES'
    ? `cannot replace it (for ${purpose}): it belongs to another user in a sticky folder, or the folder is read-only (${e.code})`
    : `cannot replace it (for ${purpose}): ${e.message}`;
  return new UnsafePathError(file, why, e.code);
}

/**
 * Writes a file whole or not at all: checks the folder, writes a new random temp file beside it
 * (O_EXCL|O_NOFOLLOW) and renames it over. A link at `file` is replaced, never followed.
 */
export function writeFileAtomicSync(file: string, data: string | Buffer, mode: number, purpose: string): void {
  checkFolder(path.dirname(path.resolve(file)), purpose);
  const tmp = tempNameBeside(file);
  const fd = openSafeSync(tmp, FLAGS.createExclusive, mode, purpose);
  try {
    if (posix) fs.fchmodSync(fd, mode); // exactly `mode`, whatever the umask
    fs.writeFileSync(fd, data);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    throw renameError(tmp, file, err, purpose);
  }
}

/** The same, asynchronous; `durable` fsyncs the data before the rename. The folder is checked by the caller. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode: number, purpose: string, durable = false): Promise<void> {
  const tmp = tempNameBeside(file);
  const fh = await openSafe(tmp, FLAGS.createExclusive, mode, purpose);
  try {
    await fh.writeFile(data);
    if (durable) await fh.datasync();
  } catch (err) {
    await fh.close();
    await fsp().rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fsp().rename(tmp, file);
  } catch (err) {
    throw renameError(tmp, file, err, purpose);
  }
}
