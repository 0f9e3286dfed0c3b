/**
 * Pure helpers that turn the executable identity taken at the connect (device, inode and the
 * dentry names up to its filesystem's root) into a path, with the mount table of the process.
 * The kernel's names are facts; which mount point they hang under comes from mountinfo, so every
 * candidate path is checked by the caller (stat: same device and inode) before it is trusted.
 */
import path from 'node:path';

export interface MountEntry {
  major: number;
  minor: number;
  /** The folder of the filesystem that is mounted (field 4: "/" unless a bind mount of a subfolder). */
  root: string;
  mountPoint: string;
}

/** Device numbers from the kernel's internal dev_t (s_dev: major << 20 | minor). */
export function kernelDev(dev: number): { major: number; minor: number } {
  return { major: Math.floor(dev / 2 ** 20), minor: dev % 2 ** 20 };
}

/** Device numbers from a stat() st_dev (glibc/new_encode_dev encoding). */
export function userDev(dev: number): { major: number; minor: number } {
  const d = BigInt(dev);
  return { major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn)), minor: Number((d & 0xffn) | ((d >> 12n) & ~0xffn & 0xffffffffn)) };
}

/** Does a stat() result describe the file the kernel reported (device and inode)? */
export function sameFile(st: { dev: number; ino: number }, exeDev: number, exeIno: number): boolean {
  const a = userDev(st.dev);
  const b = kernelDev(exeDev);
  return st.ino === exeIno && a.major === b.major && a.minor === b.minor;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** /proc/<pid>/mountinfo: "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw". Bad lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dev = /^(\d+):(\d+)$/.exec(f[2] ?? '');
    if (!dev || f[3] === undefined || f[4] === undefined || !f[3].startsWith('/') || !f[4].startsWith('/')) continue;
    out.push({ major: Number(dev[1]), minor: Number(dev[2]), root: unescape(f[3]), mountPoint: unescape(f[4]) });
  }
  return out;
}

/** The path inside its filesystem from the leaf-first dentry names ("/" joined, root first). */
export function fsPath(namesLeafFirst: readonly string[]): string {
  return `/${[...namesLeafFirst].reverse().join('/')}`;
}

/**
 * Paths under which the file at `inside` (its path inside the filesystem on device `exeDev`) is
 * visible in this mount table, the later (more recent, so on top) mounts first. Each one must
 * still be checked with stat; an empty list means no mount of that device shows the file.
 */
export function candidatePaths(inside: string, exeDev: number, mounts: readonly MountEntry[]): string[] {
  const { major, minor } = kernelDev(exeDev);
  const out: string[] = [];
  for (const m of [...mounts].reverse()) {
    if (m.major !== major || m.minor !== minor) continue;
    const root = m.root === '/' ? '' : m.root.replace(/\/+$/, '');
    if (root !== '' && inside !== root && !inside.startsWith(`${root}/`)) continue;
    const p = path.posix.join(m.mountPoint, inside.slice(root.length) || '/');
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
