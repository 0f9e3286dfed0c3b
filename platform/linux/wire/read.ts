/**
 * Wire capture I/O: which libssl and libc files to probe. Uprobes attach to a file (its inode), so
 * every process mapping that file is covered; the files come from the usual library folders and
 * from the memory maps of the processes running now (a Python or Node build with its own libssl).
 * A library that only appears later (a new copy) is not probed until the next start - such a
 * connection says 'none, TLS plaintext not seen'. Paths are realpath'd, must be regular files
 * owned by root and not writable by others (the agent runs as root and attaches code to them).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { libsslPathsIn } from './event';
import { safeLibraryPath } from './program';

export interface LibraryDeps {
  readdir(p: string): Promise<string[]>;
  readFile(p: string): Promise<Buffer>;
  realpath(p: string): Promise<string>;
  stat(p: string): Promise<{ isFile(): boolean; uid: number; mode: number }>;
}

export const realLibraryDeps: LibraryDeps = {
  readdir: (p) => fsp.readdir(p),
  readFile: (p) => fsp.readFile(p),
  realpath: (p) => fsp.realpath(p),
  stat: (p) => fsp.stat(p),
};

export const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib'];

async function trusted(p: string, deps: LibraryDeps): Promise<string | null> {
  try {
    const real = await deps.realpath(p);
    const st = await deps.stat(real);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0 || !safeLibraryPath(real)) return null;
    return real;
  } catch {
    return null;
  }
}

async function fromDirs(re: RegExp, dirs: readonly string[], deps: LibraryDeps): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    const names = await deps.readdir(dir).catch(() => [] as string[]);
    for (const n of names) if (re.test(n)) found.push(path.join(dir, n));
  }
  return found;
}

/** libssl files to probe: the library folders plus what running processes map (bounded walk). */
export async function findLibssl(deps: LibraryDeps, procRoot = '/proc', dirs = LIBRARY_DIRS, maxPids = 4096): Promise<string[]> {
  const candidates = await fromDirs(/^libssl\.so\.\d[.\d]*$/, dirs, deps);
  const pids = (await deps.readdir(procRoot).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).slice(0, maxPids);
  for (const pid of pids) {
    const maps = await deps.readFile(path.join(procRoot, pid, 'maps')).catch(() => null);
    if (maps) candidates.push(...libsslPathsIn(maps.toString('latin1')));
  }
  const out = new Set<string>();
  for (const c of candidates) {
    const real = await trusted(c, deps);
    if (real) out.add(real);
  }
  return [...out].sort();
}

/** The C library for getaddrinfo. */
export async function findLibc(deps: LibraryDeps, dirs = LIBRARY_DIRS): Promise<string | null> {
  for (const c of await fromDirs(/^libc\.so\.6$/, dirs, deps)) {
    const real = await trusted(c, deps);
    if (real) return real;
  }
  return null;
}

/** Does pid map a TLS library now? undefined when its maps cannot be read (it exited). */
export async function mapsOf(pid: number, deps: Pick<LibraryDeps, 'readFile'>, procRoot = '/proc'): Promise<string | undefined> {
  try {
    return (await deps.readFile(path.join(procRoot, String(pid), 'maps'))).toString('latin1');
  } catch {
    return undefined;
  }
}
